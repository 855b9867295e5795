"""Text, HTML and plot renderings of a `Comparison`.

matplotlib is an optional extra, imported inside `plot_comparison`. This
module imports neither keras nor tensorflow.
"""

import html
import math

import numpy as np

from keras_curvewatch.errors import require_extra
from keras_curvewatch.render.html import format_number
from keras_curvewatch.render.html import severity_colour

# The table's columns: (header, row key, kind).
COLUMNS = (
    ("run", "name", "text"),
    ("epochs", "n_epochs", "int"),
    ("loss noise", "loss_noise", "share"),
    ("loss flips", "loss_flip_rate", "num"),
    ("val_loss noise", "val_loss_noise", "share"),
    ("val_loss flips", "val_loss_flip_rate", "num"),
    ("best epoch", "best_epoch", "int"),
    ("recommended", "recommended_epoch", "int"),
    ("value there", "recommended_value", "num"),
    ("final gap", "final_gap", "num"),
    ("findings", "codes", "codes"),
)
# Width of the comparison figure, in inches: fits a notebook cell.
FIGURE_WIDTH = 10.0
# Height of each panel (one per compared curve), in inches.
PANEL_HEIGHT = 3.6
# Opacity of a run's noise band: three overlapping bands stay readable.
BAND_ALPHA = 0.18
# Opacity of the raw points behind the smoothed curve.
RAW_ALPHA = 0.35


def _cell(row, key, kind):
    value = row.get(key)
    if kind == "codes":
        return ", ".join(value or []) or "none"
    if value is None:
        return "-"
    if kind == "text":
        return str(value)
    if kind == "share" and isinstance(value, float) and math.isfinite(value):
        return f"{100 * value:.3g}%" if row.get(
            key.replace("_noise", "_log_scale"), True) else f"{value:.3g}"
    return format_number(value)


def table_cells(comparison):
    """The table as lists of strings: a header, then one row per run."""
    header = [title for title, _, _ in COLUMNS]
    header[8] = f"{comparison.verdict.get('monitor', 'val_loss')} there"
    body = [[_cell(row, key, kind) for _, key, kind in COLUMNS]
            for row in comparison.rows]
    return [header] + body


def render_compare_text(comparison):
    """Renders a comparison as a plain-text table, the noise tests and the
    verdict.

    Args:
        comparison: `Comparison`.

    Returns:
        str.
    """
    cells = table_cells(comparison)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    title = f"keras_curvewatch comparison of {len(comparison.rows)} runs"
    lines = [title, "=" * len(title)]
    for i, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths))
                     .rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("Noise is a share of the level (residuals about the trend, "
                 "log scale); flips: 0.67 for white noise. Epochs are "
                 "0-based.")
    if comparison.pairs:
        lines.append("")
        lines.append("Noise differences (95% moving-block bootstrap "
                     "intervals over epochs):")
        lines.extend(f"  - {pair['sentence']}" for pair in comparison.pairs)
    lines.append("")
    keep = comparison.verdict.get("keep")
    lines.append(f"Keep: {keep if keep is not None else 'no run'}. "
                 f"{comparison.verdict.get('reason', '')}")
    return "\n".join(lines)


def render_compare_html(comparison):
    """Renders a comparison as an HTML fragment: the table, the noise tests
    and the verdict, with inline styles only (light and dark themes).

    Args:
        comparison: `Comparison`.

    Returns:
        str. One `<div class="curvewatch-compare">`.
    """
    esc = html.escape
    cells = table_cells(comparison)
    head = "".join(
        f'<th style="text-align:left;padding:2px 8px;">{esc(c)}</th>'
        for c in cells[0])
    body = []
    for row, texts in zip(comparison.rows, cells[1:]):
        kept = row["name"] == comparison.verdict.get("keep")
        style = "font-weight:600;" if kept else ""
        colour = severity_colour(row.get("worst_severity") or "info")
        tds = "".join(
            f'<td style="padding:2px 8px;{style}">{esc(t)}</td>'
            for t in texts)
        body.append(f'<tr style="border-left:4px solid {colour};">{tds}</tr>')
    pairs = "".join(
        f"<li>{esc(p['sentence'])}</li>" for p in comparison.pairs)
    keep = comparison.verdict.get("keep")
    return (
        '<div class="curvewatch-compare" style="color:inherit;'
        "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
        'font-size:13px;line-height:1.45;max-width:1100px;">'
        f'<div style="font-weight:600;font-size:14px;">Curvewatch comparison '
        f"of {len(comparison.rows)} runs</div>"
        '<table style="border-collapse:collapse;margin:6px 0;">'
        f"<tr>{head}</tr>{''.join(body)}</table>"
        + (f'<div style="opacity:0.75;">Noise differences (95% bootstrap '
           f'intervals over epochs):</div><ul style="margin:2px 0 6px 20px;'
           f'padding:0;">{pairs}</ul>' if pairs else "")
        + '<div class="curvewatch-verdict" style="border-left:4px solid '
        '#2b8a3e;background:rgba(43,138,62,0.10);border-radius:4px;'
        f'padding:6px 10px;"><b>Keep: {esc(str(keep))}.</b> '
        f"{esc(comparison.verdict.get('reason', ''))}</div></div>"
    )


def render_compare_page(comparison, include_plot=True):
    """A complete HTML page: the comparison and, with matplotlib, its plot
    embedded as a PNG."""
    import base64
    import io

    from keras_curvewatch import __version__
    from keras_curvewatch.errors import MissingExtraError
    from keras_curvewatch.render import standalone

    figure = ""
    if include_plot:
        try:
            fig = plot_comparison(comparison)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
            require_extra("matplotlib.pyplot", "plot").close(fig)
            data = base64.b64encode(buffer.getvalue()).decode("ascii")
            figure = (f'<img class="curvewatch-plot" alt="Runs compared" '
                      f'src="data:image/png;base64,{data}" style="max-width:'
                      '100%;height:auto;background:#fff;">')
        except MissingExtraError as exc:
            figure = f"<p>Plot not included: {html.escape(str(exc))}</p>"
    return standalone._PAGE.format(
        version=html.escape(__version__), title="Curvewatch comparison",
        cards=render_compare_html(comparison), figure=figure, details="")


def plot_comparison(comparison, ax=None):
    """Overlays the runs' smoothed curves, each with its noise band
    (smoothed value times exp(+-noise) for losses) and its recommended
    epoch marked, one panel per compared curve.

    Args:
        comparison: `Comparison` (with its `reports`).
        ax: matplotlib `Axes` or None. Draw the monitored curve on it.
            Defaults to `None`: a new figure.

    Returns:
        matplotlib `Figure`.

    Raises:
        MissingExtraError: if matplotlib is not installed.
    """
    plt = require_extra("matplotlib.pyplot", "plot")
    series = [s for s in ("loss", "val_loss") if any(
        s in r.series for r in comparison.reports.values())]
    if ax is not None:
        monitor = comparison.verdict.get("monitor") or series[-1]
        _draw_series(ax, comparison, monitor)
        return ax.figure
    figure, axes = plt.subplots(
        1, max(len(series), 1), squeeze=False,
        figsize=(FIGURE_WIDTH, PANEL_HEIGHT))
    for panel, name in zip(axes[0], series):
        _draw_series(panel, comparison, name)
    figure.tight_layout()
    return figure


def _draw_series(ax, comparison, name):
    for index, run in enumerate(comparison.names):
        stats = comparison.reports[run].series.get(name)
        if stats is None or not stats.n_finite:
            continue
        colour = f"C{index % 10}"
        epochs = np.asarray(stats.epochs)
        smooth = np.asarray(stats.smoothed, dtype=float)
        ax.plot(epochs, stats.values, ".", color=colour, alpha=RAW_ALPHA,
                markersize=3)
        ax.plot(epochs, smooth, "-", color=colour, linewidth=2,
                label=f"{run}")
        low, high = _band(stats, smooth)
        if low is not None:
            ax.fill_between(epochs, low, high, color=colour,
                            alpha=BAND_ALPHA, linewidth=0)
        if stats.smoothed_best_epoch is not None:
            ax.plot([stats.smoothed_best_epoch], [stats.smoothed_best], "o",
                    color=colour, markeredgecolor="black", markersize=6)
    ax.set_title(f"{name}: smoothed, noise band, recommended epoch (o)")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)


def _band(stats, smooth):
    noise = stats.relative_noise
    if not math.isfinite(noise):
        return None, None
    finite = smooth[np.isfinite(smooth)]
    if stats.direction == "min" and len(finite) and finite.min() > 0:
        return smooth * math.exp(-noise), smooth * math.exp(noise)
    return smooth - noise, smooth + noise
