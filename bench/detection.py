"""Detection benchmark on randomised synthetic curves with planted problems.

Generates many runs of random length, shape and noise. Healthy runs must
get no finding at warning level or above; each planted problem must get its
code. Prints per-code precision, recall and F1, and the healthy false-alarm
rate. Pure numpy: runs in seconds.

    python bench/detection.py [--runs 200] [--seed 0]
"""

import argparse
import collections
import math

import numpy as np

import keras_curvewatch as kcw


def _shape(rng, n, start, end):
    t = np.arange(n, dtype=float)
    if rng.random() < 0.5:
        tau = n * rng.uniform(0.08, 0.18)
        return end + (start - end) * np.exp(-t / tau)
    power = rng.uniform(0.7, 1.5)
    scale = n * rng.uniform(0.02, 0.08)
    return end + (start - end) / (1 + t / scale) ** power


def _noisy(rng, values, rel):
    return values * np.exp(rng.normal(0, rel, len(values)))


def healthy(rng):
    n = int(rng.integers(12, 100))
    start = rng.uniform(0.7, 2.5)
    end = start * rng.uniform(0.05, 0.4)
    loss = _noisy(rng, _shape(rng, n, start, end), rng.uniform(0.003, 0.02))
    gap = rng.uniform(1.0, 1.25)
    val = _noisy(rng, _shape(rng, n, start * 1.05, end * gap),
                 rng.uniform(0.005, 0.03))
    curves = {"loss": loss, "val_loss": val}
    if rng.random() < 0.6:
        curves["accuracy"] = 1 - 0.6 * loss / start
        curves["val_accuracy"] = np.clip(
            1 - 0.6 * val / start + rng.normal(0, 0.004, n), 0, 1)
    return curves, set()


def overfitting(rng):
    curves, _ = healthy(rng)
    n = len(curves["loss"])
    if n < 20:
        return overfitting(rng)
    onset = int(n * rng.uniform(0.2, 0.6))
    t = np.arange(n)
    val = curves["val_loss"]
    base = np.median(val[max(0, onset - 2):onset + 2])
    rise = np.where(t > onset, (t - onset) / (n - onset), 0.0)
    curves["val_loss"] = val + base * rng.uniform(0.3, 1.5) * rise
    curves.pop("val_accuracy", None)
    curves.pop("accuracy", None)
    return curves, {"overfitting"}


def nan_loss(rng):
    curves, _ = healthy(rng)
    n = len(curves["loss"])
    k = int(rng.integers(1, n))
    for key in ("loss", "val_loss"):
        curves[key] = curves[key].copy()
        curves[key][k:] = np.nan
    return curves, {"nan_loss"}


def diverging(rng):
    n = int(rng.integers(15, 80))
    low = int(n * rng.uniform(0.1, 0.4))
    t = np.arange(n)
    loss = np.where(t <= low, 1.0 - 0.5 * t / max(low, 1),
                    0.5 * (1 + rng.uniform(0.03, 0.2) * (t - low)))
    loss = _noisy(rng, loss, rng.uniform(0.005, 0.03))
    return {"loss": loss, "val_loss": loss * 1.1}, {"diverging"}


def not_learning(rng):
    n = int(rng.integers(10, 80))
    k = int(rng.integers(2, 10))
    loss = _noisy(rng, np.full(n, math.log(k)), rng.uniform(0.001, 0.01))
    val = _noisy(rng, np.full(n, math.log(k)), rng.uniform(0.002, 0.02))
    acc = 1 / k + rng.normal(0, 0.005, n)
    return {"loss": loss, "val_loss": val, "accuracy": acc}, {"not_learning"}


def train_oscillation(rng):
    curves, _ = healthy(rng)
    curves["loss"] = _noisy(rng, curves["loss"], rng.uniform(0.08, 0.3))
    for key in ("accuracy", "val_accuracy"):
        curves.pop(key, None)
    curves["val_loss"] = _noisy(rng, curves["val_loss"], 0.08)
    return curves, {"train_oscillation"}


def val_fluctuation(rng):
    curves, _ = healthy(rng)
    if len(curves["loss"]) < 15:
        return val_fluctuation(rng)
    curves["val_loss"] = _noisy(rng, curves["val_loss"],
                                rng.uniform(0.15, 0.35))
    curves.pop("val_accuracy", None)
    return curves, {"val_fluctuation"}


def loss_spike(rng):
    curves, _ = healthy(rng)
    n = len(curves["loss"])
    k = int(rng.integers(2, n - 2))
    curves["loss"] = curves["loss"].copy()
    curves["loss"][k] *= rng.uniform(2.0, 6.0)
    return curves, {"loss_spike"}


def not_converged(rng):
    n = int(rng.integers(12, 60))
    t = np.arange(n)
    loss = _noisy(rng, 1.0 - 0.7 * t / n, rng.uniform(0.003, 0.01))
    val = _noisy(rng, 1.05 - 0.6 * t / n, rng.uniform(0.003, 0.01))
    return {"loss": loss, "val_loss": val}, {"not_converged"}


def plateau_then_drop(rng):
    n = int(rng.integers(20, 60))
    n = max(n, 30)
    k = int(rng.integers(8, n - 15))
    t = np.arange(n)
    loss = np.where(t < k, 1.0, 0.4 + 0.2 * np.exp(-(t - k) / 3.0))
    loss = _noisy(rng, loss, 0.004)
    val = loss * 1.1
    return {"loss": loss, "val_loss": val}, {"plateau_then_drop"}


SCENARIOS = [healthy, overfitting, nan_loss, diverging, not_learning,
             train_oscillation, val_fluctuation, loss_spike, not_converged,
             plateau_then_drop]
# Info findings allowed beside a planted problem without counting as wrong.
IGNORED = {"noisy_best_epoch", "metric_loss_mismatch"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tp, fp, fn = (collections.Counter() for _ in range(3))
    healthy_alarms = 0
    for scenario in SCENARIOS:
        for _ in range(args.runs):
            curves, truth = scenario(rng)
            report = kcw.analyze(curves)
            found = {f.code for f in report.findings
                     if f.rank >= 1 or f.code in truth} - IGNORED
            if scenario is healthy and any(f.rank >= 1
                                           for f in report.findings):
                healthy_alarms += 1
            for code in found | truth:
                if code in found and code in truth:
                    tp[code] += 1
                elif code in found:
                    fp[code] += 1
                else:
                    fn[code] += 1
    print(f"{'code':22s} {'tp':>5s} {'fp':>5s} {'fn':>5s} {'prec':>6s} "
          f"{'recall':>6s} {'f1':>6s}")
    f1s = []
    for code in sorted(set(tp) | set(fp) | set(fn)):
        p = tp[code] / max(tp[code] + fp[code], 1)
        r = tp[code] / max(tp[code] + fn[code], 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        f1s.append(f1)
        print(f"{code:22s} {tp[code]:5d} {fp[code]:5d} {fn[code]:5d} "
              f"{p:6.2f} {r:6.2f} {f1:6.2f}")
    print(f"healthy runs with a warning or worse: {healthy_alarms}/"
          f"{args.runs} ({100 * healthy_alarms / args.runs:.1f}%)")
    print(f"micro F1: {2 * sum(tp.values()) / max(2 * sum(tp.values()) + sum(fp.values()) + sum(fn.values()), 1):.3f}")


if __name__ == "__main__":
    main()
