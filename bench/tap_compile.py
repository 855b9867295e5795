"""What the per-batch tap adds to XLA's compilation of the steps (JAX).

A small-data fit compiles its train step twice (the full batch and the
last, smaller one) and its test step once, and on CPU that compilation is
a large, and noisy, part of a short fit: whole-fit ratios
(`bench/overhead.py --case long`) move by several percent with it. This
measures it directly, in one process: the long case's models (98 samples,
batch 4 and 32, Dense and LSTM) are built bare and with the tap installed
(`loss_tap.install`), and their jitted train and test steps are lowered and
compiled again and again, with JAX's caches cleared before each, the two
models interleaved round by round. It prints the median compile time of
each and the median paired difference (tap minus bare) per compiled step.

Usage:

    KERAS_BACKEND=jax python3 bench/tap_compile.py
    taskset -c 1 env KERAS_BACKEND=jax python3 bench/tap_compile.py \\
        --rounds 12

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

from overhead import build_long  # noqa: E402
from overhead import data_long  # noqa: E402

from keras_curvewatch.live import loss_tap  # noqa: E402


def _prepared(kind, batch_size, tapped):
    """A fitted model of the long case and the state its steps take."""
    x, y = data_long(kind)
    model = build_long(kind, seed=0)
    steps = int(np.ceil(0.8 * len(x) / batch_size))
    if tapped:
        loss_tap.install(model, steps=steps)
    model.fit(x, y, epochs=1, verbose=0, batch_size=batch_size,
              validation_split=0.2)
    train_state = model._get_jax_state(
        trainable_variables=True, non_trainable_variables=True,
        optimizer_variables=True, metrics_variables=True)
    test_state = model._get_jax_state(
        trainable_variables=True, non_trainable_variables=True,
        metrics_variables=True)
    batch = (x[:batch_size], y[:batch_size])
    return ((model.train_step, train_state, batch),
            (model.test_step, test_state, batch))


def _compile_seconds(step, state, batch):
    """One compilation of `step`, every JAX cache cleared first."""
    import jax

    jax.clear_caches()
    lowered = jax.jit(step, donate_argnums=0).lower(state, batch)
    start = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - start


def measure(kind, batch_size, rounds):
    """Median compile ms of the train and test steps, bare and tapped, and
    the median paired difference."""
    models = {"bare": _prepared(kind, batch_size, False),
              "tap": _prepared(kind, batch_size, True)}
    times = {(m, s): [] for m in models for s in ("train", "test")}
    for round_index in range(rounds + 1):
        order = ("bare", "tap") if round_index % 2 else ("tap", "bare")
        for mode in order:
            for name, (step, state, batch) in zip(("train", "test"),
                                                  models[mode]):
                seconds = _compile_seconds(step, state, batch)
                if round_index:  # the first round warms up
                    times[mode, name].append(seconds)
    out = {}
    for name in ("train", "test"):
        bare = np.asarray(times["bare", name]) * 1e3
        tap = np.asarray(times["tap", name]) * 1e3
        out[name] = (float(np.median(bare)), float(np.median(tap)),
                     float(np.median(tap - bare)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        print("bench/tap_compile.py measures XLA compilation on JAX: run it "
              "with KERAS_BACKEND=jax.")
        return None
    print(f"rounds={args.rounds}; compile ms, median: bare, tapped, "
          "paired difference")
    print(f"{'model':6} {'batch':>5} {'train bare':>10} {'tapped':>7} "
          f"{'+ms':>6} {'test bare':>10} {'tapped':>7} {'+ms':>6}")
    results = {}
    for kind in ("dense", "lstm"):
        for batch_size in (4, 32):
            r = measure(kind, batch_size, args.rounds)
            results[f"{kind}_{batch_size}"] = r
            print(f"{kind:6} {batch_size:5d} "
                  + " ".join(f"{r[s][0]:10.1f} {r[s][1]:7.1f} "
                             f"{r[s][2]:+6.1f}" for s in ("train", "test")),
                  flush=True)
    print("A fit compiles the train step once per batch shape (two in "
          "these fits: the full batch and the last, smaller one) and the "
          "test step once per shape.")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
