"""What the per-batch tap adds to the steady epoch, without the hooks.

`bench/overhead.py --case long` times whole fits with `CurveWatch()`; its
'hooks %' column gives CurveWatch's host work, and `bench/tap_compile.py`
the tap's compilation. This splits the rest, the steps themselves, in one
process: the long case's models (98 samples, `validation_split=0.2`) are
fitted in turn, the order alternating round by round, as

- `bare`: no callback;
- `variable`: with a metric holding a variable the size of the tap's,
  never written (what Keras's handling of one more metric variable costs
  at each step: it passes through the step and the epoch's state syncs);
- `tap`: with the tap installed (`loss_tap.install`) and no CurveWatch
  hooks (its ring runs on across epochs, as between two reads).

It prints the median steady epoch (after the first two) of each and its
median paired ratio to bare, with the quartiles. The first round warms
up (compiles) and is left out.

With `--step-loop N`, no `fit` runs after a one-epoch warm-up: the three
models' jitted train steps (JAX only) run one epoch of the training
batches each, in turn, N times, with the state taken from and synced
back to the variables once per epoch as `fit` does, and each epoch is
paired with the bare model's (the order rotates, so no mode runs twice in
a row): what the tap and the extra variable add to the steps alone,
without validation, callbacks or Keras's epoch loop.

Usage:

    taskset -c 1 env KERAS_BACKEND=jax python3 bench/tap_step.py
    KERAS_BACKEND=tensorflow python3 bench/tap_step.py --batch-size 32 \\
        --epochs 60 --rounds 8
    taskset -c 1 env KERAS_BACKEND=jax python3 bench/tap_step.py \\
        --models dense --batch-size 4 --step-loop 2000

Measured on 2026-12-02 (one pinned core of the 2-core machine): see
README.md, "Long small-data runs".
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import keras  # noqa: E402

from overhead import EpochTimer  # noqa: E402
from overhead import LONG_VALIDATION_SPLIT  # noqa: E402
from overhead import build_long  # noqa: E402
from overhead import data_long  # noqa: E402
from overhead import long_steps  # noqa: E402

from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live.device import state_size  # noqa: E402

MODES = ("bare", "variable", "tap")


class _Unwritten(keras.metrics.Metric):
    """A metric with one variable that no step writes, and no result."""

    def __init__(self, size):
        super().__init__(name="unwritten")
        self.buffer = self.add_variable(shape=(size,), initializer="zeros",
                                        name="buffer")

    def update_state(self, *args, **kwargs):
        pass

    def result(self):
        return {}

    def reset_state(self):
        pass


class _Tap(keras.callbacks.Callback):
    """Installs the tap as CurveWatch does, with none of its hooks."""

    def on_train_begin(self, logs=None):
        loss_tap.install(self.model, steps=self.params.get("steps"))


def _model(kind, mode, steps):
    model = build_long(kind, seed=0)
    if mode == "variable":
        capacity = loss_tap._capacity_for(steps)
        model._metrics.append(_Unwritten(state_size(capacity)))
    return model


def measure(kind, batch_size, epochs, rounds):
    """Median steady epoch seconds per mode and median paired ratios."""
    x, y = data_long(kind)
    steps = long_steps(len(x), batch_size)
    models = {mode: _model(kind, mode, steps) for mode in MODES}
    epochs_s = {mode: [] for mode in MODES}
    for round_index in range(rounds + 1):
        order = MODES if round_index % 2 == 0 else MODES[::-1]
        for mode in order:
            timer = EpochTimer()
            callbacks = [timer] + ([_Tap()] if mode == "tap" else [])
            models[mode].fit(x, y, batch_size=batch_size, epochs=epochs,
                             verbose=0, callbacks=callbacks,
                             validation_split=LONG_VALIDATION_SPLIT)
            if round_index:  # the first round compiles
                epochs_s[mode].append(float(np.median(timer.seconds[2:])))
    bare = np.asarray(epochs_s["bare"])
    out = {}
    for mode in MODES:
        ratios = np.asarray(epochs_s[mode]) / bare
        out[mode] = (float(np.median(epochs_s[mode])),
                     *(float(v) for v in np.percentile(ratios, [50, 25, 75])))
    return out


def step_loop(kind, batch_size, epochs):
    """Median epoch of the jitted train steps alone per mode (JAX), the
    modes interleaved epoch by epoch, and the median paired ratio and
    difference to bare."""
    import jax
    from keras.src.backend.jax.trainer import JAXEpochIterator

    x, y = data_long(kind)
    steps = long_steps(len(x), batch_size)
    # Only the training samples `fit` keeps.
    n_train = int(np.floor(len(x) * (1.0 - LONG_VALIDATION_SPLIT)))
    x, y = x[:n_train], y[:n_train]
    models = {}
    for mode in MODES:
        model = _model(kind, mode, steps)
        if mode == "tap":
            loss_tap.install(model, steps=steps)
        # Builds the optimizer and compiles the step.
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        models[mode] = model
    batches = JAXEpochIterator(x=x, y=y, batch_size=batch_size,
                               shuffle=True, steps_per_execution=1)

    def epoch(model):
        state = model._get_jax_state(
            trainable_variables=True, non_trainable_variables=True,
            optimizer_variables=True, metrics_variables=True,
            purge_model_variables=True)
        for _, _, iterator in batches:
            logs, state = model.train_function(state, iterator)
        model._jax_state = dict(zip(
            ("trainable_variables", "non_trainable_variables",
             "optimizer_variables", "metrics_variables"), state))
        model._jax_state_synced = False
        model.jax_state_sync()
        jax.block_until_ready(logs)

    for mode in MODES:  # warm
        for _ in range(5):
            epoch(models[mode])
    seconds = {mode: [] for mode in MODES}
    for index in range(epochs):
        # Rotated, so that no mode runs twice in a row: reversing the
        # order every round ran the bare steps twice at each round's
        # start, the second time with its buffers in cache (about 30 us
        # faster on a 2 ms epoch).
        shift = index % len(MODES)
        for mode in MODES[shift:] + MODES[:shift]:
            start = time.perf_counter()
            epoch(models[mode])
            seconds[mode].append(time.perf_counter() - start)
    bare = np.asarray(seconds["bare"])
    out = {}
    for mode in MODES:
        times = np.asarray(seconds[mode])
        out[mode] = (float(np.median(times)),
                     *(float(v) for v in np.percentile(times / bare,
                                                       [50, 25, 75])),
                     float(np.median(times - bare)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=150,
                        help="epochs of each fit")
    parser.add_argument("--models", default="dense,lstm")
    parser.add_argument("--batch-size", default="4,32")
    parser.add_argument("--step-loop", type=int, default=0,
                        help="JAX: time N epochs of the jitted train "
                        "steps alone per mode instead of fits")
    args = parser.parse_args(argv)
    if args.step_loop:
        if keras.backend.backend() != "jax":
            parser.error("--step-loop runs JAX's train step; set "
                         "KERAS_BACKEND=jax")
        print(f"backend=jax step loop, {args.step_loop} epochs per mode; "
              "median epoch of the train steps, median paired ratio to "
              "bare [quartiles], median paired difference")
        for kind in args.models.split(","):
            for batch_size in (int(b) for b in args.batch_size.split(",")):
                r = step_loop(kind, batch_size, args.step_loop)
                print(f"{kind:6} {batch_size:5d} " + "  ".join(
                    f"{mode} {1e6 * r[mode][0]:.1f} us {r[mode][1]:.3f} "
                    f"[{r[mode][2]:.3f}, {r[mode][3]:.3f}] "
                    f"{1e6 * r[mode][4]:+.1f} us" for mode in MODES),
                    flush=True)
        return None
    print(f"backend={keras.backend.backend()} rounds={args.rounds} "
          f"epochs={args.epochs}; median steady epoch, and its median "
          "paired ratio to bare [quartiles]")
    results = {}
    for kind in args.models.split(","):
        for batch_size in (int(b) for b in args.batch_size.split(",")):
            r = measure(kind, batch_size, args.epochs, args.rounds)
            results[f"{kind}_{batch_size}"] = r
            print(f"{kind:6} {batch_size:5d} " + "  ".join(
                f"{mode} {1e3 * r[mode][0]:.2f} ms {r[mode][1]:.3f} "
                f"[{r[mode][2]:.3f}, {r[mode][3]:.3f}]" for mode in MODES),
                flush=True)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
