"""Plain-text rendering of a `Report`."""

import textwrap

from keras_curvewatch.engine.format import cleared_text
from keras_curvewatch.engine.format import finding_text
from keras_curvewatch.engine.format import number as _num
from keras_curvewatch.engine.summary import arrange
from keras_curvewatch.engine.stats import MIN_POINTS_TREND

# Width of the wrapped bottom line: a classic terminal.
TEXT_WIDTH = 78


def render_text(report, max_evidence=6):
    """Renders a report as readable text.

    Args:
        report: `Report`.
        max_evidence: int. Evidence numbers shown per finding. Defaults
            to `6`.

    Returns:
        str.
    """
    lines = _opening(report)
    context = {k: v for k, v in report.context.items()
               if v not in (None, (), [], {})
               and k not in ("known_from", "learning_rate_logged")
               and not isinstance(v, dict)}
    if context:
        shown = ", ".join(
            f"{k}={_num(v)}" + (_rate_range(report) if k == "learning_rate"
                                else "")
            for k, v in context.items()
        )
        lines.append(f"Context: {shown}")
    if not report.findings:
        lines.append("")
        if not report.series:
            lines.append("No findings.")
        elif report.n_epochs < MIN_POINTS_TREND:
            lines.append(f"No findings, but {report.n_epochs} epoch(s) are "
                         "too few to judge the curves.")
        else:
            lines.append("No findings: the curves look healthy.")
    for finding, related in arrange(report.findings):
        lines.append("")
        lines.append(finding_text(finding, max_evidence=max_evidence,
                                  note=related))
    if report.cleared:
        lines.append("")
        lines.append("Warned during training, then cleared:")
        for entry in report.cleared:
            lines.append(f"  - {cleared_text(entry)}")
    if report.actions:
        lines.append("")
        lines.append("Actions taken:")
        for action in report.actions:
            lines.append(
                f"  epoch {action.get('epoch')}: learning rate "
                f"{_num(action.get('old'))} -> {_num(action.get('new'))} "
                f"({action.get('reason')})"
            )
    if report.notes:
        lines.append("")
        lines.append("Notes:")
        for note in report.notes:
            lines.append(f"  - {note}")
    return "\n".join(lines)


def _rate_range(report):
    """" (logged: 0.01 -> 1e-05, range 1e-05-0.01)" when the run logged a
    learning rate that changed, else "": the first value alone hides a
    ReduceLROnPlateau that already cut it."""
    logged = report.context.get("learning_rate_logged")
    if not logged:
        return ""
    first, last, low, high = logged
    return (f" (logged: {_num(first)} -> {_num(last)}, range "
            f"{_num(low)}-{_num(high)})")


def _opening(report):
    """Title, the bottom line, then the epochs and the recommended one."""
    title = f"keras_curvewatch report: {report.source or 'training run'}"
    lines = [title, "=" * min(len(title), TEXT_WIDTH)]
    lines.extend(textwrap.wrap(report.headline, TEXT_WIDTH,
                               break_on_hyphens=False))
    lines.append("")
    if report.series or report.n_epochs:  # A lint report has no curves.
        lines.append(f"Epochs analysed: {report.n_epochs}")
    if report.best_epoch is not None:
        lines.extend(textwrap.wrap(
            f"Recommended epoch: {report.best_epoch} "
            f"({_best_epoch_reason(report)}); raw best "
            f"{report.best_epoch_curve or report.monitor}: "
            f"{report.raw_best_epoch}. Epochs are 0-based, as in History "
            "and CSVLogger.", TEXT_WIDTH, subsequent_indent="  ",
            break_on_hyphens=False))
    return lines


def _best_epoch_reason(report):
    """How the recommended epoch was chosen; older reports lack it."""
    if report.best_epoch_reason:
        return report.best_epoch_reason
    return f"smoothed {report.best_epoch_curve or report.monitor}"
