"""Drawing one panel of the curvewatch figure onto a matplotlib `Axes`.

`keras_curvewatch.render.plot` lays the panels out; the functions here take
an `Axes` and a `Report` and draw, so they need no pyplot. This module
imports neither keras, tensorflow nor matplotlib.
"""

import math

import numpy as np

from keras_curvewatch.render.html import HEALTHY_COLOUR
from keras_curvewatch.render.html import severity_colour

# When the largest value is this many times the median one (a diverging
# loss, a huge spike), a linear axis squashes the rest of the curve into
# one line, so the axis is log.
LOG_SCALE_RATIO = 30.0
# Opacity of the noise band and of the raw curve behind the smoothed one.
NOISE_BAND_ALPHA = 0.18
RAW_CURVE_ALPHA = 0.45
# Opacity of the shading from the overfitting onset to the last epoch.
OVERFITTING_SHADE_ALPHA = 0.07
# Curve names that hold the learning rate, not a loss or metric to judge.
LEARNING_RATE_KEYS = ("learning_rate", "lr")
# Learning-rate changes in purple and the raw best epoch in grey: hues the
# curves (matplotlib's C0/C1 pairs) and the severity colours do not use.
LR_CHANGE_COLOUR = "#9c36b5"
RAW_BEST_COLOUR = "#868e96"


def loss_names(report):
    """The curves of the main panel: the losses, else every curve."""
    names = [n for n in report.series if n.endswith("loss")]
    if not names:  # No loss column: plot whatever there is on top.
        names = [n for n in report.series if n not in LEARNING_RATE_KEYS]
    return names


def metric_names(report):
    """The curves of the metric panel: everything but losses and the
    learning rate."""
    losses = set(loss_names(report))
    return [
        n for n in report.series
        if n not in losses and n not in LEARNING_RATE_KEYS
    ]


def _finite(values):
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, np.nan)


def _series_colour(names, name):
    """Blue for training curves, orange for their `val_` twins, and the
    next pair of colours for the next metric."""
    bases = []
    for other in names:
        base = other[4:] if other.startswith("val_") else other
        if base not in bases:
            bases.append(base)
    base = name[4:] if name.startswith("val_") else name
    index = 2 * bases.index(base) + (1 if name.startswith("val_") else 0)
    return f"C{index % 10}"


def _wants_log_scale(arrays):
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays]
                            or [np.array([])])
    if finite.size == 0 or finite.min() <= 0:
        return False
    return finite.max() / np.median(finite) > LOG_SCALE_RATIO


def draw_curves(ax, report, names):
    """Draws each curve raw and smoothed, its noise band and its spikes."""
    curves = {name: _finite(report.series[name].values) for name in names}
    log_scale = _wants_log_scale(list(curves.values()))
    if log_scale:
        ax.set_yscale("log")
    for name in names:
        stats = report.series[name]
        colour = _series_colour(names, name)
        values = curves[name]
        epochs = np.asarray(stats.epochs, dtype=float)
        if epochs.size != values.size:
            epochs = np.arange(values.size, dtype=float)
        smoothed = _finite(stats.smoothed)
        has_smoothed = smoothed.size == values.size and values.size > 0
        ax.plot(epochs, values, color=colour, lw=1, marker="o", ms=2.5,
                alpha=RAW_CURVE_ALPHA if has_smoothed else 1.0,
                label=None if has_smoothed else name)
        if has_smoothed:
            ax.plot(epochs, smoothed, color=colour, lw=2.2,
                    label=f"{name} (smoothed)")
            if math.isfinite(stats.noise) and stats.noise > 0:
                low, high = smoothed - stats.noise, smoothed + stats.noise
                # On a log axis a band reaching zero would fill the panel.
                where = low > 0 if log_scale else None
                ax.fill_between(epochs, low, high, where=where,
                                color=colour, alpha=NOISE_BAND_ALPHA, lw=0)
        spikes = set(stats.spikes)
        spike_index = [i for i, e in enumerate(stats.epochs)
                       if e in spikes and i < values.size]
        if spike_index:
            ax.scatter(epochs[spike_index], values[spike_index], marker="x",
                       s=55, lw=2, color=severity_colour("critical"),
                       zorder=5, label=f"{name} spikes")
    empty = [name for name in names if not np.isfinite(curves[name]).any()]
    if empty:  # Nothing to draw: say why instead of an empty panel.
        ax.text(0.5, 0.5, "\n".join(
            f"{name} is NaN/inf in every epoch" for name in empty),
            transform=ax.transAxes, ha="center", va="center",
            color=severity_colour("critical"), fontsize="medium")
    ax.grid(True, alpha=0.25)


def draw_main(ax, report, legend=True):
    """Draws the main panel: the losses and every epoch marker."""
    names = loss_names(report)
    draw_curves(ax, report, names)
    draw_epoch_markers(ax, report, labels=True)
    ax.set_ylabel("loss")
    ax.set_title(_title(report), fontsize="medium", loc="left")
    if names:
        ax.text(0.995, 0.01, "thin: raw · thick: smoothed · band: ± noise",
                transform=ax.transAxes, ha="right", va="bottom",
                fontsize="x-small", alpha=0.7)
    if legend:
        outside_legend(ax)
    from matplotlib.ticker import MaxNLocator  # Present: ax is matplotlib.

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def draw_epoch_markers(ax, report, labels):
    """Draws the overfitting onset, the raw best and recommended epochs
    and the learning-rate changes as vertical lines."""

    def label(text):
        return text if labels else None

    overfitting = report.get("overfitting")
    if overfitting is not None and overfitting.epoch is not None:
        colour = severity_colour(overfitting.severity)
        last = max([max(s.epochs) for s in report.series.values()
                    if s.epochs] or [overfitting.epoch])
        ax.axvspan(overfitting.epoch, max(last, overfitting.epoch),
                   color=colour, alpha=OVERFITTING_SHADE_ALPHA, lw=0)
        # Above the epoch lines: the onset often equals the recommended one.
        ax.axvline(overfitting.epoch, color=colour, lw=1.4, ls="-.",
                   zorder=4,
                   label=label(f"overfitting from epoch {overfitting.epoch}"))
    best, raw_best = report.best_epoch, report.raw_best_epoch
    if raw_best is not None and raw_best != best:
        ax.axvline(raw_best, color=RAW_BEST_COLOUR, lw=1.2, ls="--",
                   label=label(f"raw best epoch {raw_best}"))
    if best is not None:
        text = f"recommended epoch {best}"
        if raw_best == best:
            text += " (= raw best)"
        ax.axvline(best, color=HEALTHY_COLOUR, lw=1.6, label=label(text))
    for number, action in enumerate(report.actions or []):
        epoch = action.get("epoch") if isinstance(action, dict) else None
        if epoch is None:
            continue
        first = number == 0
        ax.axvline(epoch, color=LR_CHANGE_COLOUR, lw=1.2, ls=":",
                   label=label("learning-rate change") if first else None)
        if labels:
            ax.annotate(_lr_text(action), xy=(epoch, 1.0),
                        xycoords=("data", "axes fraction"),
                        xytext=(2, -2), textcoords="offset points",
                        rotation=90, va="top", ha="left", fontsize="x-small",
                        color=LR_CHANGE_COLOUR)


def _lr_text(action):
    old, new = action.get("old"), action.get("new")
    try:
        return f"lr {float(old):.2g} → {float(new):.2g}"
    except (TypeError, ValueError):
        return "lr change"


def draw_batches(ax, report, losses, steps):
    """Draws the per-batch losses and their mean over one epoch; with
    `steps` (batches per epoch) the x axis is in epochs."""
    values = _finite(losses)
    if steps:
        # The report keeps the most recent batches, so align them on the
        # end: the last batch of an epoch sits on that epoch's point.
        last = _last_epoch(report)
        x = last + (np.arange(values.size) - values.size + 1) / steps
    else:
        x = np.arange(values.size, dtype=float)
    ax.plot(x, values, color="C0", lw=0.7, alpha=0.5, label="per-batch loss")
    window = steps or 0
    if 1 < window <= values.size and np.isfinite(values).any():
        kernel = np.ones(window) / window
        filled = np.where(np.isnan(values), np.nanmedian(values), values)
        mean = np.convolve(filled, kernel, mode="valid")
        ax.plot(x[window - 1:], mean, color="C0", lw=2,
                label=f"mean of last {window} batches")
    if steps:
        draw_epoch_markers(ax, report, labels=False)
    if _wants_log_scale([values]):
        ax.set_yscale("log")
    ax.set_ylabel("batch loss")
    ax.grid(True, alpha=0.25)
    outside_legend(ax)


def outside_legend(ax):
    """A legend right of the panel, so it never hides a curve."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False, borderaxespad=0.0)


def _last_epoch(report):
    ends = [max(s.epochs) for s in report.series.values() if s.epochs]
    return float(max(ends)) if ends else 0.0


def _title(report):
    if not report.findings:
        head = "no problems found"
    else:
        shown = [f"{f.code} ({f.severity})" for f in report.findings[:3]]
        more = len(report.findings) - len(shown)
        head = ", ".join(shown) + (f" +{more} more" if more else "")
    source = f"{report.source}: " if report.source else ""
    return f"Curvewatch · {source}{head}"
