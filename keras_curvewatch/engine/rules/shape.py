"""Shape statistics read the way a person reads a plot: changes relative to
the curve's own level and range, against its usual epoch-to-epoch change.

Pure numpy; shared by the rules.
"""

import math

import numpy as np

from keras_curvewatch.engine import stats

# A metric is frozen when it moves less than 0.1 point over the stretch:
# a logged accuracy on any validation set of up to 1,000 samples can only
# take steps of 0.1 point or more, so it did not change a single answer.
FROZEN_METRIC_RANGE = 1e-3
# Chance level: an accuracy within 5 points of 1/K (or the loss within 3 %
# of ln K) is what guessing among K classes gives, give or take the
# sampling error of a few hundred validation samples (2-3 points).
CHANCE_ACCURACY_TOLERANCE = 0.05
CHANCE_LOSS_TOLERANCE = 0.03
# Chance levels are checked up to 1,000 classes: an accuracy of 1e-3 or a
# loss of ln(1000) = 6.9 is as far as "a uniform guess" stays checkable
# against the metric.
CHANCE_MAX_CLASSES = 1000


def finite_positive(values):
    """True when every value is finite and > 0 (log scale is usable)."""
    values = np.asarray(values, dtype=np.float64)
    return bool(len(values)) and bool(np.isfinite(values).all()) and bool(
        (values > 0).all())


def to_scale(values):
    """Values on the scale a person judges relative change on: log for
    positive curves, else the raw values."""
    values = np.asarray(values, dtype=np.float64)
    return np.log(values) if finite_positive(values) else values


def robust_slope(values):
    """Theil-Sen slope per epoch of `values` (NaN dropped); NaN with fewer
    than 2 finite points. Works on 2-4 points, where `stats.trend` does
    not."""
    values = np.asarray(values, dtype=np.float64)
    x = np.flatnonzero(np.isfinite(values)).astype(np.float64)
    y = values[np.isfinite(values)]
    if len(y) < 2:
        return float("nan")
    if len(y) > 200:
        keep = np.linspace(0, len(y) - 1, 200).astype(int)
        x, y = x[keep], y[keep]
    i, j = np.triu_indices(len(y), k=1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))


def usual_change(values):
    """The usual epoch-to-epoch change around the trend, in the curve's
    units: the robust sigma of each point's distance from its two
    neighbours' mean, divided by sqrt(1.5) (that distance has variance
    1.5 sigma^2 for white noise of sigma). NaN with fewer than 4
    points."""
    values = stats.finite(values)
    if len(values) < 4:
        return float("nan")
    resid = values[1:-1] - 0.5 * (values[:-2] + values[2:])
    return stats.robust_sigma(resid) / math.sqrt(1.5)


def is_frozen(values, tolerance=FROZEN_METRIC_RANGE):
    """True when a finite curve of 3+ points moves less than
    `tolerance` in total."""
    values = stats.finite(values)
    return len(values) >= 3 and float(np.ptp(values)) < tolerance


def chance_classes(accuracy):
    """The K of a uniform guess over K classes that an accuracy agrees
    with (within `CHANCE_ACCURACY_TOLERANCE`, at most a quarter of 1/K),
    or None. A loss alone never claims K: a regression loss of 1.61 is
    not 5 classes.

    Args:
        accuracy: float. A typical accuracy of the stretch.

    Returns:
        int K >= 2, or None.
    """
    if accuracy is None or not np.isfinite(accuracy) or not (
            0.5 / CHANCE_MAX_CLASSES < accuracy <= 1.0):
        return None
    k = int(round(1.0 / accuracy))
    if not 2 <= k <= CHANCE_MAX_CLASSES:
        return None
    if abs(accuracy - 1.0 / k) > min(CHANCE_ACCURACY_TOLERANCE, 0.25 / k):
        return None
    return k


def tail_mean(values, k):
    """Mean of the last `k` finite values (NaN if none)."""
    fin = stats.finite(values)
    return float(np.mean(fin[-k:])) if len(fin) else float("nan")


def curve_range(values):
    """The span of a plot of the curve: max - min of its finite values."""
    fin = stats.finite(values)
    return float(np.ptp(fin)) if len(fin) else float("nan")


def reversals(values, step, min_share_of_range=0.0):
    """How often the curve jumps one way and straight back: pairs of
    consecutive epoch-to-epoch moves in opposite directions, each at least
    `step` on the curve's scale (`to_scale`) and at least
    `min_share_of_range` of the plot's height (raw units).

    Args:
        values: 1-D array.
        step: float. Smallest move that counts, on the log scale for
            positive curves.
        min_share_of_range: float. Smallest move as a share of the
            curve's range. Defaults to 0.

    Returns:
        `(count, rate)`: the number of reversals and that number per
        interior epoch (0 for fewer than 3 points).
    """
    raw = stats.finite(values)
    if len(raw) < 3:
        return 0, 0.0
    moves = np.diff(to_scale(raw))
    raw_moves = np.abs(np.diff(raw))
    spread = float(np.ptp(raw))
    big = (np.abs(moves) >= step) & (raw_moves >= min_share_of_range * spread)
    flips = big[1:] & big[:-1] & (moves[1:] * moves[:-1] < 0)
    return int(flips.sum()), float(flips.sum()) / (len(raw) - 2)


def _positive_curve(values, min_length):
    """`(values, logs, usual, spread)` of a positive finite curve of at
    least `min_length` points (the usual move is the median absolute log
    change, the spread the plot's height), or None."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < min_length or not finite_positive(values):
        return None
    logs = np.log(values)
    return (values, logs, float(np.median(np.abs(np.diff(logs)))),
            float(np.ptp(values)))


def jumps(values, min_jump=0.0):
    """Isolated upward jumps of one or two epochs that come back down.

    For each candidate, `(index, width, log_jump, usual, share)`: the jump
    above the higher of the points either side, on the log scale; the
    usual epoch-to-epoch move (median absolute log change); and the jump
    as a share of the plot's height. The last epoch is a candidate of
    width 1 judged against the two epochs before it (it cannot come back
    yet). Positive finite curves only; others give []. Vectorised: linear
    in the run. Jumps below `min_jump` (log scale) are left out.
    """
    curve = _positive_curve(values, 4)
    if curve is None:
        return []
    values, logs, usual, spread = curve
    n = len(values)
    found = {}  # index -> (width, peak, ref)
    for width in (2, 1):  # width 1 wins where both qualify
        index = np.arange(1, n - width)
        peak = logs[index]
        if width == 2:
            peak = np.minimum(peak, logs[index + 1])
        before, after = logs[index - 1], logs[index + width]
        returns = ~(after - before > 0.5 * (peak - before))
        ref = np.maximum(before, after)
        for k in np.flatnonzero(returns & (peak - ref > 0)
                                & (peak - ref >= min_jump)):
            found[int(index[k])] = (width, float(peak[k]), float(ref[k]))
    last_ref = float(np.max(logs[max(0, n - 3):n - 1]))
    if logs[-1] - last_ref > 0 and logs[-1] - last_ref >= min_jump:
        found[n - 1] = (1, float(logs[-1]), last_ref)
    out = []
    for i in sorted(found):
        width, peak, ref = found[i]
        height = math.exp(peak) - math.exp(ref)
        out.append((i, width, peak - ref, usual,
                    height / spread if spread else 0.0))
    return out


def humps(values, max_width):
    """Bumps wider than two epochs that come back down: on a plot of a long
    run, a climb and fall over a few epochs reads as one jump.

    A bump is a local maximum whose curve falls to half the peak on both
    sides within `max_width` epochs (it returns to its level), climbing
    and falling without a reversal in between; its height
    is measured from where the curve sits at a quarter of the peak on
    each side (the level it rose from and returned to). Bumps of one or
    two epochs are `jumps`'s. Positive finite curves only; others give [].

    Args:
        values: 1-D array.
        max_width: int. Widest bump, in epochs above half the peak.

    Returns:
        list of `(index, width, log_jump, usual, share)` as `jumps`, with
        `index` the peak's epoch.
    """
    curve = _positive_curve(values, 8)
    if curve is None or max_width < 3:
        return []
    values, _, usual, spread = curve
    n = len(values)
    # Local maxima with a point at half their height within reach on both
    # sides (running minima: linear in the run), the only candidates.
    from scipy.ndimage import minimum_filter1d

    reach = max_width + 1
    ahead = minimum_filter1d(values, size=reach, origin=-(reach // 2))
    behind = minimum_filter1d(values[::-1], size=reach,
                              origin=-(reach // 2))[::-1]
    inner = values[1:-1]
    half = HUMP_WIDTH_AT * inner
    peaks = np.flatnonzero((inner >= values[:-2]) & (inner >= values[2:])
                           & (behind[:-2] <= half) & (ahead[2:] <= half)) + 1
    out, covered = [], -1
    for p in peaks.tolist():
        peak = values[p]
        if p <= covered:
            continue
        # One climb and one fall, as a step gone wrong makes (noise makes
        # jagged bumps, and a noisy curve has those everywhere): each side
        # is followed only while it keeps falling away from the peak, so
        # the whole search is linear in the run.
        left = _fall_to(values, p, -1, HUMP_WIDTH_AT * peak, max_width + 1)
        right = _fall_to(values, p, 1, HUMP_WIDTH_AT * peak, max_width + 1)
        if left is None or right is None:
            continue
        width = right - left - 1
        if not 3 <= width <= max_width or left < HUMP_MIN_LEAD:
            continue
        base_left = _fall_to(values, p, -1, HUMP_BASE_AT * peak,
                             2 * max_width, steady=False)
        base_right = _fall_to(values, p, 1, HUMP_BASE_AT * peak,
                              2 * max_width, steady=False)
        ref = max(values[left if base_left is None else base_left],
                  values[right if base_right is None else base_right])
        share = (peak - ref) / spread if spread else 0.0
        out.append((p, width, math.log(peak / ref), usual, share))
        covered = right
    return out


# A bump's width is counted where the curve stands above half its peak,
# and its height from where it stands at a quarter of it.
HUMP_WIDTH_AT = 0.5
HUMP_BASE_AT = 0.25
# A bump needs a level to rise from: at least 3 epochs before it (a rise
# over the first epochs is the start of training, not a jump).
HUMP_MIN_LEAD = 3


def _fall_to(values, start, step, level, within, steady=True):
    """The first index from `start` in direction `step` (at most `within`
    steps away) where the curve is at or below `level`, or None; with
    `steady`, also None once the curve stops falling away from `start`."""
    i = start + step
    while 0 <= i < len(values) and abs(i - start) <= within:
        if steady and values[i] > values[i - step]:
            return None
        if values[i] <= level:
            return i
        i += step
    return None


# A jump followed by a steady recovery, falling every epoch on the way,
# within at most a fifth of the run: the curve comes back within half the
# jump (on the log scale) in 3 epochs or more, or to the level it jumped
# from (within a quarter of the jump, the level `humps` measures from) in
# 2 or more. Quicker returns are `jumps`'s, which measures a jump from
# the higher side: a kick that falls back half way in one epoch and then
# slowly the rest is lost there (fresh3 of bench/labelled_fits.py).
RECOVERY_MAX_SHARE_OF_RUN = 0.2
RECOVERY_HALF_MIN_EPOCHS = 3
RECOVERY_FULL_MIN_EPOCHS = 2
RECOVERY_FULL_SHARE = 0.25


def recoveries(values, min_jump=0.0):
    """One-epoch jumps that the curve then recovers from steadily, over
    more epochs than `jumps` looks at (a kick to the weights, then
    retraining): the jump from the level of the epochs before (their
    median), on the log scale.

    Jumps below `min_jump` (log scale, from the level) are left out.

    Returns:
        list of `(index, width, log_jump, usual, share)` as `jumps`, with
        `width` the epochs the recovery took.
    """
    curve = _positive_curve(values, 8)
    if curve is None:
        return []
    values, logs, usual, spread = curve
    n = len(values)
    within = max(RECOVERY_HALF_MIN_EPOCHS,
                 int(n * RECOVERY_MAX_SHARE_OF_RUN))
    out = []
    # The level it jumped from: the median of the 3 epochs before, so
    # that a dip of noise just before is not half of the jump.
    lead = HUMP_MIN_LEAD
    if n - 1 <= lead:
        return []
    # Epoch i (lead <= i < n - 1) jumps from the median of logs[i-lead:i].
    levels = np.median(np.lib.stride_tricks.sliding_window_view(
        logs[:n - 2], lead), axis=1)
    here, previous = logs[lead:n - 1], logs[lead - 1:n - 2]
    rising = ((here > levels) & (here > previous)
              & (here - levels >= min_jump))
    for i in np.flatnonzero(rising) + lead:
        i = int(i)
        level = float(levels[i - lead])
        jump = logs[i] - level
        half = level + 0.5 * jump
        full = level + RECOVERY_FULL_SHARE * jump
        for k in range(i + 1, min(n, i + 1 + within)):
            if logs[k] > logs[k - 1]:
                break  # not a steady recovery
            slow = ((logs[k] <= half and k - i >= RECOVERY_HALF_MIN_EPOCHS)
                    or (logs[k] <= full
                        and k - i >= RECOVERY_FULL_MIN_EPOCHS))
            if slow:
                share = ((values[i] - math.exp(level)) / spread
                         if spread else 0.0)
                out.append((i, k - i, jump, usual, share))
            if slow or logs[k] <= full:
                break  # back already: a quick return is `jumps`'s
    return out
