"""Statistics of per-batch training losses: noise within epochs and
whether the batch loss repeats with period `steps_per_epoch` (a saw-tooth
or one fixed order). Linear in the number of batch losses.

This module imports neither keras nor tensorflow.
"""

import numpy as np
from scipy import stats as scipy_stats

from keras_curvewatch.engine.stats import MIN_POINTS_NOISE
from keras_curvewatch.engine.stats import finite
from keras_curvewatch.engine.stats import flip_rate
from keras_curvewatch.engine.stats import noise_level


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
    corrs = _consecutive_row_correlations(detrended)
    mean_loss = float(np.mean(np.abs(table)))
    return {
        "n_epochs": float(n_epochs),
        "r2": between / total,
        "p_value": p_value,
        "profile_lag1": lag1,
        "cross_epoch_corr": float(np.mean(corrs)) if len(corrs) else 0.0,
        "profile_amplitude": float(np.ptp(profile) / mean_loss)
        if mean_loss > 0
        else float("nan"),
    }


def _consecutive_row_correlations(table):
    """Pearson correlation of each row of `table` with the next, for the
    pairs where neither row is constant; one vectorised pass over the
    rows, as `np.corrcoef` would give pair by pair."""
    first, second = table[:-1], table[1:]
    keep = (np.std(first, axis=1) > 0) & (np.std(second, axis=1) > 0)
    first, second = first[keep], second[keep]
    first = first - first.mean(axis=1, keepdims=True)
    second = second - second.mean(axis=1, keepdims=True)
    covariance = np.sum(first * second, axis=1)
    scale = np.sqrt(np.sum(first**2, axis=1) * np.sum(second**2, axis=1))
    return np.clip(covariance / scale, -1.0, 1.0)


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
