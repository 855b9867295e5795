"""Robust statistics of training curves: smoothing, noise, trend, spikes.

Everything here works on 1-D numpy arrays, treats NaN as missing, and
imports neither keras nor tensorflow. Short inputs give NaN, not errors.
"""

import math
import warnings

import numpy as np
from scipy import stats as scipy_stats

# 1.4826 * MAD estimates the standard deviation of normal data:
# 1 / Phi^-1(3/4) = 1.4826.
MAD_TO_SIGMA = 1.4826

# The leave-one-out residual r_i = y_i - (-y[i-2] + 4 y[i-1] + 4 y[i+1]
# - y[i+2]) / 6 is exact (zero) for any cubic trend; for white noise of
# standard deviation s its variance is s^2 (1 + (1 + 16 + 16 + 1) / 36).
LOO_CUBIC_WEIGHTS = np.array([-1.0, 4.0, 4.0, -1.0]) / 6.0
LOO_CUBIC_VARIANCE_FACTOR = 1.0 + float(np.sum(LOO_CUBIC_WEIGHTS**2))

# Fewer points than this and a noise estimate is not meaningful: the
# leave-one-out residual needs two neighbours on each side.
MIN_POINTS_NOISE = 5

# A MAD needs a few residuals to mean anything; 3 residuals need 7 points.
MIN_RESIDUALS = 3

# Fewer points than this and Kendall's tau cannot reach p < 0.05
# (with 4 points the smallest two-sided p is 0.083).
MIN_POINTS_TREND = 5

# The tail used for "is it still moving at the end" tests: the last third
# of the run, as the late phase of a typical learning curve.
TAIL_FRACTION = 1.0 / 3.0

# Exact Theil-Sen up to this many pairs (2,000 points, about 30 ms and
# 16 MB of slopes).
THEIL_SEN_MAX_PAIRS = 2_000_000
# Up to this many points the pairwise differences are taken as n x n
# matrices (8 MB each at 1,000), faster than a loop over lags.
THEIL_SEN_MATRIX_POINTS = 1000
# Longer segments use this many random pairs (see theil_sen_slope): about
# 15 ms a call, and the median's rank within 0.5 / sqrt(500,000) = 0.07 %.
THEIL_SEN_SAMPLED_PAIRS = 500_000
# Fixed seed of the pairs drawn for long segments: same input, same slope.
THEIL_SEN_SEED = 20240601


def finite(values):
    """Returns the finite values of `values` as a float64 array."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return values[np.isfinite(values)]


def _fill_missing(values):
    """Linearly interpolates NaN/inf gaps so smoothers see a full curve."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    mask = np.isfinite(values)
    if mask.all() or not mask.any():
        return values.copy()
    index = np.arange(len(values))
    return np.interp(index, index[mask], values[mask])


def running_median(values, window):
    """Centered running median; the window shrinks symmetrically at the
    edges, so the first and last points are kept as they are.

    The interior is one vectorised median over a sliding-window view, so
    the cost is linear in the length (the window is a small constant).
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    half = window // 2
    out = np.empty(n)
    if n > 2 * half:
        windows = np.lib.stride_tricks.sliding_window_view(
            values, 2 * half + 1)
        out[half:n - half] = np.median(windows, axis=1)
    # The edges: at most `half` points at each end, each with its own
    # shrunken window.
    for i in list(range(min(half, n))) + list(range(max(n - half, half), n)):
        h = min(half, i, n - 1 - i)
        out[i] = np.median(values[i - h : i + h + 1])
    return out


def robust_smooth(values):
    """Tukey-style robust smoother (running medians of 5 then 3, then a
    Hanning pass), robust to single spikes and gaps.

    Args:
        values: 1-D array. NaN or inf values are interpolated over.

    Returns:
        A float64 array of the same length (all NaN if no value is finite).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(values)
    if n == 0 or not np.isfinite(values).any():
        return np.full(n, np.nan)
    filled = _fill_missing(values)
    if n < 3:
        return filled
    smooth = running_median(running_median(filled, 5), 3)
    # Tukey's end-point rule: extrapolate from the next two smoothed points
    # so the ends follow the trend instead of sticking to a raw value.
    if n >= 4:
        smooth[0] = np.median([filled[0], smooth[1], 2 * smooth[1] - smooth[2]])
        smooth[-1] = np.median(
            [filled[-1], smooth[-2], 2 * smooth[-2] - smooth[-3]]
        )
    hann = smooth.copy()
    hann[1:-1] = 0.25 * smooth[:-2] + 0.5 * smooth[1:-1] + 0.25 * smooth[2:]
    return hann


def loo_residuals(values):
    """Leave-one-out local-cubic residuals of the interior points.

    Args:
        values: 1-D array, NaN allowed (points whose window holds a NaN
            are skipped).

    Returns:
        A float64 array of residuals (possibly empty).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) < MIN_POINTS_NOISE:
        return np.empty(0)
    w = LOO_CUBIC_WEIGHTS
    interp = (
        w[0] * values[:-4] + w[1] * values[1:-3] + w[2] * values[3:-1]
        + w[3] * values[4:]
    )
    residual = values[2:-2] - interp
    return residual[np.isfinite(residual)]


def robust_sigma(values):
    """Robust standard deviation: 1.4826 * MAD (NaN if empty)."""
    values = finite(values)
    if len(values) == 0:
        return float("nan")
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def noise_level(values):
    """Standard deviation of the noise around the curve's trend.

    The residuals of a leave-one-out local-cubic fit are free of any smooth
    trend; their MAD, scaled for the residual's known variance inflation,
    estimates the noise standard deviation without bias for white noise and
    is insensitive to a few spikes.

    Args:
        values: 1-D array.

    Returns:
        float. NaN when fewer than `MIN_POINTS_NOISE` usable points.
    """
    residual = loo_residuals(values)
    if len(residual) < MIN_RESIDUALS:
        return float("nan")
    return robust_sigma(residual) / math.sqrt(LOO_CUBIC_VARIANCE_FACTOR)


def relative_noise_level(values):
    """Noise relative to the curve's level, for strictly positive curves.

    Losses often fluctuate in proportion to their level, so the residuals
    are taken on the log scale: the result is a fraction of the level
    (0.05 means about 5 % noise). NaN for curves with non-positive values.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    fin = finite(values)
    if len(fin) == 0 or np.any(fin <= 0):
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(values)
    return noise_level(logs)


def flip_rate(values):
    """Share of sign changes between consecutive first differences.

    About 2/3 for white noise, 0 for a monotone curve, 1 for a curve that
    alternates up and down every epoch. Zero differences are ignored.

    Returns:
        float. NaN when fewer than two non-zero differences.
    """
    diffs = np.diff(finite(values))
    diffs = diffs[diffs != 0]
    if len(diffs) < 2:
        return float("nan")
    signs = np.sign(diffs)
    return float(np.mean(signs[1:] != signs[:-1]))


def tail_slice(n, fraction=TAIL_FRACTION, minimum=MIN_POINTS_TREND):
    """Index of the first point of the tail of an `n`-point curve."""
    size = max(minimum, int(math.ceil(n * fraction)))
    return max(0, n - size)


def trend(values, start=0):
    """Theil-Sen slope and Kendall's tau of `values[start:]` over time.

    Up to `THEIL_SEN_MAX_PAIRS` pairs of points the slope is the exact
    median of all pairwise slopes; on longer segments it is the median over
    that many pairs drawn at random with a fixed seed (see
    `theil_sen_slope`). Kendall's tau is exact at any length (O(n log n)).
    Rules that need only the test use `trend_test`, which skips the slope.

    Args:
        values: 1-D array, NaN allowed (dropped with their time index).
        start: int. First index of the segment.

    Returns:
        `(slope, tau, p_value)`, all NaN when fewer than
        `MIN_POINTS_TREND` finite points; slope 0 with tau and p NaN for a
        constant segment.
    """
    points = _trend_points(values, start)
    if points is None:
        return float("nan"), float("nan"), float("nan")
    x, y = points
    if _flat(y):
        return 0.0, float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slope = theil_sen_slope(x, y)
    return (float(slope), *_kendall(x, y))


def trend_test(values, start=0):
    """Kendall's tau of `values[start:]` over time and its p-value: the
    test of `trend` without the Theil-Sen slope (an all-pairs median,
    about 2 ms on 1,000 points, that a rule reading only the test would
    throw away). Equal to `trend(values, start)[1:]`.

    Args:
        values: 1-D array, NaN allowed (dropped with their time index).
        start: int. First index of the segment.

    Returns:
        `(tau, p_value)`, both NaN when fewer than `MIN_POINTS_TREND`
        finite points or a constant segment.
    """
    points = _trend_points(values, start)
    if points is None or _flat(points[1]):
        return float("nan"), float("nan")
    return _kendall(*points)


def _trend_points(values, start):
    """`(x, y)`: the time index of the finite values of `values[start:]`,
    and those values; None when there are fewer than `MIN_POINTS_TREND`."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)[start:]
    mask = np.isfinite(values)
    if mask.sum() < MIN_POINTS_TREND:
        return None
    return np.arange(len(values), dtype=np.float64)[mask], values[mask]


def _flat(y):
    """True for a constant segment, or one whose range overflows: no
    trend to test."""
    spread = np.ptp(y)
    return spread == 0 or not np.isfinite(spread)


def _kendall(x, y):
    """`(tau, p_value)` of Kendall's test, as floats."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau, p_value = scipy_stats.kendalltau(x, y)
    return float(tau), float(p_value)


def theil_sen_slope(x, y):
    """Theil-Sen slope: the median of the slopes of all pairs of points.

    With at most `THEIL_SEN_MAX_PAIRS` pairs it is exact, and equal to
    `scipy.stats.theilslopes(y, x)[0]` to the last bit (same differences,
    same median), without scipy's sort and confidence interval. Beyond
    that it is the incomplete (randomised) Theil-Sen estimator: the median
    over `THEIL_SEN_SAMPLED_PAIRS` pairs drawn uniformly at random with a fixed
    seed, so the same input always gives the same slope. A uniformly drawn
    pair touches a corrupted point with the same probability as in the
    complete set of pairs, so the breakdown point is the same,
    1 - 1/sqrt(2) = 29.3 %, and the median's rank is within about
    0.5 / sqrt(THEIL_SEN_SAMPLED_PAIRS) = 0.07 % of the exact one. The cost
    is fixed, which keeps `trend` O(n log n) (Kendall's tau).

    Args:
        x: 1-D float array, strictly increasing.
        y: 1-D float array, same length.

    Returns:
        float.
    """
    n = len(x)
    if n <= THEIL_SEN_MATRIX_POINTS:
        # scipy's own all-pairs differences, without its sort.
        delta_x = x[:, np.newaxis] - x
        delta_y = y[:, np.newaxis] - y
        later = delta_x > 0
        return float(np.median(delta_y[later] / delta_x[later]))
    if n * (n - 1) // 2 <= THEIL_SEN_MAX_PAIRS:
        # The same differences lag by lag, in a quarter of the memory.
        slopes = np.empty(n * (n - 1) // 2)
        at = 0
        for lag in range(1, n):
            size = n - lag
            slopes[at:at + size] = (y[lag:] - y[:-lag]) / (x[lag:] - x[:-lag])
            at += size
        return float(np.median(slopes))
    rng = np.random.default_rng(THEIL_SEN_SEED)
    first = rng.integers(0, n, size=THEIL_SEN_SAMPLED_PAIRS)
    # A second index uniform over the other n - 1 points.
    second = (first + rng.integers(1, n, size=THEIL_SEN_SAMPLED_PAIRS)) % n
    low, high = np.minimum(first, second), np.maximum(first, second)
    return float(np.median((y[high] - y[low]) / (x[high] - x[low])))


def spike_scores(values, sigma, direction="min"):
    """How far each interior point stands out above both neighbours.

    A spike is a local peak: the score is the point's excess over the
    larger of its two neighbours (the smaller one for `"max"` curves), in
    units of `sigma`. In a falling curve a point is normally below its
    left neighbour, so the steep start of training never scores. The first
    and last points have no two neighbours and get NaN.

    Args:
        values: 1-D array.
        sigma: float. The noise level (see `noise_level`).
        direction: str. `"min"` scores upward jumps (losses), `"max"`
            downward ones (accuracies).

    Returns:
        A float64 array (NaN where undefined).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(values)
    scores = np.full(n, np.nan)
    if n < 3 or not np.isfinite(sigma) or sigma <= 0:
        return scores
    left, mid, right = values[:-2], values[1:-1], values[2:]
    with np.errstate(invalid="ignore"):
        if direction == "min":
            excess = mid - np.maximum(left, right)
        else:
            excess = np.minimum(left, right) - mid
    scores[1:-1] = excess / sigma
    return scores


def binomial_standard_error(p, n):
    """Standard error of an accuracy `p` measured on `n` samples:
    sqrt(p (1 - p) / n)."""
    p = min(max(float(p), 0.0), 1.0)
    return math.sqrt(p * (1.0 - p) / float(n))
