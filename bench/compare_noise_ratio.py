"""Coverage of `compare()`'s 95 % noise-ratio intervals, by block length.

Generated runs: a falling loss with log-normal noise, noise ratio 2.5
between two runs, for several run lengths and many seeds. For each block
length of the moving-block bootstrap it prints how often the interval holds
the true ratio (should be near 0.95) and how often it excludes 1 (the
power to call the difference beyond noise). `compare_stats.BLOCK_LENGTH`
was chosen from this table.

Usage:

    python3 bench/compare_noise_ratio.py
    python3 bench/compare_noise_ratio.py --seeds 400 --ratio 1.0
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from keras_curvewatch.engine import compare_stats  # noqa: E402
from keras_curvewatch.engine import stats  # noqa: E402


def run(epochs, sigma, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(epochs)
    return np.log(0.3 + np.exp(-t / 8)) + rng.normal(0, sigma, epochs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--ratio", type=float, default=2.5)
    parser.add_argument("--epochs", type=int, nargs="+",
                        default=[15, 20, 30, 60])
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 3, 5])
    args = parser.parse_args(argv)
    print(f"true ratio {args.ratio}, {args.seeds} seeds per cell")
    print("epochs  block  coverage  excludes 1")
    for epochs in args.epochs:
        for block in args.blocks:
            compare_stats.BLOCK_LENGTH = block
            compare_stats.MIN_RESIDUALS_BOOTSTRAP = 2 * block
            covered = excluded = counted = 0
            for seed in range(args.seeds):
                noisy = stats.loo_residuals(
                    run(epochs, 0.02 * args.ratio, seed))
                steady = stats.loo_residuals(run(epochs, 0.02, 10000 + seed))
                _, low, high = compare_stats.noise_ratio(noisy, steady)
                if not np.isfinite(low):
                    continue
                counted += 1
                covered += low <= args.ratio <= high
                excluded += low > 1 or high < 1
            print(f"{epochs:6d}  {block:5d}  {covered / counted:8.3f}  "
                  f"{excluded / counted:10.3f}")


if __name__ == "__main__":
    main()
