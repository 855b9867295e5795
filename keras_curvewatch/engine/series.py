"""Per-curve metrics (`SeriesStats`) and the choice of curves to analyse.

Imports neither keras nor tensorflow.
"""

import re

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.series_stats import SeriesStats

# Substrings of metric names where higher is better.
_HIGHER_IS_BETTER = (
    "acc", "auc", "dice", "iou", "f1", "precision", "recall", "sensitivity",
    "specificity", "top", "r2", "psnr", "ssim", "fbeta", "score",
    "true_positives", "true_negatives", "map",
)
# Substrings of metric names where lower is better (checked first).
_LOWER_IS_BETTER = (
    "loss", "error", "mae", "mse", "rmse", "mape", "msle", "crossentropy",
    "hinge", "kl", "poisson", "cosine_similarity_loss", "false_",
    "perplexity", "distance",
)
# Columns that are not curves to diagnose.
_NOT_CURVES = ("epoch", "learning_rate", "lr", "batch", "size", "time")
# Per-epoch statistics written by the live callback (`loss_batch_std`...).
_BATCH_STAT_SUFFIXES = ("_batch_std", "_batch_mean", "_batch_min",
                        "_batch_max", "_flip_rate", "_batch_count",
                        "_batch_size")

# A spike is at least 6 noise sigmas above the median of its neighbours:
# white noise passes that with probability about 1e-9 per point.
SPIKE_MIN_SCORE = 6.0
# ...and, for losses, at least 50 % above that median, so a spike in a very
# smooth curve is still a jump a user would see on a plot.
SPIKE_MIN_RELATIVE_JUMP = 0.5
# For bounded metrics (accuracy), a drop of at least 10 points.
SPIKE_MIN_ABSOLUTE_DROP = 0.10

ACCURACY_NAMES = (
    "accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "binary_accuracy",
)


def direction_of(name):
    """`"min"` if lower values of metric `name` are better, else `"max"`,
    guessed from the name: the fallback when no Keras metric object says
    (`RunContext.metric_directions`)."""
    base = name[4:] if name.startswith("val_") else name
    base = base.lower()
    if any(token in base for token in _LOWER_IS_BETTER):
        return "min"
    if any(token in base for token in _HIGHER_IS_BETTER):
        return "max"
    return "min"


def is_curve(name):
    """True for columns worth diagnosing (not epoch, lr or batch stats)."""
    base = name[4:] if name.startswith("val_") else name
    if base.lower() in _NOT_CURVES:
        return False
    return not any(base.endswith(suffix) for suffix in _BATCH_STAT_SUFFIXES)


def pick_curves(keys):
    """Chooses the loss, validation loss, metric and validation metric.

    Args:
        keys: iterable of curve names.

    Returns:
        `(loss, val_loss, metric, val_metric)`; each a name or None.
    """
    keys = list(keys)
    loss = "loss" if "loss" in keys else None
    if loss is None:
        candidates = [k for k in keys if k.endswith("loss")
                      and not k.startswith("val_") and is_curve(k)]
        loss = candidates[0] if candidates else None
    val_loss = None
    if loss is not None and "val_" + loss in keys:
        val_loss = "val_" + loss
    elif "val_loss" in keys:
        val_loss = "val_loss"
    metric = None
    for name in ACCURACY_NAMES:
        if name in keys:
            metric = name
            break
    if metric is None:
        accs = [k for k in keys if not k.startswith("val_")
                and re.search(r"(^|_)acc(uracy)?$", k)]
        metric = accs[0] if accs else None
    val_metric = None
    if metric is not None and "val_" + metric in keys:
        val_metric = "val_" + metric
    return loss, val_loss, metric, val_metric


def is_bounded_metric(name, values, direction=None):
    """True for metrics that live in [0, 1] (accuracy, AUC, dice, ...);
    `direction` overrides the one guessed from the name."""
    fin = stats.finite(values)
    return (
        (direction or direction_of(name)) == "max"
        and len(fin) > 0
        and fin.min() >= 0.0
        and fin.max() <= 1.0
    )


def describe_series(name, values, epochs, direction=None):
    """Computes the `SeriesStats` of one curve.

    Args:
        name: str. The curve's name.
        values: 1-D float array (NaN allowed).
        epochs: 1-D int array of epoch labels, same length.
        direction: `"min"`, `"max"` or None. Which way the curve improves,
            when its Keras metric object says; None guesses it from the
            name (`direction_of`).

    Returns:
        `SeriesStats`.
    """
    values = np.asarray(values, dtype=np.float64)
    epochs = np.asarray(epochs, dtype=np.int64)
    direction = direction or direction_of(name)
    finite_mask = np.isfinite(values)
    out = SeriesStats(name=name, direction=direction, n_epochs=len(values))
    out.values = [float(v) for v in values]
    out.epochs = [int(e) for e in epochs]
    out.n_finite = int(finite_mask.sum())
    if out.n_finite == 0:
        out.smoothed = [float("nan")] * len(values)
        return out
    fin = values[finite_mask]
    out.first, out.last = float(fin[0]), float(fin[-1])
    pick = np.nanargmin if direction == "min" else np.nanargmax
    masked = np.where(finite_mask, values, np.nan)
    raw_best = int(pick(masked))
    out.best = float(values[raw_best])
    out.raw_best_epoch = int(epochs[raw_best])
    smooth = stats.robust_smooth(values)
    out.smoothed = [float(v) for v in smooth]
    # Only positions with data can be recommended.
    smooth_masked = np.where(finite_mask, smooth, np.nan)
    best_smooth = int(pick(smooth_masked))
    out.smoothed_best = float(smooth[best_smooth])
    out.smoothed_best_epoch = int(epochs[best_smooth])
    out.noise = stats.noise_level(values)
    if is_bounded_metric(name, values, direction):
        out.relative_noise = out.noise
    else:
        rel = stats.relative_noise_level(values)
        if not np.isfinite(rel) and np.isfinite(out.noise):
            level = float(np.median(np.abs(fin)))
            rel = out.noise / level if level > 0 else float("nan")
        out.relative_noise = rel
    out.flip_rate = stats.flip_rate(values)
    start = stats.tail_slice(len(values))
    out.tail_start_epoch = int(epochs[start])
    out.trend_slope, out.trend_tau, out.trend_p = stats.trend(values, start)
    if (direction == "min" and len(fin) and fin.min() > 0
            and np.isfinite(out.relative_noise)
            and not is_bounded_metric(name, values, direction)):
        # Losses fluctuate in proportion to their level: score on log scale.
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = stats.spike_scores(np.log(values), out.relative_noise)
    else:
        scores = stats.spike_scores(values, out.noise, direction)
    if np.isfinite(scores).any():
        out.max_spike_score = float(np.nanmax(scores))
    out.spikes = [int(epochs[i]) for i in spike_indices(values, scores, name,
                                                         direction)]
    return out


def spike_indices(values, scores, name, direction=None):
    """Indices of points that are spikes: far beyond the noise and a
    visible jump (see `SPIKE_MIN_*`)."""
    values = np.asarray(values, dtype=np.float64)
    direction = direction or direction_of(name)
    bounded = is_bounded_metric(name, values, direction)
    out = []
    minimize = direction == "min"
    for i in np.flatnonzero(np.nan_to_num(scores, nan=0.0) >= SPIKE_MIN_SCORE):
        pair = (values[i - 1], values[i + 1])
        reference = float(max(pair) if minimize else min(pair))
        jump = abs(values[i] - reference)
        if bounded:
            visible = jump >= SPIKE_MIN_ABSOLUTE_DROP
        else:
            visible = reference != 0 and jump / abs(reference) >= (
                SPIKE_MIN_RELATIVE_JUMP
            )
        if visible:
            out.append(int(i))
    return out
