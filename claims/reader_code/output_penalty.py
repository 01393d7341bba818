"""Keras 3: a penalty on a layer's outputs, the way Keras 3 accepts it (not model.add_loss).

Put this layer after the one whose outputs you penalise:
``outputs = OutputPenalty(rate=0.01)(Dense(1)(inputs))``.
"""

import keras


class OutputPenalty(keras.layers.Layer):
    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, x):
        # Computed in call(): added to the loss of the step that runs this forward pass.
        self.add_loss(self.rate * keras.ops.mean(keras.ops.abs(x)))
        return x
