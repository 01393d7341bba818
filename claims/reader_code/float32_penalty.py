"""Keras 3 under mixed precision: cast a layer loss to float32 before ``add_loss``.

From Keras 3.8 a float16 term meets the float32 compiled loss uncast, which TensorFlow
refuses; the cast makes the step equal the float32 one on every backend.
"""

import keras


class Linear(keras.layers.Layer):
    def __init__(self, penalty, initial, **kwargs):
        super().__init__(**kwargs)
        self.penalty = penalty
        self.initial = initial

    def build(self, input_shape):
        self.w = self.add_weight(
            name="w", shape=(2, 1), initializer=keras.initializers.Constant(self.initial)
        )

    def call(self, x):
        term = self.penalty * keras.ops.sum(keras.ops.square(self.w.value))
        self.add_loss(keras.ops.cast(term, "float32"))  # float32, whatever the policy
        return keras.ops.matmul(x, self.w.value)
