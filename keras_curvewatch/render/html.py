"""HTML cards for a `Report`, for notebooks and the standalone page.

The HTML uses inline styles only, so it survives notebook sanitizers and
needs no external CSS or JS. Text colour is inherited and backgrounds are
semi-transparent, so the cards read well in light and dark Jupyter themes.

This module imports neither keras nor tensorflow.
"""

import html

from keras_curvewatch.engine.format import cleared_text
from keras_curvewatch.engine.format import number

from keras_curvewatch.engine.summary import arrange

# Severity colours: mid-luminance hues with a WCAG contrast ratio of at
# least 3.8:1 against white, against #111 (dark themes) and for white badge
# text (computed with the WCAG 2.1 relative-luminance formula).
SEVERITY_COLOURS = {
    "critical": "#e03131",
    "warning": "#bf6f00",
    "info": "#1c7ed6",
}
# Colour of the summary card when nothing was found (same contrast rule).
HEALTHY_COLOUR = "#2b8a3e"
# Opacity of a card's tinted background: light enough that inherited text
# keeps its contrast on light and dark themes.
CARD_TINT_ALPHA = 0.10
# Significant digits shown for evidence numbers: enough to compare a value
# with its threshold, few enough to stay readable.
EVIDENCE_DIGITS = 3
# Most causes shown per card; the rules rank them, the rest is noise.
MAX_CAUSES_SHOWN = 4

_MUTED = "opacity:0.75;"
_CODE_STYLE = (
    "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "background:rgba(127,127,127,0.18);padding:0 4px;border-radius:3px;"
)


def render_html(report, title=None, compact=False):
    """Renders a report as compact HTML cards, one per finding.

    Args:
        report: `Report`. The report to render.
        title: str or None. Heading shown above the cards. Defaults to
            `None`, which uses "Curvewatch" and the report's source.
        compact: bool. One line per finding (severity, code, message), as
            in the live notebook display; the full cards hold the evidence,
            causes and suggestion. Defaults to `False`.

    Returns:
        str. An HTML fragment (a single `<div>`) with inline styles.

    Example:

    ```python
    report = keras_curvewatch.analyze("training.csv")
    from IPython.display import HTML
    HTML(render_html(report))
    ```
    """
    parts = [
        '<div class="curvewatch-report" style="color:inherit;'
        "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
        'font-size:13px;line-height:1.45;max-width:860px;">',
        _header(report, title),
        _headline(report),
    ]
    if report.findings and compact:
        parts.extend(_line(finding, note)
                     for finding, note in arrange(report.findings))
    elif report.findings:
        parts.extend(_card(finding, note)
                     for finding, note in arrange(report.findings))
    else:
        parts.append(_healthy_card(report))
    if getattr(report, "cleared", None):
        parts.append(_cleared(report.cleared))
    parts.append("</div>")
    return "".join(parts)


def format_number(value, digits=EVIDENCE_DIGITS):
    """Formats an evidence number for people: integers stay whole.

    Args:
        value: float. The number.
        digits: int. Significant digits. Defaults to `EVIDENCE_DIGITS`.

    Returns:
        str. E.g. `"12"`, `"0.0314"`, `"1.5e-05"`, `"NaN"`, `"-∞"`.
    """
    return number(value, digits=digits, infinity="∞")


def severity_colour(severity):
    """Returns the hex colour of a severity (`"info"` for unknown ones)."""
    return SEVERITY_COLOURS.get(severity, SEVERITY_COLOURS["info"])


def _rgba(hex_colour, alpha):
    red, green, blue = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _esc(value):
    return html.escape(str(value), quote=True)


def _header(report, title):
    heading = title if title is not None else "Curvewatch"
    bits = []
    if report.n_epochs:
        bits.append(f"{report.n_epochs} epochs")
    if report.monitor:
        bits.append(f"monitor <code style=\"{_CODE_STYLE}\">"
                    f"{_esc(report.monitor)}</code>")
    if report.best_epoch is not None:
        reason = report.best_epoch_reason or (
            f"smoothed {report.best_epoch_curve or report.monitor}")
        best = (f'<span title="{_esc(reason)}">recommended epoch '
                f"<b>{_esc(report.best_epoch)}</b></span>")
        if report.best_epoch_curve not in (None, report.monitor):
            best += f" (on {_esc(report.best_epoch_curve)})"
        if (report.raw_best_epoch is not None
                and report.raw_best_epoch != report.best_epoch):
            best += f" (raw best {_esc(report.raw_best_epoch)})"
        bits.append(best)
    counts = _severity_counts(report)
    if counts:
        bits.append(counts)
    source = (f' <span style="{_MUTED}font-weight:normal;">'
              f"{_esc(report.source)}</span>") if report.source else ""
    return (
        '<div style="margin:0 0 6px 0;">'
        f'<div style="font-weight:600;font-size:14px;">{_esc(heading)}'
        f"{source}</div>"
        f'<div style="{_MUTED}">{" · ".join(bits)}</div>'
        "</div>"
    )


def _headline(report):
    """The bottom line, then how the recommended epoch was chosen."""
    reason = ""
    if report.best_epoch is not None and report.best_epoch_reason:
        reason = (f'<div style="{_MUTED}font-size:12px;">Recommended epoch '
                  f"{_esc(report.best_epoch)}: "
                  f"{_esc(report.best_epoch_reason)}.</div>")
    return (
        '<div class="curvewatch-headline" style="font-size:14px;'
        f'margin:2px 0 6px 0;">{_esc(report.headline)}</div>{reason}'
    )


def _severity_counts(report):
    counts = {}
    for finding in report.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    pieces = []
    for severity in ("critical", "warning", "info"):
        if severity in counts:
            pieces.append(
                f'<span style="color:{severity_colour(severity)};'
                f'font-weight:600;">{counts[severity]} {severity}</span>'
            )
    return ", ".join(pieces)


def _badge(text, colour):
    return (
        f'<span style="background:{colour};color:#fff;font-weight:600;'
        "font-size:11px;text-transform:uppercase;letter-spacing:0.04em;"
        f'padding:1px 6px;border-radius:3px;">{_esc(text)}</span>'
    )


def _card_open(colour, code):
    return (
        f'<div class="curvewatch-finding" data-code="{_esc(code)}" '
        f'style="border-left:4px solid {colour};'
        f"background:{_rgba(colour, CARD_TINT_ALPHA)};color:inherit;"
        'border-radius:4px;padding:6px 10px;margin:6px 0;">'
    )


def _card(finding, note=None):
    colour = severity_colour(finding.severity)
    where = []
    if finding.series:
        where.append(f'<code style="{_CODE_STYLE}">{_esc(finding.series)}'
                     "</code>")
    if finding.epoch is not None:
        where.append(f"at epoch {_esc(finding.epoch)}")
    parts = [
        _card_open(colour, finding.code),
        '<div style="display:flex;flex-wrap:wrap;gap:8px;'
        'align-items:baseline;">',
        _badge(finding.severity, colour),
        f'<b style="font-family:ui-monospace,Menlo,Consolas,monospace;">'
        f"{_esc(finding.code)}</b>",
        f'<span style="{_MUTED}">{" ".join(where)}</span>' if where else "",
        _note(note),
        "</div>",
        f'<div style="margin:3px 0;">{_esc(finding.message)}</div>',
    ]
    if finding.evidence:
        parts.append(_evidence(finding.evidence))
    if finding.causes:
        parts.append(_causes(finding.causes))
    if finding.suggestion:
        parts.append(
            '<div style="margin-top:3px;"><b>Try:</b> '
            f"{_esc(finding.suggestion)}</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def _note(note):
    """How a finding relates to the main one, e.g. "explains overfitting"."""
    if not note:
        return ""
    return (f'<span class="curvewatch-note" style="{_MUTED}">'
            f"· {_esc(note)}</span>")


def _line(finding, note=None):
    colour = severity_colour(finding.severity)
    tip = ""
    if finding.suggestion:
        tip = f' title="Try: {_esc(finding.suggestion)}"'
    return (
        f'<div class="curvewatch-finding" data-code="{_esc(finding.code)}"'
        f'{tip} style="border-left:4px solid {colour};'
        f"background:{_rgba(colour, CARD_TINT_ALPHA)};color:inherit;"
        'border-radius:4px;padding:3px 8px;margin:3px 0;">'
        f"{_badge(finding.severity, colour)} "
        f'<b style="font-family:ui-monospace,Menlo,Consolas,monospace;">'
        f"{_esc(finding.code)}</b> {_note(note)} "
        f"{_esc(finding.message)}</div>"
    )


def _evidence(evidence):
    cells = "".join(
        f'<span style="white-space:nowrap;margin-right:12px;">'
        f'<span style="{_MUTED}">{_esc(key)}</span> '
        f'<code style="{_CODE_STYLE}">{_esc(format_number(value))}</code>'
        "</span> "
        for key, value in evidence.items()
    )
    return ('<div class="curvewatch-evidence" style="margin:3px 0;'
            f'font-size:12px;">{cells}</div>')


def _causes(causes):
    shown = causes[:MAX_CAUSES_SHOWN]
    items = "".join(
        f'<li><code style="{_CODE_STYLE}">{_esc(cause)}</code> '
        f"{_esc(sentence)}</li>"
        for cause, sentence in shown
    )
    hidden = len(causes) - len(shown)
    more = f'<li style="{_MUTED}">… {hidden} more</li>' if hidden else ""
    return (
        f'<div style="margin-top:3px;"><span style="{_MUTED}">Likely causes, '
        "most likely first:</span>"
        f'<ol class="curvewatch-causes" style="margin:2px 0 2px 20px;'
        f'padding:0;">{items}{more}</ol></div>'
    )


def _cleared(entries):
    items = "".join(f"<li>{_esc(cleared_text(entry))}</li>"
                    for entry in entries)
    return (f'<div class="curvewatch-cleared" style="{_MUTED}margin-top:6px;">'
            "Warned during training, then cleared:"
            f'<ul style="margin:2px 0 2px 20px;padding:0;">{items}</ul></div>')


def _healthy_card(report):
    series = ", ".join(sorted(report.series)) or "no curves"
    return (
        _card_open(HEALTHY_COLOUR, "healthy")
        + _badge("ok", HEALTHY_COLOUR)
        + f" No problems found in {_esc(series)}.</div>"
    )
