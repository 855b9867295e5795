"""How much `CurveWatch` adds to the `fit` step time, side by side.

For a small CNN and a small LSTM, with `steps_per_execution` 1 and 8, it
times the training step with no callback, with `CurveWatch`, and with a
naive callback that reads `float(logs["loss"])` every batch, and prints the
ratios to the bare step. Configurations are interleaved round by round, so
drift in the machine's speed hits them all alike; the ratio is the median
over rounds of paired ratios, with the spread of the middle half.

The step time is measured between epoch hooks of a timer placed *before*
CurveWatch in the callback list, so it counts every train step (and the
on-device tap) but not CurveWatch's once-per-epoch read-back and diagnosis,
which is reported separately in ms per epoch.

The long case (`--case long`, issue 13) is a small-data run: 98 samples,
`validation_split=0.2`, batch 4 and 32, 1,000 epochs, a Dense and an LSTM
model. It times whole `fit` calls, bare and with `CurveWatch()`, in paired
rounds (a fresh model each, the order alternating), and prints the median
ratio with its quartiles. Each fit runs in a fresh Python process, the
first fit there, as a user's `fit` runs (`--isolate none` runs them all in
this process after a warm-up fit; there the bare fit was seen to move by
up to 7 % with the fits run before it; `--isolate concurrent` runs the
bare and the watched fit of each round at the same time, each in a fresh
process pinned to its own core, the cores swapped every round, so that
the machine's drift and its other tenants hit both fits of a pair alike:
on the shared 2-core machine the paired ratios' spread narrowed, from a
standard deviation of 9-12 % to about 7 %). It also prints the time spent
inside CurveWatch's own hooks over the bare fit ('hooks %'): no bare fit
is in it, so it stays steady where the machine's noise (whole fits of one
configuration vary by 5-10 % from round to round, most of it in XLA's
compilation) blurs the ratios. With `--long-tap`, each round also fits
with the tap installed and none of CurveWatch's hooks, in its own process:
what the tapped steps and their compilation add, apart from the hooks.
On JAX the tap also packs Keras's loss tracker into one variable
(`keras_curvewatch.live.loss_tracker`), which takes less of each epoch
than Keras's own: `bench/epoch_lockstep.py --modes bare,packed,tap`
shows the two apart.

Usage:

    KERAS_BACKEND=tensorflow python3 bench/overhead.py
    KERAS_BACKEND=jax python3 bench/overhead.py --rounds 30 --steps 200
    python3 bench/overhead.py --case long --epochs 300 --rounds 3
    taskset -c 1 env KERAS_BACKEND=jax python3 bench/overhead.py \
        --case long --epochs 1000 --rounds 4
    taskset -c 1 env KERAS_BACKEND=tensorflow python3 bench/overhead.py \
        --case long --epochs 200 --rounds 5 --long-models lstm \
        --long-batches 4 --long-tap
    KERAS_BACKEND=jax python3 bench/overhead.py --case long \
        --isolate concurrent --rounds 24

On a shared machine, pinning to one core (`taskset`) narrows the paired
rounds' quartiles from about 10 % to about 3 %, and gives CurveWatch's
host work no spare core to overlap with XLA's asynchronous steps: the
stricter figure.

Targets (issue 3): at most 3% added step time on CPU TensorFlow, at most 1%
on a GPU with JAX, and no device-to-host transfer per batch. Issue 13: the
long case at most 1.05x bare on CPU TensorFlow and JAX.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A child fit of `--isolate concurrent` is pinned to its core here, before
# numpy and the backend start their threads.
_CORE_VARIABLE = "CURVEWATCH_BENCH_CORE"
if os.environ.get(_CORE_VARIABLE):
    os.sched_setaffinity(0, {int(os.environ[_CORE_VARIABLE])})
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import keras  # noqa: E402

from keras_curvewatch.live import device  # noqa: E402
from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

MODES = ("none", "curvewatch", "naive")
# CurveWatch's Keras hooks: what 'hooks %' times (and bench/instructions.py
# counts).
HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end")
LONG_SAMPLES = 98
LONG_VALIDATION_SPLIT = 0.2


def long_steps(n_samples, batch_size):
    """`fit`'s training steps per epoch in the long case: Keras trains on
    the first floor(n * (1 - split)) samples, as CurveWatch reads them."""
    n_train = int(np.floor(n_samples * (1.0 - LONG_VALIDATION_SPLIT)))
    return int(np.ceil(n_train / batch_size))


class NaiveLossReader(keras.callbacks.Callback):
    """Reads the loss on the host every batch: the pattern to avoid."""

    def on_train_batch_end(self, batch, logs=None):
        self.last = float(logs["loss"])


class EpochTimer(keras.callbacks.Callback):
    """Times epochs with epoch hooks only, so batch dispatch stays async.

    Records wall time and this process's CPU time: on a shared machine the
    CPU time is far less disturbed by other processes.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.cpu_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.cpu_seconds.append(time.process_time() - self._cpu_start)


class EpochEndTimer(keras.callbacks.Callback):
    """Placed after CurveWatch: time from the timer's epoch end to here."""

    def __init__(self, timer):
        super().__init__()
        self.timer = timer
        self.seconds = []

    def on_epoch_end(self, epoch, logs=None):
        end = self.timer._start + self.timer.seconds[-1]
        self.seconds.append(time.perf_counter() - end)


def build(kind, steps_per_execution, seed=0):
    keras.utils.set_random_seed(seed)
    if kind == "cnn":
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        model = keras.Sequential([
            keras.Input((20, 8)),
            keras.layers.LSTM(32),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        loss = "binary_crossentropy"
    model.compile("adam", loss, steps_per_execution=steps_per_execution)
    return model


def data(kind, n):
    rng = np.random.default_rng(0)
    if kind == "cnn":
        return (rng.normal(size=(n, 28, 28, 1)).astype("float32"),
                rng.integers(0, 10, size=(n,)))
    return (rng.normal(size=(n, 20, 8)).astype("float32"),
            rng.integers(0, 2, size=(n, 1)).astype("float32"))


def build_long(kind, seed):
    """The small-data models of the long case."""
    keras.utils.set_random_seed(seed)
    if kind == "dense":
        model = keras.Sequential([
            keras.Input((8,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ])
        model.compile("adam", "mse")
    else:
        model = keras.Sequential([
            keras.Input((20, 8)),
            keras.layers.LSTM(16),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile("adam", "binary_crossentropy")
    return model


def data_long(kind):
    rng = np.random.default_rng(0)
    if kind == "dense":
        x = rng.normal(size=(LONG_SAMPLES, 8)).astype("float32")
        return x, (x @ rng.normal(size=(8, 1))).astype("float32")
    return data("lstm", LONG_SAMPLES)


def one_long_fit(kind, batch_size, mode, seed, epochs):
    """One whole `fit` of the long case; returns its times."""
    x, y = data_long(kind)
    model = build_long(kind, seed=seed)
    watch = CurveWatch(display=False, warn=lambda f: None)
    hook_seconds = _time_hooks(watch)
    costs = _record_diagnoses(watch)
    timer = EpochTimer()
    end_timer = EpochEndTimer(timer)
    callbacks = [timer, *([watch] if mode == "curvewatch" else []),
                 end_timer]
    if mode == "tap":  # The steps' share: the tap without the hooks.
        loss_tap.install(model, steps=long_steps(len(x), batch_size))
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(x, y, callbacks=callbacks, batch_size=batch_size,
              epochs=epochs, verbose=0,
              validation_split=LONG_VALIDATION_SPLIT)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    epochs_s = np.add(timer.seconds, end_timer.seconds)
    return {"wall": wall, "cpu": cpu,
            # Steady state: the median epoch after the first two (which
            # trace and compile the train and the validation step),
            # CurveWatch's epoch-end work included.
            "epoch": float(np.median(epochs_s[2:])),
            # What compiling costs: the first two epochs together.
            "first2": float(np.sum(epochs_s[:2])),
            "diagnoses": (watch._cadence.runs if mode == "curvewatch"
                          else 0),
            # CurveWatch's own host work: the time inside its hooks.
            "hooks": hook_seconds[0],
            # (epochs covered, ms) of each full diagnosis, the last
            # report at train end included.
            "diagnosis_ms": costs}


def _timed(function, record):
    """`function`, wrapped to pass the wall seconds of each call, even one
    that raised, to `record`."""
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            record(time.perf_counter() - start)
    return run


def _record_diagnoses(watch):
    """Records `(epochs covered, ms)` of each of `watch`'s full
    diagnoses, the last report included; returns the list."""
    costs = []
    watch._diagnose = _timed(watch._diagnose, lambda seconds: costs.append(
        (len(watch.history.get("loss", ())), round(1e3 * seconds, 2))))
    return costs


def _time_hooks(watch):
    """Wraps `watch`'s Keras hooks (on the instance) to add up the wall
    time spent inside them; returns the one-element list they add to."""
    spent = [0.0]

    def add(seconds):
        spent[0] += seconds

    for name in HOOKS:
        setattr(watch, name, _timed(getattr(watch, name), add))
    return spent


def _fit_command(kind, batch_size, mode, seed, epochs):
    return [sys.executable, os.path.abspath(__file__), "--one-long-fit",
            f"{kind},{batch_size},{mode},{seed},{epochs}"]


def _fit_in_subprocess(kind, batch_size, mode, seed, epochs):
    """Runs `one_long_fit` in a fresh Python process (see --isolate)."""
    import subprocess

    out = subprocess.run(_fit_command(kind, batch_size, mode, seed, epochs),
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ))
    return _fit_result(out.stdout)


def _fit_result(stdout):
    """The times a `--one-long-fit` child printed last."""
    return json.loads(stdout.strip().splitlines()[-1])


def _concurrent_cores():
    """The two cores `--isolate concurrent` pins its fits to."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit(
            "bench/overhead.py: --isolate concurrent needs two cores in this "
            f"process's affinity; found {len(cores)} ({cores}).")
    return cores[:2]


def _fits_at_once(kind, batch_size, modes, seed, epochs, cores):
    """Runs one fit of each of `modes` at the same time, each in a fresh
    Python process pinned to its own core (`cores[i]` for `modes[i]`);
    returns their times in the order of `modes`."""
    import subprocess

    children = []
    for mode, core in zip(modes, cores):
        children.append(subprocess.Popen(
            _fit_command(kind, batch_size, mode, seed, epochs),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, **{_CORE_VARIABLE: str(core)})))
    results = []
    for mode, child in zip(modes, children):
        out, err = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"bench/overhead.py: the {mode} fit failed "
                             f"(exit {child.returncode}):\n{err[-2000:]}")
        results.append(_fit_result(out))
    return results


def _compile_package():
    """Writes keras_curvewatch's bytecode, as `pip install` does, so that
    a fresh process's imports during `fit` (CurveWatch imports a few
    modules lazily) load it instead of compiling the source: with
    PYTHONDONTWRITEBYTECODE set, that compiling took 15-20 ms of the first
    epoch."""
    import compileall

    package = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "keras_curvewatch")
    compileall.compile_dir(package, quiet=1)


def run_long_case(kind, batch_size, args):
    """Whole-fit time with CurveWatch over bare, in paired rounds.

    With `args.isolate == "process"` every fit runs in a fresh process,
    first in it, so both modes pay their own tracing and compiling as a
    user's single `fit` does, and no fit inherits another's caches or
    heap. With "concurrent", the two fits of a round (bare and
    CurveWatch) run so at the same time, each pinned to one of two cores,
    the cores swapped every round (the tap-only fit, if any, runs after
    them on its own). With "none" they all run in this process (faster,
    but the bare fit's time was seen to move by up to 7 % with the fits
    run before it).
    """
    fit_once = (one_long_fit if args.isolate == "none"
                else _fit_in_subprocess)
    if args.isolate == "none":
        one_long_fit(kind, batch_size, "curvewatch", 0, 2)  # Warm-up.
    order = ("none", "curvewatch", *(("tap",) if args.long_tap else ()))
    times = {mode: [] for mode in order}
    cores = _concurrent_cores() if args.isolate == "concurrent" else None
    for round_index in range(args.rounds):
        if cores is not None:
            # The pair at the same time, the cores swapped every round.
            pair = order[:2] if round_index % 2 == 0 else order[1::-1]
            for mode, t in zip(pair, _fits_at_once(
                    kind, batch_size, pair, round_index, args.epochs,
                    cores)):
                times[mode].append(t)
            if args.long_tap:
                times["tap"].append(_fit_in_subprocess(
                    kind, batch_size, "tap", round_index, args.epochs))
            continue
        for mode in order if round_index % 2 == 0 else order[::-1]:
            times[mode].append(fit_once(kind, batch_size, mode, round_index,
                                        args.epochs))
    result = {"model": kind, "batch_size": batch_size,
              "bare_fit_s": float(np.median(
                  [t["wall"] for t in times["none"]])),
              "diagnoses": int(np.median(
                  [t["diagnoses"] for t in times["curvewatch"]]))}
    result.update(_paired_ratios(times, "curvewatch"))
    if args.long_tap:
        result["tap"] = _paired_ratios(times, "tap")
    # The first round's, as an example of the cadence.
    result["diagnosis_ms"] = times["curvewatch"][0]["diagnosis_ms"]
    result["first2_added_ms"] = 1e3 * float(np.median(
        np.subtract([t["first2"] for t in times["curvewatch"]],
                    [t["first2"] for t in times["none"]])))
    # Steadier than the ratios on a noisy machine: no bare fit in it.
    result["hooks_share"] = float(np.median(
        np.divide([t["hooks"] for t in times["curvewatch"]],
                  [t["wall"] for t in times["none"]])))
    return result


def _paired_ratios(times, mode):
    """Median [quartiles] over paired rounds of `mode`'s wall, CPU and
    steady-epoch times over the bare fit's."""
    result = {}
    for name in ("wall", "cpu", "epoch"):
        ratios = (np.asarray([t[name] for t in times[mode]])
                  / np.asarray([t[name] for t in times["none"]]))
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        result[name] = {"ratio": float(med), "q1": float(q1), "q3": float(q3)}
    return result


def print_long(args):
    backend = keras.backend.backend()
    print(f"backend={backend} device={_device_name(backend)} "
          f"long case: {LONG_SAMPLES} samples, "
          f"validation_split={LONG_VALIDATION_SPLIT}, "
          f"epochs={args.epochs}, rounds={args.rounds}, "
          f"isolate={args.isolate}")
    print(f"{'model':6} {'batch':>5} {'bare fit s':>10} "
          f"{'CurveWatch wall':>22} {'CurveWatch cpu':>22} "
          f"{'CurveWatch epoch':>22} {'first2 +ms':>10} {'hooks %':>7} "
          f"{'diagnoses':>9}")
    if args.isolate != "none":
        _compile_package()  # once, before the first child process
    results = []
    for kind in args.long_models.split(","):
        for batch_size in (int(b) for b in args.long_batches.split(",")):
            r = run_long_case(kind, batch_size, args)
            results.append(r)
            cells = [f"{r[m]['ratio']:6.3f}x [{r[m]['q1']:.3f},"
                     f"{r[m]['q3']:.3f}]" for m in ("wall", "cpu", "epoch")]
            print(f"{kind:6} {batch_size:5d} {r['bare_fit_s']:10.2f} "
                  + " ".join(f"{c:>22}" for c in cells)
                  + f" {r['first2_added_ms']:10.0f}"
                  f" {100 * r['hooks_share']:7.2f} {r['diagnoses']:9d}",
                  flush=True)
            if args.long_tap:
                print("       tap alone (no hooks) over bare: " + ", ".join(
                    f"{m} {r['tap'][m]['ratio']:.3f}x "
                    f"[{r['tap'][m]['q1']:.3f}, {r['tap'][m]['q3']:.3f}]"
                    for m in ("wall", "cpu", "epoch")), flush=True)
            print("       full diagnoses of the first round, (epochs, ms): "
                  + " ".join(f"({e}, {ms})" for e, ms in r["diagnosis_ms"]),
                  flush=True)
    print("Ratios with CurveWatch() over bare, median [quartiles] of paired "
          "rounds: whole-fit wall time, whole-fit CPU time of this process, "
          "and the median epoch after the first two (wall, CurveWatch's "
          "epoch-end work included); 'first2 +ms': what CurveWatch adds to "
          "the first two epochs (tracing and compiling), median of paired "
          "rounds; 'hooks %': the time inside CurveWatch's own hooks (its "
          "host work: checks, reads, diagnoses, the last report) over the "
          "bare fit, median; 'diagnoses': full diagnoses run in one watched "
          "fit.")
    return results


def count_reads():
    """Counts CurveWatch's device-to-host reads (`device._to_numpy`)."""
    calls = {"n": 0}
    original = device._to_numpy

    def counted(variable):
        calls["n"] += 1
        return original(variable)

    device._to_numpy = counted
    return calls


def run_case(kind, steps_per_execution, args, reads):
    n = args.steps * args.batch_size
    x, y = data(kind, n)
    models = {mode: build(kind, steps_per_execution) for mode in MODES}
    extra = {"none": [], "naive": [NaiveLossReader()],
             "curvewatch": [CurveWatch(display=False, warn=lambda f: None)]}
    per_step = {mode: [] for mode in MODES}
    cpu_per_step = {mode: [] for mode in MODES}
    epoch_end_ms = []
    fit = dict(batch_size=args.batch_size, shuffle=False, verbose=0)
    for mode in MODES:  # Warm-up: trace and compile.
        models[mode].fit(x, y, epochs=1, callbacks=list(extra[mode]), **fit)
    reads["n"] = 0
    for _ in range(args.rounds):
        for mode in MODES:
            timer = EpochTimer()
            end_timer = EpochEndTimer(timer)
            models[mode].fit(x, y, epochs=args.epochs,
                             callbacks=[timer, *extra[mode], end_timer], **fit)
            per_step[mode].append(np.median(timer.seconds) / args.steps)
            cpu_per_step[mode].append(
                np.median(timer.cpu_seconds) / args.steps)
            if mode == "curvewatch":
                epoch_end_ms.extend(1e3 * np.asarray(end_timer.seconds))
    epochs_watched = args.rounds * args.epochs
    base = np.asarray(per_step["none"])
    result = {"model": kind, "steps_per_execution": steps_per_execution,
              "bare_step_ms": 1e3 * float(np.median(base))}
    cpu_base = np.asarray(cpu_per_step["none"])
    result["bare_step_cpu_ms"] = 1e3 * float(np.median(cpu_base))
    for mode in ("curvewatch", "naive"):
        ratios = np.asarray(per_step[mode]) / base
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        cpu = np.asarray(cpu_per_step[mode]) / cpu_base
        c1, cmed, c3 = np.percentile(cpu, [25, 50, 75])
        result[mode] = {"ratio": float(med), "q1": float(q1), "q3": float(q3),
                        "cpu_ratio": float(cmed), "cpu_q1": float(c1),
                        "cpu_q3": float(c3)}
    result["curvewatch_epoch_end_ms"] = float(np.median(epoch_end_ms))
    result["device_reads_per_epoch"] = reads["n"] / epochs_watched
    watch = extra["curvewatch"][0]
    result["curvewatch_overrides_batch_hooks"] = any(
        getattr(type(watch), hook) is not getattr(keras.callbacks.Callback,
                                                  hook)
        for hook in ("on_train_batch_begin", "on_train_batch_end",
                     "on_batch_begin", "on_batch_end"))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn,lstm")
    parser.add_argument("--steps-per-execution", default="1,8")
    parser.add_argument("--steps", type=int, default=64,
                        help="training steps per epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per fit; the median epoch is kept "
                        "(default 3; long case: 1000)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds of the modes (default 10; "
                        "long case: 3)")
    parser.add_argument("--case", default="short,long",
                        help="short, long or short,long")
    parser.add_argument("--isolate", default="process",
                        choices=("process", "concurrent", "none"),
                        help="long case: each fit in a fresh process "
                        "(default), the bare and the watched fit of each "
                        "round in fresh processes at the same time on two "
                        "cores (concurrent), or all in this one (none)")
    parser.add_argument("--long-models", default="dense,lstm",
                        help="long case: dense, lstm or dense,lstm")
    parser.add_argument("--long-batches", default="4,32",
                        help="long case: batch sizes")
    parser.add_argument("--long-tap", action="store_true",
                        help="long case: also fit with the tap installed "
                        "and none of CurveWatch's hooks, in each round")
    parser.add_argument("--one-long-fit", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.one_long_fit:  # A child of the long case's --isolate process.
        kind, batch_size, mode, seed, epochs = args.one_long_fit.split(",")
        print(json.dumps(one_long_fit(kind, int(batch_size), mode, int(seed),
                                      int(epochs))))
        return None
    cases = args.case.split(",")
    results = {}
    long_args = argparse.Namespace(
        epochs=args.epochs or 1000, rounds=args.rounds or 3,
        isolate=args.isolate, long_models=args.long_models,
        long_batches=args.long_batches, long_tap=args.long_tap)
    if "short" in cases:
        args.epochs, args.rounds = args.epochs or 3, args.rounds or 10
        results["short"] = run_short(args)
    if "long" in cases:
        results["long"] = print_long(long_args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": keras.backend.backend(),
                       "device": _device_name(keras.backend.backend()),
                       "args": vars(args), "results": results}, f, indent=1)
    return results


def run_short(args):
    backend = keras.backend.backend()
    spes = [int(s) for s in args.steps_per_execution.split(",")]
    if backend == "torch":
        spes = [s for s in spes if s == 1]  # torch supports only 1.
    reads = count_reads()
    print(f"backend={backend} keras={keras.__version__} "
          f"device={_device_name(backend)} steps/epoch={args.steps} "
          f"batch={args.batch_size} rounds={args.rounds} "
          f"epochs/fit={args.epochs}")
    header = (f"{'model':6} {'spe':>3} {'bare ms':>8} "
              f"{'CurveWatch wall':>22} {'CurveWatch cpu':>22} "
              f"{'naive wall':>22} {'naive cpu':>22} "
              f"{'end ms':>6} {'reads':>5}")
    print(header)
    results = []
    for kind in args.models.split(","):
        for spe in spes:
            r = run_case(kind, spe, args, reads)
            results.append(r)
            cells = []
            for mode in ("curvewatch", "naive"):
                m = r[mode]
                cells.append(f"{m['ratio']:6.3f}x [{m['q1']:.3f},"
                             f"{m['q3']:.3f}]")
                cells.append(f"{m['cpu_ratio']:6.3f}x [{m['cpu_q1']:.3f},"
                             f"{m['cpu_q3']:.3f}]")
            print(f"{kind:6} {spe:>3} {r['bare_step_ms']:8.3f} "
                  + " ".join(f"{c:>22}" for c in cells)
                  + f" {r['curvewatch_epoch_end_ms']:6.1f}"
                  f" {r['device_reads_per_epoch']:5.1f}", flush=True)
    print("Ratios are step time over the bare step (median [quartiles] of "
          "paired rounds), in wall time and in this process's CPU time. "
          "'end ms': CurveWatch's once-per-epoch read-back and diagnosis; "
          "'reads': its device-to-host reads per epoch. "
          "CurveWatch overrides no batch hook: "
          f"{not any(r['curvewatch_overrides_batch_hooks'] for r in results)}"
          ".")
    return results


def _device_name(backend):
    try:
        if backend == "jax":
            import jax

            return str(jax.devices()[0].device_kind)
        if backend == "torch":
            import torch

            return (torch.cuda.get_device_name(0)
                    if torch.cuda.is_available() else "cpu")
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name if gpus else "cpu"
    except Exception:
        return "unknown"


if __name__ == "__main__":
    main()
