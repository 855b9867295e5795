"""Benchmark of `CurveWatch(stop_on="hopeless")` (issue 17).

A sweep of 12 configurations of one small classifier, from healthy to
hopeless (SGD rates far too high, which collapse to a constant prediction
or go NaN; a rate far too low; unscaled inputs). Each configuration is trained twice with
the same seed: once to the end with a plain CurveWatch, which says whether
the run was healthy (its best validation accuracy), and once with
`stop_on="hopeless"`. Prints the epochs each run was spared and checks
that no healthy run was stopped.

The thresholds of `keras_curvewatch.live.stopping` were tuned on seed 0;
`--seed 1` draws other data and initial weights, a sweep not used for
tuning.

Usage: `TF_CPP_MIN_LOG_LEVEL=3 python3 bench/stop_on.py [--epochs 20]
[--seed 0]`.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

# A run is healthy when its best validation accuracy clears this: the
# majority class of the data below is about 45 %, chance 33 %.
HEALTHY_ACCURACY = 0.6

# (name, optimizer, learning rate, input scale)
CONFIGS = (
    ("adam_1e-3", "adam", 1e-3, 1.0),
    ("adam_1e-2", "adam", 1e-2, 1.0),
    ("rmsprop_1e-3", "rmsprop", 1e-3, 1.0),
    ("sgd_0.05", "sgd", 0.05, 1.0),
    ("sgd_0.5", "sgd", 0.5, 1.0),
    ("sgd_1", "sgd", 1.0, 1.0),
    ("sgd_5", "sgd", 5.0, 1.0),
    ("sgd_12", "sgd", 12.0, 1.0),
    ("sgd_16", "sgd", 16.0, 1.0),
    ("sgd_30", "sgd", 30.0, 1.0),
    ("sgd_1e-5", "sgd", 1e-5, 1.0),
    ("sgd_0.5_unscaled_x1000", "sgd", 0.5, 1000.0),
)


def data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = ((x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.5).astype(int)
         + (x[:, 2] > 0).astype(int))
    return x, y


def fit(optimizer, rate, scale, epochs, stop_on, seed=0):
    keras.utils.set_random_seed(1 + seed)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(keras.optimizers.get(
        {"class_name": optimizer, "config": {"learning_rate": rate}}),
        "sparse_categorical_crossentropy", metrics=["accuracy"])
    watch = CurveWatch(display=False, warn=lambda finding: None,
                       stop_on=stop_on, restore_best=bool(stop_on))
    x, y = data(seed=seed)
    history = model.fit(x * scale, y, validation_split=0.2, epochs=epochs,
                        batch_size=32, verbose=0, callbacks=[watch])
    return history.history, watch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"{len(CONFIGS)} configurations, {args.epochs} epochs, "
          f"seed {args.seed}, "
          f"healthy = best val_accuracy >= {HEALTHY_ACCURACY}")
    print(f"{'configuration':26s} {'healthy':>7s} {'best_acc':>8s} "
          f"{'epochs':>6s} {'stopped_at':>10s} {'saved':>5s}  reason")
    total = saved_total = healthy_stopped = hopeless = hopeless_stopped = 0
    start = time.time()
    for name, optimizer, rate, scale in CONFIGS:
        full, _ = fit(optimizer, rate, scale, args.epochs, (), args.seed)
        accuracy = np.asarray(full["val_accuracy"], dtype=float)
        best = float(np.nanmax(accuracy)) if np.isfinite(
            accuracy).any() else float("nan")
        healthy = bool(best >= HEALTHY_ACCURACY)
        stopped, watch = fit(optimizer, rate, scale, args.epochs, "hopeless",
                             args.seed)
        ran = len(stopped["loss"])
        saved = args.epochs - ran
        total += args.epochs
        saved_total += saved
        record = watch.report.stopped
        if healthy and record is not None:
            healthy_stopped += 1
        if not healthy:
            hopeless += 1
            hopeless_stopped += record is not None
        reason = "-" if record is None else record["reason"]
        print(f"{name:26s} {str(healthy):>7s} {best:8.3f} {ran:6d} "
              f"{'-' if record is None else record['epoch']:>10} "
              f"{saved:5d}  {reason}")
    print(f"epochs saved: {saved_total} of {total} "
          f"({100.0 * saved_total / total:.0f} %); unhealthy runs stopped: "
          f"{hopeless_stopped} of {hopeless}; healthy runs stopped: "
          f"{healthy_stopped}; {time.time() - start:.0f} s")
    print("target (no healthy run stopped, epochs saved > 0):",
          "MET" if healthy_stopped == 0 and saved_total > 0 else "NOT MET")


if __name__ == "__main__":
    main()
