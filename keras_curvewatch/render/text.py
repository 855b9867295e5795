"""Plain-text rendering of a `Report`."""

import math

_MARK = {"critical": "[CRITICAL]", "warning": "[WARNING] ", "info": "[info]    "}


def _num(value):
    if isinstance(value, (list, tuple)):
        return "/".join(_num(v) for v in value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


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
    # Nested context (a frozen base's layers) is told by the findings.
    context = {k: v for k, v in report.context.items()
               if v not in (None, (), [], {}) and k != "known_from"
               and not isinstance(v, dict)}
    if context:
        shown = ", ".join(
            f"{k}={_num(v)}"
            for k, v in context.items()
        )
        lines.append(f"Context: {shown}")
    if not report.findings:
        lines.append("")
        lines.append("No findings: the curves look healthy.")
    for finding in report.findings:
        lines.append("")
        where = []
        if finding.series:
            where.append(finding.series)
        if finding.epoch is not None:
            where.append(f"epoch {finding.epoch}")
        suffix = f" ({', '.join(where)})" if where else ""
        lines.append(f"{_MARK[finding.severity]} {finding.code}{suffix}")
        lines.append(f"  {finding.message}")
        if finding.evidence:
            items = list(finding.evidence.items())[:max_evidence]
            lines.append(
                "  evidence: " + ", ".join(f"{k}={_num(v)}" for k, v in items)
            )
        for rank, (cause, sentence) in enumerate(finding.causes[:3], 1):
            lines.append(f"  cause {rank}: {cause}: {sentence}")
        if finding.suggestion:
            lines.append(f"  try: {finding.suggestion}")
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
