"""What the live label counts add to the train step, side by side.

Two identical small CNN classifiers (10 classes, sparse labels) train with
CurveWatch, one with the label counts of `keras_curvewatch.live.label_counts`
and one without; rounds alternate which runs first. Prints the median of
the paired ratios of their step times, wall and process CPU (with the
middle half), so drift in the machine's speed hits both alike.

Usage: `TF_CPP_MIN_LOG_LEVEL=3 python3 bench/label_counts_overhead.py
[--rounds 12]`.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

STEPS = 64
BATCH = 32


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


class Timer(keras.callbacks.Callback):
    """Wall and process CPU time of the epoch's train steps."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = (time.perf_counter() - self.start[0],
                        time.process_time() - self.start[1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=STEPS * BATCH)
    models = {"counted": build(), "not_counted": build()}
    original = loss_tap.label_kind
    for name, model in models.items():
        if name == "not_counted":
            loss_tap.label_kind = lambda m: (None, "switched off")
        loss_tap.install(model, steps=STEPS)
        loss_tap.label_kind = original
    assert loss_tap.installed_accumulator(models["counted"]).labels
    assert not loss_tap.installed_accumulator(models["not_counted"]).labels
    fit = dict(batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    for model in models.values():  # warm-up: trace and compile
        model.fit(x, y, callbacks=[CurveWatch(display=False,
                                              warn=lambda f: None)], **fit)
    ratios, cpu_ratios = [], []
    for round_ in range(args.rounds):
        order = list(models) if round_ % 2 == 0 else list(models)[::-1]
        seconds = {}
        for name in order:
            timer = Timer()
            models[name].fit(x, y, callbacks=[
                timer, CurveWatch(display=False, warn=lambda f: None)], **fit)
            seconds[name] = timer.seconds
        ratios.append(seconds["counted"][0] / seconds["not_counted"][0])
        cpu_ratios.append(seconds["counted"][1] / seconds["not_counted"][1])
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    c1, cpu_median, c3 = np.percentile(cpu_ratios, [25, 50, 75])
    print(f"backend={keras.backend.backend()} keras={keras.__version__} "
          f"cnn 10 classes, {STEPS} steps x batch {BATCH}, "
          f"{args.rounds} paired rounds")
    print(f"step time with label counts / without: wall {median:.3f}x "
          f"[{q1:.3f}, {q3:.3f}], process CPU {cpu_median:.3f}x "
          f"[{c1:.3f}, {c3:.3f}]")


if __name__ == "__main__":
    main()
