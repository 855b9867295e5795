"""A self-contained HTML page for a `Report`: the cards and the plot.

The page needs no network: styles are inline and the plot is embedded as
a base64 PNG. It follows the reader's light or dark colour scheme.

This module imports neither keras nor tensorflow.
"""

import base64
import html

from keras_curvewatch.errors import MissingExtraError
from keras_curvewatch.render.html import format_number
from keras_curvewatch.render.html import render_html

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="keras_curvewatch {version}">
<title>{title}</title>
</head>
<body style="margin:24px auto;max-width:1120px;padding:0 16px;
font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;">
{cards}
{figure}
{details}
</body>
</html>
"""


def render_standalone_html(report, include_plot=True):
    """Renders a report as a complete HTML page with its plot embedded.

    Args:
        report: `Report`. The report to render.
        include_plot: bool. Embed the figure of `plot_report` as a base64
            PNG. When matplotlib is missing, the page says so instead of
            failing. Defaults to `True`.

    Returns:
        str. A full HTML document with no external resources.

    Example:

    ```python
    report = keras_curvewatch.analyze("training.csv")
    with open("report.html", "w", encoding="utf-8") as f:
        f.write(render_standalone_html(report))
    ```
    """
    from keras_curvewatch import __version__

    title = "Curvewatch report" + (f": {report.source}" if report.source
                                   else "")
    return _PAGE.format(
        version=html.escape(__version__),
        title=html.escape(title),
        cards=render_html(report, title="Curvewatch report"),
        figure=_figure(report) if include_plot else "",
        details=_details(report),
    )


def write_html(report, path, include_plot=True):
    """Writes `render_standalone_html(report)` to a UTF-8 file.

    Args:
        report: `Report`. The report to render.
        path: str or path-like. The output file, e.g. `"report.html"`.
        include_plot: bool. Embed the plot. Defaults to `True`.
    """
    text = render_standalone_html(report, include_plot=include_plot)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _figure(report):
    from keras_curvewatch.render.plot import render_png

    try:
        png = render_png(report)
    except MissingExtraError as exc:
        return (f'<p style="opacity:0.75;">Plot not included: '
                f"{html.escape(str(exc))}</p>")
    data = base64.b64encode(png).decode("ascii")
    return (
        '<figure style="margin:16px 0;">'
        f'<img class="curvewatch-plot" alt="Training curves with the '
        f'curvewatch findings" src="data:image/png;base64,{data}" '
        'style="max-width:100%;height:auto;border-radius:4px;'
        'background:#fff;">'
        "</figure>"
    )


def _details(report):
    parts = []
    if report.actions:
        rows = "".join(
            "<tr>" + "".join(
                f'<td style="padding:2px 10px 2px 0;">{html.escape(cell)}</td>'
                for cell in _action_cells(action)
            ) + "</tr>"
            for action in report.actions
        )
        parts.append(
            "<h3 style=\"font-size:14px;\">Actions taken during training</h3>"
            '<table style="border-collapse:collapse;font-size:13px;">'
            "<tr><th align=left>epoch</th><th align=left>old</th>"
            "<th align=left>new</th><th align=left>reason</th></tr>"
            f"{rows}</table>"
        )
    context = dict(report.context or {})
    known_from = context.pop("known_from", None) or {}
    context = {k: v for k, v in context.items()
               if v not in (None, (), [], {})}
    if context:
        items = "".join(
            f"<li><code>{html.escape(str(k))}</code>: "
            f"{html.escape(_short(v))}"
            + (f' <span style="opacity:0.7;">(from '
               f"{html.escape(str(known_from[k]))})</span>"
               if k in known_from else "")
            + "</li>"
            for k, v in context.items()
        )
        parts.append('<h3 style="font-size:14px;">Run context</h3>'
                     f'<ul style="font-size:13px;">{items}</ul>')
    if report.notes:
        items = "".join(f"<li>{html.escape(str(n))}</li>"
                        for n in report.notes)
        parts.append('<h3 style="font-size:14px;">Notes</h3>'
                     f'<ul style="font-size:13px;">{items}</ul>')
    return "\n".join(parts)


def _action_cells(action):
    if not isinstance(action, dict):
        return ["", "", "", str(action)]
    return [
        str(action.get("epoch", "")),
        format_number(action.get("old", "")),
        format_number(action.get("new", "")),
        str(action.get("reason", "")),
    ]


def _short(value, limit=200):
    if isinstance(value, float):
        text = format_number(value)
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
