"""Checking each rate change on the run itself, and spotting an over-cut.

After a change the policy projects the monitored curve's trend from before
it, waits `verify_epochs`, and compares the mean of the raw values since
the change with the projection. A cut (or a warm-up) is kept only if the
curve ran below the projection by more than the noise band.

Pure functions of `EpochStats` and `ControlState`; this module imports
neither keras nor tensorflow.
"""

import math

import numpy as np

# Epochs before a change that give its projected trend, and epochs of a
# straight decline needed before a warm-up: the engine's minimum for a
# trend (`stats.MIN_POINTS_TREND`).
TREND_WINDOW = 5
# A change helped when the mean since the change is below the projection
# by this many noise sigmas: the policy's improvement band
# (`policy.NOISE_BAND_SIGMAS`), so a change counts as helping on the same
# evidence a plateau counts as ending.
HELPED_SIGMAS = 0.5
# The weights are restored with the rate only when the mean since the
# change is this many sigmas above the level at the change: the mean of 3
# values has sd 0.58 sigma and the smoothed level about 0.6, so their
# difference has sd about 0.83 and 1.5 sigma is 1.8 sd (about 4 % false
# restores on a curve that did not move).
WORSE_SIGMAS = 1.5
# A cut made on oscillation or spikes also helped if the saw-tooth (the
# mean absolute epoch-to-epoch step of the training loss) shrank below this
# share of its size before the cut: halving the rate halves the part of the
# step the rate drives, and 0.75 is midway between no change and that.
SAWTOOTH_SHRINK = 0.75
# An over-cut: the smoothed curve falls over the window by at least this
# many noise sigmas, so the noise is far below the progress...
WARMUP_PROGRESS_SIGMAS = 4.0
# ...in a straight line: the slope of the window's second half is at least
# this share of the first half's. An exponential approach to a floor with
# time constant tau has the ratio exp(-2/tau); 0.7 means tau > 5.6 epochs,
# far from the floor, where progress is limited by the step size.
WARMUP_STRAIGHTNESS = 0.7
# The fit of a line needs at least three points.
MIN_LINE_POINTS = 3


def _finite_pairs(pairs, start=-math.inf, end=math.inf):
    return [(e, v) for e, v in pairs
            if start < e <= end and math.isfinite(v)]


def slope_of(pairs):
    """Least-squares slope per epoch of `(epoch, value)` pairs (0.0 with
    fewer than `MIN_LINE_POINTS`)."""
    if len(pairs) < MIN_LINE_POINTS:
        return 0.0
    x = np.asarray([e for e, _ in pairs], dtype=np.float64)
    y = np.asarray([v for _, v in pairs], dtype=np.float64)
    x = x - x.mean()
    denominator = float(np.sum(x * x))
    return float(np.sum(x * (y - y.mean())) / denominator) if (
        denominator > 0) else 0.0


def baseline(stats, since=-1):
    """`(level, slope)`: the smoothed monitored level at this epoch and its
    trend over the last `TREND_WINDOW` epochs after `since` (the previous
    change: an older rate's trend says nothing of this one), the
    projection a change is judged against."""
    pairs = _finite_pairs(stats.smoothed, start=since,
                          end=stats.epoch)[-TREND_WINDOW:]
    level = pairs[-1][1] if pairs else stats.level
    return float(level), slope_of(pairs)


def sawtooth(losses, start, end):
    """Mean absolute epoch-to-epoch change of the training loss over the
    epochs in `(start, end]` (NaN with fewer than two)."""
    values = [v for _, v in _finite_pairs(losses, start, end)]
    if len(values) < 2:
        return math.nan
    return float(np.mean(np.abs(np.diff(values))))


def judge(state, stats, band_floor=0.0):
    """Verdict on the change under trial.

    Args:
        state: `ControlState` with a trial (`trial_epoch >= 0`).
        stats: `EpochStats` at least `verify_epochs` after it.
        band_floor: float. The smallest noise band (`min_delta`).

    Returns:
        `(verdict, evidence)`: `"helped"`, `"neutral"` or `"worse"`, and
        the numbers behind it.
    """
    since = _finite_pairs(stats.values, start=state.trial_epoch,
                          end=stats.epoch)
    noise = state.trial_noise
    if not math.isfinite(noise):
        noise = stats.noise if math.isfinite(stats.noise) else 0.0
    evidence = {"level_at_change": state.trial_level,
                "slope_before": state.trial_slope, "noise": noise}
    if not since:
        return "neutral", evidence
    actual = float(np.mean([v for _, v in since]))
    ahead = float(np.mean([e - state.trial_epoch for e, _ in since]))
    projected = state.trial_level + state.trial_slope * ahead
    helped_band = max(band_floor, HELPED_SIGMAS * noise)
    worse_band = max(band_floor, WORSE_SIGMAS * noise)
    evidence.update(mean_since=actual, projected=projected,
                    helped_band=helped_band, worse_band=worse_band)
    helped = actual < projected - helped_band
    if state.trial_kind == "cut" and state.trial_reason != "plateau":
        after = sawtooth(stats.losses, state.trial_epoch - 1, stats.epoch)
        if math.isfinite(after) and state.trial_sawtooth > 0:
            ratio = after / state.trial_sawtooth
            evidence["sawtooth_ratio"] = ratio
            helped = helped or (ratio <= SAWTOOTH_SHRINK
                                and actual <= projected + helped_band)
    if helped:
        return "helped", evidence
    if actual > state.trial_level + worse_band:
        return "worse", evidence
    return "neutral", evidence


def overcut(state, stats):
    """Evidence that the last cut went too far, or None.

    The smoothed curve over the last `TREND_WINDOW` epochs, all after the
    last change, falls in a straight line by many noise sigmas: progress
    is limited by the step size, and a larger step would go faster.
    """
    start = max(state.last_change_epoch, -1)
    pairs = _finite_pairs(stats.smoothed, start=start, end=stats.epoch)
    if len(pairs) < TREND_WINDOW or not math.isfinite(stats.noise):
        return None
    pairs = pairs[-TREND_WINDOW:]
    slope = slope_of(pairs)
    fall = -slope * (len(pairs) - 1)
    half = len(pairs) // 2
    first, second = slope_of(pairs[:half + 1]), slope_of(pairs[half:])
    if not (slope < 0 and fall > WARMUP_PROGRESS_SIGMAS * stats.noise):
        return None
    if not (first < 0 and second <= WARMUP_STRAIGHTNESS * first):
        return None
    return {"fall": fall, "noise": float(stats.noise),
            "fall_in_noise_sigmas": fall / stats.noise
            if stats.noise > 0 else math.inf,
            "slope_first_half": first, "slope_second_half": second}
