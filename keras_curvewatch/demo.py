"""The embedded demo: the forum seed case, reproduced on generated data.

An LSTM of about 200k parameters is trained on 98 generated sensor
sequences with a batch of 4 (CPU, well under a minute), then analysed.
"""

import math

import numpy as np

# The seed case: 98 training sequences.
DEMO_N_TRAIN = 98
# validation_split=0.2 of 123 sequences leaves int(123 * 0.8) = 98 for
# training and 25 for validation, as Keras splits.
DEMO_N_TOTAL = 123
DEMO_VALIDATION_SPLIT = 0.2
DEMO_TIMESTEPS = 24
DEMO_FEATURES = 3
DEMO_CLASSES = 3
# LSTM(220) on 3 features: 4 * (220 * (3 + 220) + 220) = 197,120 weights,
# the seed's "about 200k parameters".
DEMO_UNITS = 220
# Sensor noise large enough that 98 sequences cannot pin the classes down.
DEMO_NOISE = 1.6


def make_sequences(n=DEMO_N_TOTAL, seed=0):
    """Generates noisy sensor sequences whose class sets the frequency.

    Args:
        n: int. Number of sequences. Defaults to `123`.
        seed: int. Random seed. Defaults to `0`.

    Returns:
        `(x, y)`: float32 array `(n, 24, 3)` and int labels `(n,)`.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, DEMO_CLASSES, size=n)
    t = np.linspace(0.0, 1.0, DEMO_TIMESTEPS)
    x = np.empty((n, DEMO_TIMESTEPS, DEMO_FEATURES), dtype=np.float32)
    for i in range(n):
        freq = 1.0 + y[i]
        phase = rng.uniform(0, 2 * math.pi)
        for f in range(DEMO_FEATURES):
            x[i, :, f] = np.sin(2 * math.pi * freq * t + phase + f)
    x += rng.normal(0.0, DEMO_NOISE, size=x.shape).astype(np.float32)
    return x, y.astype(np.int32)


def build_model(units=DEMO_UNITS, seed=0):
    """Builds and compiles the seed-like LSTM classifier."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((DEMO_TIMESTEPS, DEMO_FEATURES)),
            keras.layers.LSTM(units),
            keras.layers.Dense(DEMO_CLASSES, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run_demo(epochs=30, batch_size=4, seed=0, verbose=0, live=True,
             warn=None):
    """Trains the seed-like LSTM with `CurveWatch` and returns its report.

    Args:
        epochs: int. Defaults to `30`.
        batch_size: int. Defaults to `4`, the seed's small batch.
        seed: int. Defaults to `0`.
        verbose: int. Keras `fit` verbosity. Defaults to `0`.
        live: bool. Diagnose while training with `CurveWatch`, given no
            run facts (it measures the batch size and the set sizes on the
            device); if False, analyse the History afterwards. Defaults to
            `True`.
        warn: what `CurveWatch` does with each new finding (see its `warn`
            argument). Defaults to `None`: print it to stderr as it
            arises.

    Returns:
        The `Report`.
    """
    from keras_curvewatch.engine.analysis import analyze

    x, y = make_sequences(seed=seed)
    model = build_model(seed=seed)
    callbacks = []
    watch = None
    if live:
        from keras_curvewatch.live.callback import CurveWatch

        watch = CurveWatch(warn=warn or _LivePrinter(), display=False)
        callbacks.append(watch)
    history = model.fit(
        x,
        y,
        validation_split=DEMO_VALIDATION_SPLIT,
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
        callbacks=callbacks,
    )
    if watch is not None and watch.report is not None and not watch.disabled:
        return watch.report
    n_train = int(len(x) * (1 - DEMO_VALIDATION_SPLIT))
    return analyze(
        history,
        model=model,
        batch_size=batch_size,
        n_train=n_train,
        n_val=len(x) - n_train,
    )


class _LivePrinter:
    """Prints each finding to stderr as `CurveWatch` raises it."""

    def __call__(self, finding):
        import sys

        from keras_curvewatch.live.warning_types import format_finding

        print(f"curvewatch (live): {format_finding(finding)}",
              file=sys.stderr, flush=True)
