"""Benchmark of the live learning-rate control (issue 4).

Runs small-data CNN/LSTM/MLP scenarios, each with several seeds on the same
epoch budget, under four controls: none, `ReduceLROnPlateau()` at its
defaults, `ReduceLROnPlateau(factor=0.5, patience=5)` and CurveWatch's
control (`CurveWatch(lr_control=LRControl())`, with per-batch statistics on
the device). Prints a table of the median
best and final validation loss, the epochs to reach a target loss and the
NaN runs rescued, then checks the issue's targets.

Usage: `TF_CPP_MIN_LOG_LEVEL=3 python3 bench/lr_control.py [--seeds 3]
[--epochs 24] [--only NAME ...]`.
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from keras_curvewatch.control.policy import LRControl  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

# The target loss of a scenario: 25 % above the best validation loss any
# run reached, so "epochs to target" measures speed to a good model.
TARGET_SLACK = 1.25
# "Within noise" for the lr-problem target: the seed-to-seed spread (MAD)
# of the best baseline's final losses, and at least 2 %.
MIN_NOISE_TOLERANCE = 0.02
# Healthy runs: CurveWatch's median final loss within 2 % of no control.
HEALTHY_TOLERANCE = 0.02
METHODS = ("none", "rlrp_default", "rlrp_0.5_p5", "curvewatch")


def _images(rng, n, classes=3, imbalance=None):
    templates = rng.normal(size=(classes, 8, 8, 1))
    p = imbalance or [1.0 / classes] * classes
    y = rng.choice(classes, size=n, p=p)
    x = templates[y] * 0.4 + rng.normal(size=(n, 8, 8, 1))
    return x.astype("float32"), y.astype("int32")


def _sequences(rng, n, length=12, features=4):
    x = rng.normal(size=(n, length, features))
    signal = x[:, :, 0].mean(axis=1) - 0.5 * x[:, -3:, 1].mean(axis=1)
    y = (signal + 0.15 * rng.normal(size=n) > 0).astype("float32")
    return x.astype("float32"), y


def _regression(rng, n, features=8, scale=4.0):
    x = rng.normal(size=(n, features)) * scale
    w = rng.normal(size=(features, 1)) / scale
    y = np.tanh(x @ w) + 0.1 * rng.normal(size=(n, 1))
    return x.astype("float32"), y.astype("float32")


def _cnn(classes=3):
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(classes, activation="softmax"),
    ])


def _lstm():
    return keras.Sequential([
        keras.Input((12, 4)),
        keras.layers.LSTM(12),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def _mlp():
    return keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1),
    ])


def _decay(rate):
    return keras.optimizers.schedules.ExponentialDecay(
        rate, decay_steps=200, decay_rate=0.9)


# name: (lr problem?, data, model, optimizer factory, loss, batch size)
SCENARIOS = {
    "cnn_sgd_lr_far_too_high": (
        True, _images, _cnn, lambda: keras.optimizers.SGD(0.6),
        "sparse_categorical_crossentropy", 16),
    "lstm_adam_lr_too_high": (
        True, _sequences, _lstm, lambda: keras.optimizers.Adam(0.05),
        "binary_crossentropy", 16),
    "mlp_sgd_nan_prone": (
        True, _regression, _mlp,
        lambda: keras.optimizers.SGD(0.02, momentum=0.9), "mse", 16),
    "cnn_sgd_schedule_too_high": (
        True, _images, _cnn, lambda: keras.optimizers.SGD(_decay(0.6)),
        "sparse_categorical_crossentropy", 16),
    "lstm_rmsprop_batch_4": (
        True, _sequences, _lstm, lambda: keras.optimizers.RMSprop(1e-2),
        "binary_crossentropy", 4),
    "cnn_imbalanced_sgd_momentum_batch_8": (
        True, lambda rng, n: _images(rng, n, imbalance=[0.7, 0.2, 0.1]),
        _cnn, lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        "sparse_categorical_crossentropy", 8),
    "cnn_adam_healthy": (
        False, _images, _cnn, lambda: keras.optimizers.Adam(3e-3),
        "sparse_categorical_crossentropy", 32),
    "lstm_adam_healthy": (
        False, _sequences, _lstm, lambda: keras.optimizers.Adam(5e-3),
        "binary_crossentropy", 32),
}


def run_one(name, method, seed, epochs, n=300, control=None):
    """One fit; returns the val_loss curve, whether it crashed, and the
    controller's actions."""
    _, data, build, optimizer, loss, batch = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    x, y = data(rng, n + n // 4)
    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer=optimizer(), loss=loss)
    n_val = n // 4
    callbacks, controller = [], None
    if method == "rlrp_default":
        callbacks.append(keras.callbacks.ReduceLROnPlateau())
    elif method == "rlrp_0.5_p5":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(factor=0.5,
                                                           patience=5))
    elif method == "curvewatch":
        # The product itself, told what a user would know.
        controller = CurveWatch(batch_size=batch, n_train=n, n_val=n_val,
                                lr_control=control or LRControl(),
                                warn=lambda finding: None, display=False)
        callbacks.append(controller)
    history = keras.callbacks.History()
    crashed = False
    try:
        model.fit(x[:n], y[:n], validation_data=(x[n:], y[n:]),
                  epochs=epochs, batch_size=batch, verbose=0,
                  callbacks=callbacks + [history])
    except TypeError:
        crashed = True  # ReduceLROnPlateau on a LearningRateSchedule.
    curve = np.asarray(history.history.get("val_loss", []), dtype=float)
    # The model as the user gets it back (after a crash or a clean stop
    # too): its validation loss is the run's final one.
    final = float(model.evaluate(x[n:], y[n:], batch_size=batch, verbose=0))
    actions = (controller.report.actions
               if controller is not None and controller.report else [])
    return curve, crashed, actions, final


def _median(values):
    values = [v if math.isfinite(v) else math.inf for v in values]
    return float(np.median(values))


def summarise(results, epochs):
    """Per scenario and method: medians, epochs to target, NaN rescues."""
    table = {}
    for name, by_method in results.items():
        best_any = min((np.nanmin(c) for runs in by_method.values()
                        for c, _, _, _ in runs if np.isfinite(c).any()),
                       default=math.nan)
        target = TARGET_SLACK * best_any
        for method, runs in by_method.items():
            finals, bests, reach, nan_runs, rescued, crashes = (
                [], [], [], 0, 0, 0)
            for curve, crashed, actions, final in runs:
                crashes += crashed
                finals.append(final)
                finite = curve[np.isfinite(curve)]
                bests.append(finite.min() if len(finite) else math.nan)
                hit = np.flatnonzero(np.nan_to_num(curve, nan=np.inf)
                                     <= target)
                reach.append(hit[0] + 1 if len(hit) else math.inf)
                broke = not np.isfinite(curve).all() or any(
                    a["action"] == "rollback" for a in actions)
                if broke:
                    nan_runs += 1
                    rescued += bool(math.isfinite(final) and any(
                        a["action"] == "rollback" for a in actions))
            table[name, method] = {
                "best": _median(bests), "final": _median(finals),
                "finals": finals, "reach": _median(reach),
                "nan": nan_runs, "rescued": rescued, "crashes": crashes,
                "target": target,
            }
    return table


def _fmt(value):
    return "  nan " if not math.isfinite(value) else f"{value:6.3f}"


def print_table(table, names):
    print(f"{'scenario':38s} {'control':13s} {'best':>6s} {'final':>6s} "
          f"{'to target':>9s} {'NaN runs (rescued)':>18s}")
    for name in names:
        for method in METHODS:
            row = table[name, method]
            reach = ("-" if not math.isfinite(row["reach"])
                     else f"{row['reach']:.0f}")
            note = f" crashed {row['crashes']}x" if row["crashes"] else ""
            print(f"{name:38s} {method:13s} {_fmt(row['best'])} "
                  f"{_fmt(row['final'])} {reach:>9s} "
                  f"{row['nan']:>11d} ({row['rescued']}){note}")


def check_targets(table, names):
    ok = True
    for name in names:
        lr_problem = SCENARIOS[name][0]
        ours = table[name, "curvewatch"]["final"]
        if lr_problem:
            baselines = [m for m in METHODS if m != "curvewatch"]
            best = min(baselines, key=lambda m: table[name, m]["final"])
            finals = np.asarray([v if math.isfinite(v) else np.nan
                                 for v in table[name, best]["finals"]])
            ref = table[name, best]["final"]
            spread = float(np.nanmedian(np.abs(finals - ref))) if (
                np.isfinite(finals).any() and math.isfinite(ref)) else 0.0
            tolerance = max(MIN_NOISE_TOLERANCE * abs(ref), spread)
            passed = ours <= ref + tolerance
            print(f"{'PASS' if passed else 'FAIL'} {name}: curvewatch "
                  f"{_fmt(ours)} vs best baseline {best} {_fmt(ref)} "
                  f"(+{tolerance:.3f} noise)")
        else:
            ref = table[name, "none"]["final"]
            passed = ours <= ref * (1 + HEALTHY_TOLERANCE)
            print(f"{'PASS' if passed else 'FAIL'} {name}: curvewatch "
                  f"{_fmt(ours)} vs no control {_fmt(ref)} (healthy, "
                  f"{HEALTHY_TOLERANCE:.0%})")
        ok &= passed
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--control", nargs="*", default=[],
                        help="LRControl arguments, e.g. cooldown=0")
    args = parser.parse_args(argv)
    control = LRControl(**{k: type(getattr(LRControl(), k))(v) for k, v in (
        item.split("=", 1) for item in args.control)})
    names = args.only or list(SCENARIOS)
    results = {}
    start = time.time()
    for name in names:
        results[name] = {}
        for method in args.methods:
            results[name][method] = [
                run_one(name, method, seed, args.epochs, control=control)
                for seed in range(args.seeds)]
        print(f"# {name} done after {time.time() - start:.0f}s",
              file=sys.stderr, flush=True)
    table = summarise(results, args.epochs)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"{args.seeds} seeds, {args.epochs} epochs, medians over seeds, "
          f"{control}")
    if set(args.methods) == set(METHODS):
        print_table(table, names)
        return 0 if check_targets(table, names) else 1
    for name in names:
        for method in args.methods:
            row = table[name, method]
            print(name, method, _fmt(row["best"]), _fmt(row["final"]),
                  row["nan"], row["rescued"], row["crashes"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
