"""tf.keras and tf-keras: several terms added in a loop inside call(), each counted once.

Add the tensor itself, computed in call(), not ``lambda: ...`` (with tf.keras:
``from tensorflow import keras``; with tf-keras: ``import tf_keras as keras``).
"""

import keras
import tensorflow as tf


class Terms(keras.layers.Layer):
    def call(self, x):
        for i in range(3):
            self.add_loss(float(i) * tf.reduce_mean(x))  # a tensor of this call, not a callable
        return x
