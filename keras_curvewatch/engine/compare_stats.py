"""The statistics behind `compare()`: is one run's noise really larger than
another's, and which run to keep.

Imports neither keras nor tensorflow.
"""

import math

import numpy as np

from keras_curvewatch.engine import stats

# Bootstrap resamples: the 2.5 % and 97.5 % percentiles of 2,000 draws move
# by about 1 % of the ratio between seeds, below the digits shown.
N_BOOTSTRAP = 2000
# Fixed seed, so the same runs always give the same interval.
BOOTSTRAP_SEED = 0
# Moving-block bootstrap: neighbouring leave-one-out residuals share data
# points, so residuals are resampled in blocks. Measured on generated runs
# (15, 20, 30 and 60 epochs, true noise ratio 2.5, 200 seeds each), blocks
# of 3 give 95 % intervals that cover the true ratio 93.5-96.5 % of the
# time; blocks of 1 over-cover short runs (100 %), blocks of 5 under-cover
# them (87.5 %).
BLOCK_LENGTH = 3
# Fewer residuals than this and no interval is given: a block bootstrap of
# two blocks says nothing.
MIN_RESIDUALS_BOOTSTRAP = 2 * BLOCK_LENGTH
# Two-sided 95 % intervals.
CONFIDENCE = 0.95
# 1.96 = the normal quantile of a two-sided 95 % test: two runs' best
# values differ "beyond noise" when their log ratio exceeds 1.96 combined
# noise sigmas.
BEYOND_NOISE_Z = 1.96
# Findings that make a run unfit to keep whatever its numbers say.
BROKEN_CODES = ("nan_loss", "diverging", "not_learning")


def noise_residuals(series):
    """The residuals about the trend behind `series.relative_noise`.

    Losses are taken on the log scale (as `relative_noise` is), bounded
    metrics and curves with non-positive values on their own scale.

    Args:
        series: `SeriesStats`.

    Returns:
        `(residuals, log_scale)`: a float64 array and a bool.
    """
    values = np.asarray(series.values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    log_scale = bool(len(finite) and finite.min() > 0
                     and not _bounded(series, finite))
    if log_scale:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log(values)
    return stats.loo_residuals(values), log_scale


def _bounded(series, finite):
    return (series.direction == "max" and finite.min() >= 0
            and finite.max() <= 1)


def _bootstrap_mad(residuals, rng):
    """MADs of `N_BOOTSTRAP` moving-block resamples of `residuals`."""
    m = len(residuals)
    n_blocks = -(-m // BLOCK_LENGTH)
    starts = rng.integers(0, m - BLOCK_LENGTH + 1,
                          size=(N_BOOTSTRAP, n_blocks))
    index = (starts[:, :, None] + np.arange(BLOCK_LENGTH)).reshape(
        N_BOOTSTRAP, -1)[:, :m]
    sample = residuals[index]
    centre = np.median(sample, axis=1, keepdims=True)
    return np.median(np.abs(sample - centre), axis=1)


def noise_ratio(residuals_a, residuals_b, seed=BOOTSTRAP_SEED):
    """Ratio of two runs' noise levels with a bootstrap interval.

    The noise level is the MAD of the residuals (as in `noise_level`, whose
    scale factor cancels in the ratio). Each run is resampled on its own:
    the runs are independent.

    Args:
        residuals_a: 1-D array. Residuals of run A.
        residuals_b: 1-D array. Residuals of run B.
        seed: int. Seed of the resampling. Defaults to `BOOTSTRAP_SEED`.

    Returns:
        `(ratio, low, high)`: noise of A over noise of B and its 95 %
        percentile interval; NaN where not enough residuals.
    """
    a = stats.finite(residuals_a)
    b = stats.finite(residuals_b)
    nan = float("nan")
    if min(len(a), len(b)) < stats.MIN_RESIDUALS:
        return nan, nan, nan
    sigma_a, sigma_b = stats.robust_sigma(a), stats.robust_sigma(b)
    ratio = sigma_a / sigma_b if sigma_b > 0 else nan
    if min(len(a), len(b)) < MIN_RESIDUALS_BOOTSTRAP or not np.isfinite(
            ratio):
        return ratio, nan, nan
    rng = np.random.default_rng(seed)
    boot_a = _bootstrap_mad(a, rng)
    boot_b = _bootstrap_mad(b, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = boot_a / boot_b
    tail = 100.0 * (1.0 - CONFIDENCE) / 2.0
    low, high = np.nanpercentile(draws, [tail, 100.0 - tail])
    return float(ratio), float(low), float(high)


def beyond_noise(low, high):
    """True when a ratio's interval excludes 1, False when it holds it,
    None when there is no interval."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return bool(low > 1.0 or high < 1.0)


def pick_run(rows, pairs, monitor):
    """Chooses the run to keep.

    The lowest smoothed `monitor` value at the recommended epoch wins when
    it is lower beyond noise; runs within noise of it are told apart by a
    noise difference beyond noise (the steadier run), then by fewer
    warnings, then by the value. Runs with a broken curve (`nan_loss`,
    `diverging`, `not_learning`) are kept only if every run has one.

    Args:
        rows: list of dict, as in `Comparison.rows`.
        pairs: list of dict, as in `Comparison.pairs`.
        monitor: str. The curve the choice is made on.

    Returns:
        dict with `keep` (a run name, or None), `monitor` and `reason`.
    """
    usable = [r for r in rows if math.isfinite(r["recommended_value"])]
    healthy = [r for r in usable
               if not set(r["codes"]).intersection(BROKEN_CODES)]
    candidates = healthy or usable
    if not candidates:
        return {"keep": None, "monitor": monitor,
                "reason": f"No run has a finite {monitor} to compare."}
    best = min(candidates, key=lambda r: r["recommended_value"])
    tied = [r for r in candidates if r is best or not _better_beyond_noise(
        best, r, monitor)]
    skipped = [r["name"] for r in usable if r not in candidates]
    broken = (f" {_names(skipped)} left out: a broken curve "
              f"({'/'.join(BROKEN_CODES)})." if skipped else "")
    value = _value_text(best, monitor)
    if len(tied) == 1:
        others = [r for r in candidates if r is not best]
        if not others:
            return {"keep": best["name"], "monitor": monitor,
                    "reason": f"{best['name']}: {value}.{broken}"}
        runner = min(others, key=lambda r: r["recommended_value"])
        return {"keep": best["name"], "monitor": monitor, "reason": (
            f"{best['name']} reaches the lowest {value}, lower beyond noise "
            f"than the next best, {runner['name']} "
            f"({_fmt(runner['recommended_value'])}).{broken}")}
    keep, why = _break_tie(tied, pairs, monitor)
    within = ", ".join(f"{r['name']} {_fmt(r['recommended_value'])}"
                       for r in tied)
    return {"keep": keep["name"], "monitor": monitor, "reason": (
        f"{_names([r['name'] for r in tied])} reach the same smoothed "
        f"{monitor} within noise ({within}); {why}{broken}")}


def _better_beyond_noise(best, other, monitor):
    """Is `best`'s value lower than `other`'s beyond their noise?"""
    a, b = best["recommended_value"], other["recommended_value"]
    sa = best.get(f"{monitor}_noise", float("nan"))
    sb = other.get(f"{monitor}_noise", float("nan"))
    if not (math.isfinite(sa) and math.isfinite(sb)):
        return a < b
    if a > 0 and b > 0 and best.get(f"{monitor}_log_scale", True):
        gap = math.log(b) - math.log(a)
    else:
        gap = b - a
    return gap > BEYOND_NOISE_Z * math.hypot(sa, sb)


def _break_tie(tied, pairs, monitor):
    names = {r["name"] for r in tied}
    steadier = []
    for pair in pairs:
        if (pair["series"] == monitor and pair["beyond_noise"]
                and pair["noisier"] in names and pair["steadier"] in names):
            steadier.append(pair)
    noisier = {p["noisier"] for p in steadier}
    calm = [r for r in tied if r["name"] not in noisier and any(
        p["steadier"] == r["name"] for p in steadier)]
    if calm:
        keep = min(calm, key=lambda r: r["recommended_value"])
        shown = [p for p in steadier if p["steadier"] == keep["name"]]
        return keep, f"{keep['name']} is steadier: {shown[0]['sentence']}."
    warned = min(r["n_warnings"] for r in tied)
    fewest = [r for r in tied if r["n_warnings"] == warned]
    keep = min(fewest, key=lambda r: r["recommended_value"])
    if len(fewest) < len(tied):
        return keep, (f"{keep['name']} has the fewest warnings "
                      f"({warned}) and no noise difference beyond noise.")
    return keep, (f"no noise difference is beyond noise either, so "
                  f"{keep['name']}, with the lowest value, is kept.")


def _value_text(row, monitor):
    return (f"smoothed {monitor} {_fmt(row['recommended_value'])} at epoch "
            f"{row['recommended_epoch']}")


def _names(names):
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _fmt(value):
    return f"{value:.3g}" if math.isfinite(value) else str(value)
