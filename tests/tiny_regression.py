"""The tiny regression that the distributed CurveWatch tests train: the
same data and model in every process, device and reference run."""

import numpy as np


def data(n_samples):
    """`n_samples` rows of 3 features and a noisy linear target (seed 0)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_samples, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 * rng.normal(
        size=(n_samples, 1))).astype("float32")
    return x, y


def build_model(keras):
    """A 3-4-1 tanh network compiled with SGD(0.05) and MSE (seed 0); build
    it inside a strategy's scope to distribute it."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="tanh"),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model
