"""The recommended epoch: which weights to keep, and why.

It is chosen on the smoothed monitored curve, with two guards a person
applies when reading the plot:

- the epoch's raw value is not worse than its neighbours' (a local raw
  peak: the smoother placed its best on an unlucky evaluation);
- the paired metric (val_accuracy for val_loss) is not clearly worse there
  than at later epochs (the val_loss minimum at epoch 0 is no epoch to keep
  when val_accuracy rises from 0.41 to 0.63 afterwards).

This module imports neither keras nor tensorflow.
"""

import dataclasses

import numpy as np

# Two accuracy points: about the standard error of an accuracy measured on
# 600 validation samples (0.5 / sqrt(600) = 0.02); a smaller gap is within
# what a typical validation set can resolve.
METRIC_MIN_GAP = 0.02
# ...and three times the metric's own epoch-to-epoch noise, so a gap that
# the curve's jitter explains does not count as "clearly worse".
METRIC_GAP_SIGMAS = 3.0
# ...and two standard errors of an accuracy measured on n_val samples,
# sqrt(p (1 - p) / n_val): a smaller gap is likely chance (one-sided
# p ~ 0.02). On 40 samples one sample is 2.5 points, not a better epoch.
METRIC_GAP_STANDARD_ERRORS = 2.0
# An accuracy computed on n samples is a multiple of 1/n; without n_val it
# is read from the curve when every value is within this of a multiple.
QUANTUM_TOLERANCE = 1e-3
# Largest multiple of the smallest step tried as the sample count (the
# smallest step seen may be 2 or 3 samples when no two epochs differ by
# exactly one).
MAX_QUANTUM_MULTIPLE = 5


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """The recommended epoch and how it was chosen.

    Args:
        epoch: int. The epoch label to keep.
        raw_best_epoch: int or None. The best raw value of `curve`.
        curve: str. The curve it was chosen on, e.g. `"val_loss"`.
        reason: str. One sentence: the rule used and what it avoided.
    """

    epoch: int
    raw_best_epoch: int
    curve: str
    reason: str


def paired_metric(monitor, loss, val_loss, metric, val_metric):
    """The metric checked against the monitored loss, or None.

    Args:
        monitor: str. The monitored curve.
        loss, val_loss, metric, val_metric: str or None. As chosen by
            `series.pick_curves`.

    Returns:
        str or None. `val_metric` for `val_loss`, `metric` for `loss`.
    """
    if monitor is not None and monitor == val_loss:
        return val_metric
    if monitor is not None and monitor == loss:
        return metric
    return None


def is_raw_peak(stats, index):
    """True when the raw value at `index` is worse than every finite
    neighbour's (one neighbour at either end of the curve).

    Args:
        stats: `SeriesStats`.
        index: int. Position in `stats.values`.

    Returns:
        bool.
    """
    raw = np.asarray(stats.values, dtype=np.float64)
    sign = 1.0 if stats.direction == "min" else -1.0
    neighbours = [raw[j] for j in (index - 1, index + 1)
                  if 0 <= j < len(raw) and np.isfinite(raw[j])]
    return bool(neighbours) and all(
        sign * (raw[index] - value) > 0 for value in neighbours)


def metric_tolerance(stats, n_val=None):
    """The smallest gap that counts as "clearly worse" on curve `stats`.

    Args:
        stats: `SeriesStats` of a metric.
        n_val: int or None. Samples the metric was measured on; read from
            the curve's quantisation when None. Defaults to `None`.

    Returns:
        float.
    """
    noise = stats.noise if np.isfinite(stats.noise) else 0.0
    tolerance = max(METRIC_MIN_GAP, METRIC_GAP_SIGMAS * noise)
    values = np.asarray(stats.values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0 or values.min() < 0 or values.max() > 1:
        return tolerance
    count = n_val or sample_count(values)
    if count:
        share = float(np.clip(np.mean(values), 0.0, 1.0))
        error = np.sqrt(share * (1.0 - share) / count)
        tolerance = max(tolerance, METRIC_GAP_STANDARD_ERRORS * error)
    return tolerance


def sample_count(values):
    """How many samples an accuracy curve was measured on, read from its
    steps (every value a multiple of 1/n), or None.

    Args:
        values: 1-D array of finite values in [0, 1].

    Returns:
        int or None.
    """
    steps = np.diff(np.unique(np.round(values, 7)))
    if len(steps) < 2 or steps.min() <= 0:
        return None
    for multiple in range(1, MAX_QUANTUM_MULTIPLE + 1):
        count = int(round(multiple / steps.min()))
        scaled = values * count
        if np.all(np.abs(scaled - np.round(scaled)) < QUANTUM_TOLERANCE
                  * max(count, 1) ** 0.5):
            return count
    return None


def later_gaps(stats):
    """How much better the smoothed curve gets after each epoch.

    Args:
        stats: `SeriesStats`.

    Returns:
        1-D float array: for each position, the best smoothed value after
        it minus the value there, raw or smoothed, whichever is worse (in
        the "better" direction; -inf when nothing finite follows, NaN
        where the value is missing).
    """
    sign = -1.0 if stats.direction == "min" else 1.0
    good = sign * np.asarray(stats.smoothed, dtype=np.float64)
    raw = sign * np.asarray(stats.values, dtype=np.float64)
    filled = np.where(np.isfinite(good), good, -np.inf)
    # Best value strictly after each position: reversed running maximum.
    after = np.maximum.accumulate(filled[::-1])[::-1]
    after = np.append(after[1:], -np.inf)
    # The weights kept give the raw value: it must not be clearly worse
    # either (np.fmin ignores a missing raw value).
    return after - np.fmin(good, raw)


def recommend_epoch(series, monitor, metric=None, n_val=None):
    """Chooses the epoch to keep.

    The best smoothed value of `monitor` whose raw value is not a local
    peak and where `metric` (if given) is not clearly worse than at later
    epochs (by more than `metric_tolerance`). If no epoch passes both, the
    choice is made on `metric` itself.

    Args:
        series: dict of str to `SeriesStats`.
        monitor: str or None. The curve to choose on, e.g. `"val_loss"`.
        metric: str or None. The metric to check, e.g. `"val_accuracy"`.
            Defaults to `None`.
        n_val: int or None. Validation samples, for the sampling error of
            `metric`. Defaults to `None`.

    Returns:
        `Recommendation`, or None when `monitor` has no finite value.
    """
    stats = series.get(monitor) if monitor is not None else None
    if stats is None or stats.n_finite == 0:
        return None
    checked = series.get(metric) if metric is not None else None
    if checked is not None and (checked.n_finite == 0
                                or len(checked.values) != len(stats.values)):
        checked = None
    order = _candidates(stats)
    if not order:
        return Recommendation(stats.raw_best_epoch, stats.raw_best_epoch,
                              monitor, f"best raw {monitor}")
    gaps = later_gaps(checked) if checked is not None else None
    tolerance = (metric_tolerance(checked, n_val) if checked is not None
                 else None)
    for index in order:
        if is_raw_peak(stats, index):
            continue
        if gaps is not None and gaps[index] > tolerance:
            continue
        reason = _reason(stats, checked, order[0], index, gaps, tolerance)
        return Recommendation(int(stats.epochs[index]), stats.raw_best_epoch,
                              monitor, reason)
    if checked is not None:
        chosen = recommend_epoch(series, metric)
        first = order[0]
        return dataclasses.replace(chosen, reason=(
            f"best smoothed {metric}: every epoch with a good {monitor} "
            f"has a {metric} clearly below later ones (epoch "
            f"{stats.epochs[first]}: {_fmt(checked.values[first])})"))
    return Recommendation(stats.raw_best_epoch, stats.raw_best_epoch,
                          monitor, f"best raw {monitor}")


def _candidates(stats):
    """Positions with a finite raw and smoothed value, best smoothed
    first (ties: earliest first)."""
    raw = np.asarray(stats.values, dtype=np.float64)
    smooth = np.asarray(stats.smoothed, dtype=np.float64)
    if len(smooth) != len(raw):
        return []
    usable = np.flatnonzero(np.isfinite(raw) & np.isfinite(smooth))
    sign = 1.0 if stats.direction == "min" else -1.0
    keys = sign * smooth[usable]
    return [int(i) for i in usable[np.argsort(keys, kind="stable")]]


def _fmt(value):
    return f"{float(value):.3g}"


def _reason(stats, checked, first, chosen, gaps, tolerance):
    best = "lowest" if stats.direction == "min" else "highest"
    optimum = "minimum" if stats.direction == "min" else "maximum"
    name = stats.name
    text = f"{best} smoothed {name}"
    if first == chosen:
        return text
    epoch = stats.epochs[first]
    if gaps is not None and gaps[first] > tolerance:
        return (
            f"{text} where {checked.name} is near its best; at epoch "
            f"{epoch}, the smoothed {name} {optimum}, {checked.name} was "
            f"{_fmt(checked.values[first])}, against "
            f"{_fmt(checked.values[chosen])} at epoch "
            f"{stats.epochs[chosen]}"
        )
    return (
        f"{text} whose raw value is not a local peak; epoch {epoch}, the "
        f"smoothed {optimum}, has a raw {name} of "
        f"{_fmt(stats.values[first])}, worse than its neighbours'"
    )
