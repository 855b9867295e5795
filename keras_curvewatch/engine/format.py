"""Numbers and findings as text: the one formatter behind the rule
messages, the lint messages, the warnings and the renderers.

This module imports neither keras nor tensorflow.
"""

import math

# Evidence numbers and causes shown per finding in text; the report's
# `to_dict()` holds them all.
MAX_EVIDENCE = 6
MAX_CAUSES = 3
# Whole numbers below this print without a decimal point or exponent.
_WHOLE_MAX = 1e9


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def number(value, digits=3, infinity="inf"):
    """Formats an evidence number for people: integers stay whole.

    Args:
        value: float. The number; anything else is shown with `str`.
        digits: int. Significant digits. Defaults to `3`.
        infinity: str. How infinity is written. Defaults to `"inf"`.

    Returns:
        str. E.g. `"12"`, `"0.0314"`, `"1.5e-05"`, `"NaN"`, `"-inf"`.
    """
    number_ = _as_float(value)
    if number_ is None:
        return str(value)
    if math.isnan(number_):
        return "NaN"
    if math.isinf(number_):
        return infinity if number_ > 0 else "-" + infinity
    if number_.is_integer() and abs(number_) < _WHOLE_MAX:
        return str(int(number_))
    return f"{number_:.{digits}g}"


def fmt(value, digits=3):
    """Formats a number inside a sentence: 3 significant digits, thousands
    separated, an exponent for very large or small values."""
    number_ = _as_float(value)
    if number_ is None or not math.isfinite(number_):
        return str(value if number_ is None else number_)
    if number_ != 0 and (abs(number_) >= 1e7 or abs(number_) < 1e-3):
        return f"{number_:.{digits - 1}e}"
    if abs(number_) >= min(1000, 10**digits):
        return f"{number_:,.0f}"
    return f"{number_:.{digits}g}"


def pct(fraction):
    """Formats a fraction as a percentage: 0.1234 -> '12%', 0.01234 ->
    '1.2%'."""
    value = _as_float(fraction)
    value = math.nan if value is None else 100.0 * value
    if not math.isfinite(value):
        return f"{value}%"
    if abs(value) >= 10:
        return f"{value:,.0f}%"
    return f"{value:.2g}%"


def where(finding):
    """str. `" (val_loss, epoch 3)"`, or `""` when neither is known."""
    parts = [part for part in (
        finding.series,
        None if finding.epoch is None else f"epoch {finding.epoch}",
    ) if part]
    return f" ({', '.join(parts)})" if parts else ""


def evidence_text(evidence, limit=MAX_EVIDENCE):
    """str. `"k=v, k=v"` for the first `limit` evidence numbers."""
    items = list(evidence.items())[:limit]
    return ", ".join(f"{k}={number(v, digits=4)}" for k, v in items)


def finding_text(finding, max_evidence=MAX_EVIDENCE, max_causes=MAX_CAUSES,
                 note=""):
    """Formats a finding as text: a head line, its evidence, its most
    likely causes and the suggestion.

    Args:
        finding: `Finding`.
        max_evidence: int. Evidence numbers shown. Defaults to `6`.
        max_causes: int. Causes shown. Defaults to `3`.
        note: str. How it relates to the main finding, e.g. "explains
            overfitting", appended to the head line. Defaults to `""`.

    Returns:
        str. Lines separated by newlines.
    """
    lines = [f"[{finding.severity}] {finding.code}{where(finding)}"
             + (f" -- {note}" if note else "") + f": {finding.message}"]
    if finding.evidence and max_evidence:
        lines.append("  evidence: " + evidence_text(finding.evidence,
                                                    max_evidence))
    for rank, (cause, sentence) in enumerate(finding.causes[:max_causes], 1):
        lines.append(f"  cause {rank}: {cause}: {sentence}")
    if finding.suggestion:
        lines.append(f"  try: {finding.suggestion}")
    return "\n".join(lines)


def cleared_text(entry):
    """Formats one `Report.cleared` entry as one line."""
    return (f"{entry['code']} ({entry['severity']}, warned at epoch "
            f"{entry['warned_epoch']}) cleared at epoch "
            f"{entry['cleared_epoch']}: {entry['reason']}.")
