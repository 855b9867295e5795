"""What CurveWatch adds to the long case's fits, in instructions.

`bench/overhead.py --case long` times whole fits; on a shared machine
whose speed moves by 5-10 % from one fit to the next (and by 2-4x over a
day), those ratios cannot tell 1.03 from 1.07. This counts the
instructions each fit executes instead, with valgrind's callgrind, which
the machine's speed does not move. Threads that wait for each other do:
XLA's and Keras's threads spin for a while before they sleep, so two runs
of one fit gave the first two epochs within 2 % (mostly compilation,
single-threaded) but a steady epoch's steps 4-6 % apart, either way
(2026-12-02). The count of what runs on the main thread alone,
CurveWatch's hooks and diagnoses, is the steady part.

Each configuration (the long case's models: 98 samples,
`validation_split=0.2`) is fitted for `--epochs` epochs under callgrind,
bare and with `CurveWatch()`, each in its own process (`--jobs` at a
time). Counting starts at `fit` (imports and model building are not
counted) and is split, with callgrind's client requests, into:

- `keras`: everything outside CurveWatch's hooks: the steps (with the
  tap, under CurveWatch), their tracing and compiling, Keras's own work;
- `hooks`: inside CurveWatch's hooks, its full diagnoses excepted;
- `diagnosis`: inside the full diagnoses (the report at train end too);

each for the first two epochs (which trace and compile the steps), the
warm epochs up to `WARM_EPOCHS`, and the steady rest. It prints, per
configuration:

- `compile`: the first two epochs' instructions, with CurveWatch over bare;
- `epoch`: a steady epoch's `keras` part over bare (the tap in the step
  and Keras's handling of its variable), and with CurveWatch's hooks;
- the whole fit at `--long-epochs`, estimated: the first two and the warm
  epochs as counted, then the steady epochs, the diagnoses at the
  cadence's budget (`cadence.DIAGNOSIS_BUDGET` of the bare fit, an upper
  bound) and the last report scaled by the cadence's own cost model
  (`(epochs + FIXED_COST_EPOCHS)`). A count of instructions is not a time
  (a cache miss costs more than an add), so this is the work CurveWatch
  adds, not a wall-time ratio; `bench/overhead.py` measures that.

Needs valgrind with its headers (`valgrind/callgrind.h`) and a C compiler
to build the client-request helper; it says so and stops when they are
missing. Under callgrind a Dense fit of 120 epochs took 6-12 minutes on
one core, most of it XLA's compilation, an LSTM fit of 40 about 25.

Usage:

    KERAS_BACKEND=jax python3 bench/instructions.py
    KERAS_BACKEND=jax python3 bench/instructions.py --long-models lstm \\
        --long-batches 4 --epochs 40

Measured on 2026-12-02 (JAX): see README.md, "Long small-data runs".
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

_HELPER = r"""
#include <valgrind/callgrind.h>
void cw_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cw_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
void cw_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""

MODES = ("bare", "curvewatch")
# The counted phases: the first two epochs trace and compile the steps;
# the next ones are not yet steady (the cheap divergence check smooths the
# whole curve while it has fewer than `cadence.SMOOTH_END_POINTS` values,
# and the first ring reads come then), so only epochs from `WARM_EPOCHS`
# on are taken as steady. The key is the epoch that ends a phase.
WARM_EPOCHS = 10
PHASE_ENDS = {1: "warm", WARM_EPOCHS - 1: "rest"}
PARTS = ("keras", "hooks", "diagnosis", "last-report")


def build_helper(folder):
    """Compiles the client-request helper into `folder`; returns its path,
    or raises RuntimeError saying what is missing."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed.")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc or gcc) to build the helper.")
    source = os.path.join(folder, "cgctl.c")
    library = os.path.join(folder, "libcgctl.so")
    with open(source, "w") as f:
        f.write(_HELPER)
    done = subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o",
                           library, source], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("could not build the callgrind helper (are "
                           "valgrind's headers installed?):\n" + done.stderr)
    return library


def child(kind, batch_size, epochs, mode, library):
    """One fit under callgrind, its counts split by dumps (see above)."""
    import ctypes

    import keras

    from overhead import HOOKS
    from overhead import build_long
    from overhead import data_long

    from keras_curvewatch.live.callback import CurveWatch

    cg = ctypes.CDLL(library)
    x, y = data_long(kind)
    model = build_long(kind, seed=0)
    phase = ["first2"]

    def dump(part):
        cg.cw_dump(f"{phase[0]}/{part}".encode())

    class Phase(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch in PHASE_ENDS:
                dump("keras")
                phase[0] = PHASE_ENDS[epoch]

    callbacks = [Phase()]
    if mode == "curvewatch":
        watch = CurveWatch(display=False, warn=lambda f: None)
        ending = [False]

        def split(function, before, after):
            def run(*args, **kwargs):
                dump(before)
                try:
                    return function(*args, **kwargs)
                finally:
                    dump(after())
            return run

        # The report at train end apart from the diagnoses during training.
        watch._diagnose = split(
            watch._diagnose, "hooks",
            lambda: "last-report" if ending[0] else "diagnosis")
        for name in HOOKS:
            setattr(watch, name, split(getattr(watch, name), "keras",
                                       lambda: "hooks"))
        train_end = watch.on_train_end

        def on_train_end(logs=None):
            ending[0] = True
            train_end(logs)

        watch.on_train_end = on_train_end
        callbacks.insert(0, watch)
    cg.cw_start()
    model.fit(x, y, callbacks=callbacks, batch_size=batch_size,
              epochs=epochs, verbose=0, validation_split=0.2)
    dump("keras")
    cg.cw_stop()


def _counts(prefix):
    """`{(phase, part): instructions}` from the dumps `prefix.*.N`."""
    counts = {}
    for path in glob.glob(prefix + ".*"):
        trigger, total = None, None
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("desc: Trigger:"):
                    match = re.search(r"Client Request: (\S+)", line)
                    trigger = match.group(1) if match else None
                elif line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
                    break
        if trigger and "/" in trigger and total is not None:
            phase, part = trigger.split("/", 1)
            counts[(phase, part)] = counts.get((phase, part), 0) + total
    return counts


def run_config(kind, batch_size, mode, args, library, folder):
    prefix = os.path.join(folder, f"{kind}{batch_size}_{mode}")
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={prefix}.%p", sys.executable,
               os.path.abspath(__file__), "--child",
               f"{kind},{batch_size},{args.epochs},{mode},{library}"]
    done = subprocess.run(command, capture_output=True, text=True,
                          env=dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {batch_size} {mode} failed:\n"
                           + done.stderr[-3000:])
    return _counts(prefix)


def summarise(bare, watched, epochs, long_epochs):
    """The printed figures of one configuration (see the module doc)."""
    from keras_curvewatch.live.cadence import DIAGNOSIS_BUDGET
    from keras_curvewatch.live.cadence import FIXED_COST_EPOCHS

    steady = epochs - WARM_EPOCHS

    def part(counts, phase, name):
        return counts.get((phase, name), 0)

    def phase_total(counts, phase):  # all parts (a bare fit has only keras)
        return sum(part(counts, phase, name) for name in PARTS)

    bare_epoch = part(bare, "rest", "keras") / steady
    keras_epoch = part(watched, "rest", "keras") / steady
    hooks_epoch = part(watched, "rest", "hooks") / steady
    # The diagnoses after the warm epochs are charged to the budget below,
    # the last report (at train end) is scaled by the cadence's cost model.
    report = part(watched, "rest", "last-report")
    long_steady = long_epochs - WARM_EPOCHS
    long_bare = (phase_total(bare, "first2") + phase_total(bare, "warm")
                 + long_steady * bare_epoch)
    long_report = (report * (long_epochs + FIXED_COST_EPOCHS)
                   / (epochs + FIXED_COST_EPOCHS))
    parts = {
        "first2": phase_total(watched, "first2") - phase_total(bare, "first2"),
        "warm": phase_total(watched, "warm") - phase_total(bare, "warm"),
        "epoch_keras": long_steady * (keras_epoch - bare_epoch),
        "hooks": long_steady * hooks_epoch,
        "diagnoses": DIAGNOSIS_BUDGET * long_bare,
        "report": long_report,
    }
    return {
        "compile_ratio": phase_total(watched, "first2")
        / phase_total(bare, "first2"),
        "bare_epoch": bare_epoch,
        "epoch_keras_ratio": keras_epoch / bare_epoch,
        "epoch_ratio": (keras_epoch + hooks_epoch) / bare_epoch,
        "diagnoses": sum(part(watched, phase, "diagnosis")
                         for phase in ("first2", "warm", "rest")),
        "report": report,
        "long_ratio": 1.0 + sum(parts.values()) / long_bare,
        "long_parts": {k: v / long_bare for k, v in parts.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--long-models", default="dense,lstm")
    parser.add_argument("--long-batches", default="4,32")
    parser.add_argument("--epochs", type=int, default=120,
                        help="epochs of each counted fit (default 120: the "
                        "steady part holds a ring read at batch 32)")
    parser.add_argument("--long-epochs", type=int, default=1000,
                        help="the whole fit the estimate is for")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.child:
        kind, batch, epochs, mode, library = args.child.split(",", 4)
        child(kind, int(batch), int(epochs), mode, library)
        return 0
    if args.epochs <= WARM_EPOCHS:
        parser.error(f"--epochs must be above {WARM_EPOCHS} (the compile "
                     "and warm epochs, then steady ones).")
    folder = tempfile.mkdtemp(prefix="curvewatch-callgrind-")
    try:
        library = build_helper(folder)
    except RuntimeError as error:
        print(f"bench/instructions.py needs valgrind: {error}")
        return 2
    configs = [(kind, int(batch)) for kind in args.long_models.split(",")
               for batch in args.long_batches.split(",")]
    jobs = [(kind, batch, mode) for kind, batch in configs for mode in MODES]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        counts = dict(zip(jobs, pool.map(
            lambda job: run_config(*job, args, library, folder), jobs)))
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"backend={backend} counted fits of {args.epochs} epochs under "
          f"callgrind; the whole fit estimated at {args.long_epochs}")
    print("model  batch  compile      epoch (keras)  epoch (+hooks)  "
          "diagnoses   last report  whole fit  [first2, warm, keras, "
          "hooks, diagnoses, report]")
    results = []
    for kind, batch in configs:
        row = summarise(counts[(kind, batch, "bare")],
                        counts[(kind, batch, "curvewatch")], args.epochs,
                        args.long_epochs)
        row.update(model=kind, batch_size=batch)
        results.append(row)
        parts = ", ".join(f"{100 * v:.2f}" for v in row["long_parts"].values())
        print(f"{kind:6s} {batch:5d}  {row['compile_ratio']:.3f}x     "
              f"{row['epoch_keras_ratio']:.3f}x         "
              f"{row['epoch_ratio']:.3f}x          "
              f"{row['diagnoses'] / 1e6:7.1f} M   {row['report'] / 1e6:7.1f} M"
              f"   {row['long_ratio']:.3f}x    [{parts}] %")
    print("compile: the first two epochs' instructions over bare; epoch: "
          f"a steady epoch's (from epoch {WARM_EPOCHS + 1}), outside "
          "CurveWatch's hooks, then with them (full diagnoses apart); "
          "diagnoses: the full diagnoses during the counted fit, and the "
          "last report; whole fit: the estimate at --long-epochs, and what "
          "each part adds, in % of the bare fit (diagnoses: the budget).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
