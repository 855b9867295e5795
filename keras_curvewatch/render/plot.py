"""A matplotlib picture of a `Report`: curves, noise, best epochs, events.

matplotlib is an optional extra (`pip install 'keras-curvewatch[plot]'`),
imported inside the functions. This module imports neither keras nor
tensorflow.
"""

import io

import numpy as np

from keras_curvewatch.errors import require_extra
from keras_curvewatch.render.plot_panels import draw_batches
from keras_curvewatch.render.plot_panels import draw_curves
from keras_curvewatch.render.plot_panels import draw_epoch_markers
from keras_curvewatch.render.plot_panels import draw_main
from keras_curvewatch.render.plot_panels import metric_names
from keras_curvewatch.render.plot_panels import outside_legend

# Width of the figure in inches, legends included: fits a notebook cell
# (about 1100 px) at 110 dpi.
FIGURE_WIDTH = 10.0
# Height of the main panel and of each extra panel, in inches.
MAIN_PANEL_HEIGHT = 4.2
EXTRA_PANEL_HEIGHT = 2.2
# Resolution of PNG files and embedded images: sharp on a laptop screen,
# about 100 KB for a three-panel figure.
PNG_DPI = 110


def plot_report(report, ax=None):
    """Plots the curves of a report with what curvewatch found on them.

    The main panel shows each loss curve raw (thin) and smoothed (thick)
    with its noise band (smoothed ± noise), spikes (crosses), the raw best
    epoch against the recommended epoch, the overfitting onset and the
    learning-rate changes in `report.actions`. When a new figure is made,
    panels for the other metrics and for per-batch losses
    (`report.batch["batch_losses"]`) are added below.

    Args:
        report: `Report`. The report to plot.
        ax: matplotlib `Axes` or None. Draw the main panel on this axes
            only. Defaults to `None`: a new figure with all panels.

    Returns:
        matplotlib `Figure`.

    Raises:
        MissingExtraError: if matplotlib is not installed.

    Example:

    ```python
    report = keras_curvewatch.analyze("training.csv")
    fig = plot_report(report)
    fig.savefig("curves.png")
    ```
    """
    if ax is not None:
        draw_main(ax, report, legend=True)
        return ax.figure
    plt = require_extra("matplotlib.pyplot", "plot")
    figure = plt.figure(figsize=_figure_size(report))
    draw_report(figure, report)
    return figure


def draw_report(figure, report):
    """Draws every panel of `plot_report` into an empty `figure`.

    Args:
        figure: matplotlib `Figure`. An empty figure.
        report: `Report`. The report to plot.

    Returns:
        list of matplotlib `Axes`, main panel first.
    """
    metrics = metric_names(report)
    batch_losses, steps = _batch_data(report)
    ratios = [MAIN_PANEL_HEIGHT]
    if metrics:
        ratios.append(EXTRA_PANEL_HEIGHT)
    if batch_losses is not None:
        ratios.append(EXTRA_PANEL_HEIGHT)
    grid = figure.add_gridspec(len(ratios), 1, height_ratios=ratios)
    main = figure.add_subplot(grid[0])
    axes = [main]
    draw_main(main, report, legend=True)
    if metrics:
        metric_ax = figure.add_subplot(grid[len(axes)], sharex=main)
        draw_curves(metric_ax, report, metrics)
        draw_epoch_markers(metric_ax, report, labels=False)
        metric_ax.set_ylabel("metric")
        outside_legend(metric_ax)
        axes.append(metric_ax)
    if batch_losses is not None:
        batch_ax = figure.add_subplot(
            grid[len(axes)], sharex=main if steps else None
        )
        draw_batches(batch_ax, report, batch_losses, steps)
        axes.append(batch_ax)
    for axis in axes[:-1]:
        axis.tick_params(labelbottom=False)
    axes[-1].set_xlabel("epoch" if batch_losses is None or steps else "batch")
    figure.tight_layout()
    return axes


def render_png(report, figsize=None, dpi=PNG_DPI):
    """Renders `plot_report` as PNG bytes without touching pyplot's state.

    The figure is not registered with pyplot, so notebooks do not show it
    again at the end of the cell.

    Args:
        report: `Report`. The report to plot.
        figsize: tuple of 2 floats or None. Size in inches. Defaults to
            `None`, which sizes the figure by its panels.
        dpi: int. Resolution. Defaults to `PNG_DPI`.

    Returns:
        bytes. A PNG image.

    Raises:
        MissingExtraError: if matplotlib is not installed.
    """
    figure_module = require_extra("matplotlib.figure", "plot")
    figure = figure_module.Figure(figsize=figsize or _figure_size(report))
    draw_report(figure, report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def write_plot(report, path, dpi=PNG_DPI):
    """Writes the figure of `plot_report` to an image file.

    Args:
        report: `Report`. The report to plot.
        path: str or path-like. Output file; the format follows its
            extension (`.png`, `.svg`, `.pdf`).
        dpi: int. Resolution of raster formats. Defaults to `PNG_DPI`.

    Raises:
        MissingExtraError: if matplotlib is not installed.
    """
    figure_module = require_extra("matplotlib.figure", "plot")
    figure = figure_module.Figure(figsize=_figure_size(report))
    draw_report(figure, report)
    figure.savefig(path, dpi=dpi)


def _figure_size(report):
    height = MAIN_PANEL_HEIGHT
    if metric_names(report):
        height += EXTRA_PANEL_HEIGHT
    if _batch_data(report)[0] is not None:
        height += EXTRA_PANEL_HEIGHT
    return (FIGURE_WIDTH, height)


def _batch_data(report):
    losses = (report.batch or {}).get("batch_losses")
    if losses is None or len(losses) == 0:
        return None, None
    steps = (report.batch or {}).get("steps_per_epoch")
    steps = int(steps) if steps else None
    return np.asarray(losses, dtype=float), steps
