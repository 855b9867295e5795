"""How the time of `analyze()` grows with the length of the run.

Times `keras_curvewatch.analyze()` on synthetic runs of 10^2 to 10^5 epochs
(a `history.history` dict of Python floats: loss, val_loss, accuracy,
val_accuracy), and on 10^4 to 10^7 per-batch losses (a numpy array, 32
steps per epoch, beside a 100-epoch history), and prints the fitted
exponent b of time = a * n^b (least squares on log time against log n).
Each size is timed `--repeats` times and the fastest is kept, in wall time
and in this process's CPU time; the exponent is fitted on the CPU time,
which other processes on a shared machine disturb far less.

    python bench/scaling.py [--repeats 3] [--max-epochs 100000]
        [--max-batches 10000000]

Targets (issue 13): 10^5 epochs under 1 s, 10^7 batch losses under 5 s,
and an exponent of at most 1.15 for both.
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402

STEPS_PER_EPOCH = 32
BATCH_HISTORY_EPOCHS = 100


def synthetic_history(n_epochs, seed=0):
    """A healthy-looking run of `n_epochs`, as Python lists of floats."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_epochs)
    scale = max(n_epochs * 0.1, 1.0)
    loss = (0.2 + 2 * np.exp(-t / scale)) * np.exp(rng.normal(0, 0.02, n_epochs))
    val = (0.3 + 2 * np.exp(-t / scale)) * np.exp(rng.normal(0, 0.03, n_epochs))
    return {
        "loss": loss.tolist(),
        "val_loss": val.tolist(),
        "accuracy": (1 - 0.3 * loss).tolist(),
        "val_accuracy": (1 - 0.3 * val).tolist(),
    }


def best_time(call, repeats):
    """(wall seconds, CPU seconds), the fastest of `repeats` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return min(wall), min(cpu)


def fitted_exponent(sizes, seconds):
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def sizes_up_to(low, high):
    return [10**k for k in range(int(math.log10(low)),
                                 int(math.log10(high)) + 1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=100_000)
    parser.add_argument("--max-batches", type=int, default=10_000_000)
    args = parser.parse_args()
    kcw.analyze(synthetic_history(50))  # imports and caches out of the way

    sizes, seconds = sizes_up_to(100, args.max_epochs), []
    print(f"{'epochs':>10s} {'wall s':>8s} {'cpu s':>8s}")
    for n in sizes:
        history = synthetic_history(n)
        wall, cpu = best_time(lambda: kcw.analyze(history), args.repeats)
        seconds.append(cpu)
        print(f"{n:10d} {wall:8.3f} {cpu:8.3f}")
    print(f"fitted exponent (epochs): {fitted_exponent(sizes, seconds):.2f}")

    history = synthetic_history(BATCH_HISTORY_EPOCHS)
    rng = np.random.default_rng(1)
    sizes, seconds = sizes_up_to(10_000, args.max_batches), []
    print(f"{'batches':>10s} {'wall s':>8s} {'cpu s':>8s}")
    for n in sizes:
        losses = 0.5 * np.exp(rng.normal(0, 0.1, n))
        wall, cpu = best_time(
            lambda: kcw.analyze(history, batch_losses=losses,
                                steps_per_epoch=STEPS_PER_EPOCH),
            args.repeats)
        seconds.append(cpu)
        print(f"{n:10d} {wall:8.3f} {cpu:8.3f}")
    print(f"fitted exponent (batch losses): "
          f"{fitted_exponent(sizes, seconds):.2f}")


if __name__ == "__main__":
    main()
