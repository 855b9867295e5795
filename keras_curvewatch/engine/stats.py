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
    edges, so the first and last points are kept as they are."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    half = window // 2
    out = np.empty(n)
    for i in range(n):
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

    Args:
        values: 1-D array, NaN allowed (dropped with their time index).
        start: int. First index of the segment.

    Returns:
        `(slope, tau, p_value)`, all NaN when fewer than
        `MIN_POINTS_TREND` finite points or a constant segment.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)[start:]
    index = np.arange(len(values), dtype=np.float64)
    mask = np.isfinite(values)
    if mask.sum() < MIN_POINTS_TREND:
        return float("nan"), float("nan"), float("nan")
    x, y = index[mask], values[mask]
    if np.ptp(y) == 0 or not np.isfinite(np.ptp(y)):
        return 0.0, float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slope = scipy_stats.theilslopes(y, x)[0]
        tau, p_value = scipy_stats.kendalltau(x, y)
    return float(slope), float(tau), float(p_value)


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


def batch_periodicity(batch_losses, steps_per_epoch):
    """Does the per-batch loss repeat with period `steps_per_epoch`?

    The losses are cut into epochs and divided by a learning trend drawn
    through the epoch means; then a one-way ANOVA asks whether the position
    inside the epoch explains the remaining variance.

    Args:
        batch_losses: 1-D array of per-batch training losses, in order.
        steps_per_epoch: int. Batches per epoch.

    Returns:
        dict with `n_epochs`, `r2` (share of the detrended variance that the
        in-epoch position explains), `p_value` (ANOVA), `profile_lag1`
        (lag-1 autocorrelation of the mean in-epoch profile: near 1 for a
        smooth saw-tooth, near 0 for a repeated random order),
        `cross_epoch_corr` (mean correlation of consecutive epochs'
        detrended losses), and `profile_amplitude` (range of the mean
        profile relative to the mean loss). Empty dict when there are fewer
        than 3 full epochs of at least 4 steps.
    """
    losses = np.asarray(batch_losses, dtype=np.float64).reshape(-1)
    steps = int(steps_per_epoch or 0)
    if steps < 4:
        return {}
    n_epochs = len(losses) // steps
    if n_epochs < 3:
        return {}
    table = losses[: n_epochs * steps].reshape(n_epochs, steps)
    if n_epochs >= 4:
        # The first epoch is dominated by the initial fall of the loss.
        table = table[1:]
        n_epochs -= 1
    if not np.isfinite(table).all():
        keep = np.isfinite(table).all(axis=1)
        table = table[keep]
        n_epochs = len(table)
        if n_epochs < 3:
            return {}
    # The learning trend is continuous across epochs while a periodic
    # pattern resets at each epoch boundary: interpolating between epoch
    # means (which average the pattern out) gives a trend free of it.
    means = table.mean(axis=1)
    centres = np.arange(n_epochs) * steps + (steps - 1) / 2.0
    trend_line = np.interp(np.arange(n_epochs * steps), centres, means)
    trend_line = trend_line.reshape(n_epochs, steps)
    if np.all(trend_line > 0):
        detrended = table / trend_line - 1.0
    else:
        detrended = table - trend_line
    detrended = detrended - detrended.mean(axis=1, keepdims=True)
    total = float(np.sum(detrended**2))
    if total <= 0 or not np.isfinite(total):
        return {}
    profile = detrended.mean(axis=0)
    between = float(n_epochs * np.sum(profile**2))
    within = total - between
    df_between, df_within = steps - 1, (n_epochs - 1) * steps - steps + 1
    df_within = max(df_within, 1)
    if within <= 0:
        f_stat, p_value = float("inf"), 0.0
    else:
        f_stat = (between / df_between) / (within / df_within)
        p_value = float(scipy_stats.f.sf(f_stat, df_between, df_within))
    if np.std(profile[:-1]) > 0 and np.std(profile[1:]) > 0:
        lag1 = float(np.corrcoef(profile[:-1], profile[1:])[0, 1])
    else:
        lag1 = 0.0
    corrs = []
    for e in range(n_epochs - 1):
        a, b = detrended[e], detrended[e + 1]
        if np.std(a) > 0 and np.std(b) > 0:
            corrs.append(np.corrcoef(a, b)[0, 1])
    mean_loss = float(np.mean(np.abs(table)))
    return {
        "n_epochs": float(n_epochs),
        "r2": between / total,
        "p_value": p_value,
        "profile_lag1": lag1,
        "cross_epoch_corr": float(np.mean(corrs)) if corrs else 0.0,
        "profile_amplitude": float(np.ptp(profile) / mean_loss)
        if mean_loss > 0
        else float("nan"),
    }


def batch_noise(batch_losses, steps_per_epoch=None):
    """Noise of the per-batch loss around its trend.

    Returns:
        dict with `n_batches`, `batch_std` (robust noise of the batch
        losses over the last epoch or the last 200 batches), `batch_cv`
        (that noise divided by the mean loss there) and `flip_rate`.
    """
    losses = finite(batch_losses)
    if len(losses) < MIN_POINTS_NOISE:
        return {"n_batches": float(len(losses))}
    window = int(steps_per_epoch) if steps_per_epoch else 200
    window = max(MIN_POINTS_NOISE, min(len(losses), max(window, 20)))
    recent = losses[-window:]
    sigma = noise_level(recent)
    level = float(np.mean(np.abs(recent)))
    return {
        "n_batches": float(len(losses)),
        "batch_std": sigma,
        "batch_cv": sigma / level if level > 0 else float("nan"),
        "flip_rate": flip_rate(recent),
    }
