"""A weight penalty inside TimeDistributed or an RNN: give it as the weight's regularizer.

A regularizer belongs to the weight, not to the call, so it is counted once per batch however
many timesteps the loop runs. Every Keras line (with tf.keras: ``from tensorflow import
keras``; with tf-keras: ``import tf_keras as keras``).
"""

import keras


def time_distributed_model(steps):
    inputs = keras.Input(shape=(steps, 2))
    dense = keras.layers.Dense(
        1,
        use_bias=False,
        kernel_initializer="ones",
        kernel_regularizer=keras.regularizers.l2(0.5),
    )
    return keras.Model(inputs, keras.layers.TimeDistributed(dense)(inputs))


def rnn_model(steps):
    inputs = keras.Input(shape=(steps, 2))
    cell = keras.layers.SimpleRNNCell(
        1,
        activation="linear",
        use_bias=False,
        kernel_initializer="ones",
        recurrent_initializer="zeros",
        kernel_regularizer=keras.regularizers.l2(0.5),
    )
    return keras.Model(inputs, keras.layers.RNN(cell)(inputs))
