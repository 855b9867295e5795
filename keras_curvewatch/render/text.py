"""Plain-text rendering of a `Report`."""

from keras_curvewatch.engine.format import cleared_text
from keras_curvewatch.engine.format import finding_text
from keras_curvewatch.engine.format import number as _num

def render_text(report, max_evidence=6):
    """Renders a report as readable text.

    Args:
        report: `Report`.
        max_evidence: int. Evidence numbers shown per finding. Defaults
            to `6`.

    Returns:
        str.
    """
    lines = []
    title = f"keras_curvewatch report: {report.source or 'training run'}"
    lines.append(title)
    lines.append("=" * min(len(title), 78))
    lines.append(f"Epochs analysed: {report.n_epochs}")
    if report.monitor is not None:
        lines.append(
            f"Recommended epoch: {report.best_epoch} (smoothed "
            f"{report.monitor}); raw best: {report.raw_best_epoch}. "
            "Epochs are 0-based, as in History and CSVLogger."
        )
    context = {k: v for k, v in report.context.items()
               if v not in (None, (), [], {}) and k != "known_from"}
    if context:
        shown = ", ".join(
            f"{k}={_num(v) if not isinstance(v, (list, tuple)) else '/'.join(v)}"
            for k, v in context.items()
        )
        lines.append(f"Context: {shown}")
    if not report.findings:
        lines.append("")
        lines.append("No findings: the curves look healthy.")
    for finding in report.findings:
        lines.append("")
        lines.append(finding_text(finding, max_evidence=max_evidence))
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
