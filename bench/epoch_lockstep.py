"""Steady-epoch cost of CurveWatch and its parts, fits run epoch by epoch
in turn in one process.

Whole-fit ratios (`bench/overhead.py --case long`) move by 5-10 % between
processes on a shared machine, and in-process fits run one after another
still moved by about 5 % from fit to fit. Here the long case's fits of
every mode (98 samples, `validation_split=0.2`) run at once, each in its
own thread, and a baton lets one epoch run at a time, in turn: epoch `i`
of each mode runs within a few tens of milliseconds of the others', so
the machine's drift hits them alike, and each epoch is paired with the
bare fit's epoch `i`. The modes:

- `bare`: no callback;
- `variable`: one more metric variable the size of the tap's, never
  written (what Keras's handling of one more metric variable costs);
- `tap`: the tap installed (`loss_tap.install`, which on JAX also packs
  the loss tracker), none of CurveWatch's hooks;
- `packed`: the loss tracker packed (`loss_tracker.PackedMean`), no tap:
  what Keras's own two-variable tracker costs JAX;
- `curvewatch`: `CurveWatch()`;
- `nobatch`: `CurveWatch(per_batch=False)`: the hooks without the tap.

An epoch is timed from the first callback's `on_epoch_begin` to the last
one's `on_epoch_end`: the steps, validation, and CurveWatch's own epoch
hooks. It prints, per mode, the median and mean epoch (the mean counts
the ring reads and the diagnoses too), the median paired ratio to bare
with its quartiles, and the median paired difference. The first five
epochs (compilation) are left out.

Usage:

    taskset -c 1 env KERAS_BACKEND=jax python3 bench/epoch_lockstep.py
    KERAS_BACKEND=jax python3 bench/epoch_lockstep.py --model lstm \\
        --batch-size 32 --epochs 400 --modes bare,tap,curvewatch
"""

import argparse
import os
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import keras  # noqa: E402

from overhead import LONG_VALIDATION_SPLIT  # noqa: E402
from overhead import data_long  # noqa: E402
from overhead import long_steps  # noqa: E402
from tap_step import _model  # noqa: E402

from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live import loss_tracker  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

MODES = ("bare", "variable", "tap", "curvewatch", "nobatch", "packed")
# The first epochs trace and compile the steps.
WARM_EPOCHS = 5


class Baton:
    """Lets the fits of `n` threads run one epoch at a time, in turn; a
    finished fit's turns are skipped."""

    def __init__(self, n):
        self.n = n
        self.turn = 0
        self.finished = set()
        self.condition = threading.Condition()

    def wait_for(self, index):
        with self.condition:
            self.condition.wait_for(lambda: self.turn == index)

    def pass_on(self, index):
        """Gives the turn to the next fit after `index` still running."""
        with self.condition:
            self._pass(index)

    def finish(self, index):
        """Marks fit `index` done and passes its turn on, if it holds it
        (a fit that failed may end in another's turn)."""
        with self.condition:
            self.finished.add(index)
            if self.turn == index:
                self._pass(index)

    def _pass(self, index):
        for step in range(1, self.n + 1):
            following = (index + step) % self.n
            if following not in self.finished:
                self.turn = following
                break
        self.condition.notify_all()


class _EpochStart(keras.callbacks.Callback):
    """First in the list: waits for its turn, then starts the clock."""

    def __init__(self, baton, index):
        super().__init__()
        self.baton, self.index, self.start = baton, index, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch > 0:
            self.baton.pass_on(self.index)
        self.baton.wait_for(self.index)
        self.start = time.perf_counter()


class _EpochEnd(keras.callbacks.Callback):
    """Last in the list: stops the clock."""

    def __init__(self, start):
        super().__init__()
        self.first, self.seconds = start, []

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.first.start)


def _fit(mode, index, baton, args, out):
    x, y = data_long(args.model)
    steps = long_steps(len(x), args.batch_size)
    # `tap_step`'s models: the variable mode's holds the unwritten metric.
    model = _model(args.model, mode, steps)
    start = _EpochStart(baton, index)
    end = _EpochEnd(start)
    callbacks = [start]
    if mode == "tap":
        loss_tap.install(model, steps=steps)
    elif mode == "packed":
        loss_tracker.pack_loss_tracker(model)
    elif mode in ("curvewatch", "nobatch"):
        callbacks.append(CurveWatch(display=False, warn=lambda f: None,
                                    per_batch=mode == "curvewatch"))
    callbacks.append(end)
    try:
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
                  verbose=0, validation_split=LONG_VALIDATION_SPLIT,
                  callbacks=callbacks)
        out[mode] = np.asarray(end.seconds[WARM_EPOCHS:])
    finally:
        baton.finish(index)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dense", choices=("dense",
                                                             "lstm"))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown or modes[0] != "bare":
        parser.error(f"--modes: expected 'bare' first, then any of "
                     f"{', '.join(MODES[1:])}; found {args.modes!r}")
    baton, out = Baton(len(modes)), {}
    threads = [threading.Thread(target=_fit, args=(m, i, baton, args, out))
               for i, m in enumerate(modes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"backend={keras.backend.backend()} model={args.model} "
          f"batch={args.batch_size} epochs={args.epochs} (first "
          f"{WARM_EPOCHS} left out), modes run epoch by epoch in turn")
    bare = out["bare"]
    for mode in modes:
        seconds = out[mode]
        q1, med, q3 = np.percentile(seconds / bare, [25, 50, 75])
        print(f"{mode:10} median epoch {1e6 * np.median(seconds):8.1f} us  "
              f"mean {1e6 * np.mean(seconds):8.1f} us  paired "
              f"{med:.4f} [{q1:.4f}, {q3:.4f}]  median diff "
              f"{1e6 * np.median(seconds - bare):+7.1f} us  mean diff "
              f"{1e6 * np.mean(seconds - bare):+7.1f} us", flush=True)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
