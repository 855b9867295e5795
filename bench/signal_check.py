"""How long `signal_check` takes on 5,000 samples with 1,000 features.

Target (issue 16): under 2 s on the development CPU. Each round times
`signal_check` and, side by side, the bare raw-input distance matrix a
kNN without projection would need (`x @ x.T` in float32, 5,000 x 5,000 x
1,000); rounds alternate the order of the two, and the ratio is the median
of paired ratios, so a machine slowed by other processes hits both alike.
Wall time and process CPU time (all threads) are printed with the load
average: on a shared machine the wall time of multi-threaded BLAS grows
with the load, the CPU time much less.

Usage:

    python3 bench/signal_check.py
    OPENBLAS_NUM_THREADS=1 python3 bench/signal_check.py --rounds 9
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from keras_curvewatch.preflight.signal import signal_check  # noqa: E402


def make_data(samples, features, classes=10, seed=0):
    """Classes centred in a 20-dimensional subspace of wide noisy inputs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=samples)
    centres = rng.normal(size=(classes, 20)) @ rng.normal(size=(20, features))
    x = 0.03 * centres[y] + rng.normal(size=(samples, features))
    return x.astype(np.float32), y


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    x, y = make_data(args.samples, args.features)
    signal_check(x[:200], y[:200])  # warm-up: imports, BLAS threads
    load_before = os.getloadavg()[0]
    walls, cpus, ratios = [], [], []
    report = None
    for round_ in range(args.rounds):
        first = round_ % 2 == 0
        if not first:
            raw = timed(lambda: x @ x.T)[0]
        wall, cpu, report = timed(lambda: signal_check(x, y))
        if first:
            raw = timed(lambda: x @ x.T)[0]
        walls.append(wall)
        cpus.append(cpu)
        ratios.append(wall / raw)
    print(f"signal_check on {args.samples} x {args.features} "
          f"({args.rounds} rounds, {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')})")
    print(f"  wall time: median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"  CPU time, all threads: median {statistics.median(cpus):.2f} s")
    print(f"  wall time / raw distance matrix x @ x.T: median "
          f"{statistics.median(ratios):.2f} (paired rounds)")
    print(f"  knn_error {report.context['knn_error']:.3f}, majority error "
          f"{report.context['majority_error']:.3f}, findings "
          f"{report.codes or 'none'}")


if __name__ == "__main__":
    main()
