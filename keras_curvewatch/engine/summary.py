"""The bottom line of a report: the main problem and the first change.

A run with seven findings should not read as seven problems of equal
weight. `headline()` picks the main problem (the most severe curve finding,
ties broken by `MAIN_PRIORITY`), the finding that explains it (a small
table, `EXPLAINS`) or else the cause it shares with the other findings,
and says what to change first, with the numbers. `arrange()` orders the
findings the same way for the renderers: the main one, then the ones that
only explain it, then the rest.

This module imports neither keras nor tensorflow.
"""

from keras_curvewatch.engine.findings import CURVE_CODES
from keras_curvewatch.engine.findings import SEVERITY_RANK
from keras_curvewatch.engine.summary_phrases import cause_change
from keras_curvewatch.engine.summary_phrases import effect_phrase
from keras_curvewatch.engine.summary_phrases import explainer_phrase
from keras_curvewatch.engine.summary_phrases import fmt
from keras_curvewatch.engine.summary_phrases import symptom_phrase

# Fewer epochs than this leave too few points for the noise and trend
# tests (`stats.MIN_POINTS_NOISE` = `stats.MIN_POINTS_TREND` = 5).
MIN_EPOCHS_TO_JUDGE = 5

# Which findings explain which: a run context or a lint finding (key) is a
# reason for the curve findings (values), so it is told with them and its
# card follows theirs.
EXPLAINS = {
    "overparameterized": ("overfitting", "val_fluctuation",
                          "train_oscillation"),
    "small_validation_set": ("val_fluctuation", "noisy_best_epoch",
                             "loss_spike"),
    "small_batch": ("train_oscillation", "val_fluctuation", "loss_spike",
                    "noisy_best_epoch"),
    "unshuffled_data": ("train_oscillation", "loss_spike",
                        "val_fluctuation"),
    "relu_before_softmax": ("not_learning", "nan_loss"),
    "logits_mismatch": ("not_learning", "diverging", "nan_loss",
                        "metric_loss_mismatch"),
    "class_imbalance": ("not_learning", "metric_loss_mismatch"),
    "unscaled_inputs": ("not_learning", "diverging", "nan_loss",
                        "train_oscillation", "loss_spike"),
    "dropout_too_high": ("not_learning", "not_converged",
                         "metric_loss_mismatch"),
    "val_fluctuation": ("noisy_best_epoch",),
}

# Among curve findings of equal severity, the one to fix first: a broken
# or stuck run before a badly generalising one before a noisy one.
MAIN_PRIORITY = (
    "nan_loss", "diverging", "not_learning", "overfitting",
    "metric_loss_mismatch", "train_oscillation", "val_fluctuation",
    "loss_spike", "not_converged", "plateau_then_drop", "noisy_best_epoch",
)
# Among reasons of equal severity: a bug in the model or data before a
# choice of size, batch or order.
ROOT_PRIORITY = (
    "logits_mismatch", "relu_before_softmax", "unscaled_inputs",
    "class_imbalance", "dropout_too_high", "overparameterized",
    "small_batch", "unshuffled_data", "small_validation_set",
)
_WARNING = SEVERITY_RANK["warning"]
_CRITICAL = SEVERITY_RANK["critical"]


def _order(codes, finding):
    return codes.index(finding.code) if finding.code in codes else len(codes)


def explains(reason, finding):
    """True when finding `reason` explains `finding` (see `EXPLAINS`); a
    small validation set explains only validation curves."""
    if finding.code not in EXPLAINS.get(reason.code, ()):
        return False
    if reason.code == "small_validation_set":
        return (finding.series or "").startswith("val_")
    return True


def _is_measurement_noise(finding, findings):
    """A validation finding that a small validation set explains: chance,
    not a training problem."""
    return any(f.code == "small_validation_set" and f.rank >= _WARNING
               and explains(f, finding) for f in findings)


def _explainers(main, findings):
    """The findings that explain `main`: most severe first, then those
    whose top cause `main` also names."""
    own = {cause for cause, _ in main.causes[:2]}
    found = [f for f in findings if f is not main and explains(f, main)]
    return sorted(found, key=lambda f: (-f.rank, f.top_cause not in own,
                                        _order(ROOT_PRIORITY, f)))


def main_problem(findings):
    """The main problem and the findings that belong with it.

    The main problem is the most severe curve finding (ties broken by
    `MAIN_PRIORITY`; validation findings that a small validation set
    explains do not count), unless a run-context or lint finding that does
    not explain it is more severe: then that reason is the main problem
    (ties broken by `ROOT_PRIORITY`).

    Args:
        findings: list of `Finding`.

    Returns:
        `(main, related)`: a `Finding` or None, and the findings that only
        explain it (or, for a reason, that it explains), most severe first.
    """
    if not findings:
        return None, []
    curve = [f for f in findings if f.code in CURVE_CODES
             and not _is_measurement_noise(f, findings)]
    roots = [f for f in findings if f.code not in CURVE_CODES]
    # A small validation set blurs the diagnosis but trains nothing wrong:
    # it is the main problem only when nothing else is found.
    causes = [f for f in roots if f.code != "small_validation_set"] or roots
    symptom = min(curve, key=lambda f: (-f.rank, _order(MAIN_PRIORITY, f)),
                  default=None)
    root = min(causes, key=lambda f: (-f.rank, _order(ROOT_PRIORITY, f)),
               default=None)
    if symptom is not None and (
            root is None or symptom.rank == _CRITICAL
            or symptom.rank >= root.rank or _explainers(symptom, causes)):
        return symptom, _explainers(symptom, findings)
    if root is None:
        main = min(findings, key=lambda f: (-f.rank,
                                            _order(MAIN_PRIORITY, f)))
        return main, _explainers(main, findings)
    explained = [f for f in findings if f is not root and explains(root, f)]
    return root, sorted(explained, key=lambda f: -f.rank)


def arrange(findings):
    """Orders findings for reading: the main problem, then the findings
    that only explain it (or that it explains), then the rest (most severe
    first).

    Args:
        findings: list of `Finding`, most severe first.

    Returns:
        list of `(finding, note)`: for the findings placed with the main
        one, `note` says how they relate ("explains overfitting",
        "follows from overparameterized"), else None.
    """
    main, related = main_problem(findings)
    if main is None:
        return []
    out = [(main, None)] + [
        (f, f"explains {main.code}" if explains(f, main)
         else f"follows from {main.code}") for f in related]
    shown = {id(f) for f, _ in out}
    out.extend((f, None) for f in findings if id(f) not in shown)
    return out


def _shared_cause(main, findings):
    """The cause of `main` that most other findings also name (weighted by
    its rank in each list), or None."""
    scores = {}
    for finding in findings:
        if finding is not main and finding.rank < _WARNING:
            continue
        for position, (cause, _) in enumerate(finding.causes[:3]):
            scores[cause] = scores.get(cause, 0.0) + 1.0 / (position + 1)
    own = [cause for cause, _ in main.causes]
    if not own:
        return None
    return max(own, key=lambda cause: (scores.get(cause, 0.0),
                                       -own.index(cause)))


def _sentence(text):
    text = text.strip()
    if not text:
        return ""
    first_word = text.split(" ", 1)[0]
    # A curve name such as val_loss keeps its spelling.
    if "_" not in first_word and first_word != "loss":
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def headline(findings, context=None, *, n_epochs=None, best_epoch=None,
             monitor=None):
    """One or two sentences: the main problem, with its numbers, and the
    first thing to change.

    Args:
        findings: list of `Finding`.
        context: dict or `RunContext`. The run context (`n_train`, `n_val`,
            `batch_size`, `n_params`, ...). Defaults to `None`.
        n_epochs: int or None. Epochs analysed. Defaults to `None`.
        best_epoch: int or None. The recommended epoch. Defaults to `None`.
        monitor: `SeriesStats` or None. The monitored curve, for the line
            on a healthy run. Defaults to `None`.

    Returns:
        str.

    Example:

    >>> headline([], {}, n_epochs=3).split(":")[0]
    'Only 3 epochs'
    """
    context = _as_dict(context)
    short = n_epochs is not None and 0 < n_epochs < MIN_EPOCHS_TO_JUDGE
    main, related = main_problem(findings)
    if main is None or main.rank < _WARNING:
        if short:
            return _short_run(n_epochs)
        return _healthy(findings, n_epochs, best_epoch, monitor)
    reason, symptom = _story(main, related)
    if reason is not None:
        effect = (symptom_phrase(symptom, context, n_epochs)
                  if symptom is not None else effect_phrase(reason))
        problem = f"{explainer_phrase(reason, context)}: {effect}"
        change = cause_change(None, reason, context, best_epoch)
    else:
        problem = symptom_phrase(main, context, n_epochs)
        change = cause_change(_shared_cause(main, findings), main, context,
                              best_epoch)
    if (symptom is not None and symptom.code == "overfitting"
            and best_epoch is not None and "epoch" not in change):
        change += f", and keep epoch {best_epoch}"
    parts = [_sentence(problem), _sentence(change)]
    extra = _second_problem({id(main), id(reason), id(symptom)}, findings,
                            context)
    if extra:
        parts.append(_sentence(extra))
    elif short:
        parts.append(f"Only {n_epochs} epochs: too few to judge the trend.")
    return " ".join(p for p in parts if p)


def _story(main, related):
    """`(reason, symptom)`: the run-context or lint finding that explains
    the main problem (or None), and the curve finding it shows in (or
    None)."""
    if main.code in CURVE_CODES:
        reasons = [f for f in related if f.code not in CURVE_CODES]
        return (reasons[0] if reasons else None), main
    shown = [f for f in related if f.code in CURVE_CODES
             and f.rank >= _WARNING]
    return main, (shown[0] if shown else None)


def _second_problem(told, findings, context):
    """A small validation set that the main problem does not account for:
    it qualifies every validation finding, so it is told next."""
    for finding in findings:
        if (finding.code == "small_validation_set" and id(finding) not in told
                and finding.rank >= _WARNING):
            n_val = finding.evidence.get("n_val", context.get("n_val"))
            size = f" ({fmt(n_val)})" if n_val is not None else ""
            return (f"the validation set{size} is too small to judge by, so "
                    "use k-fold cross-validation or hold out more data")
    return ""


def _short_run(n_epochs):
    return (f"Only {n_epochs} epoch{'s' if n_epochs != 1 else ''}: too few "
            "to judge noise, trend or overfitting. Train for at least "
            f"{MIN_EPOCHS_TO_JUDGE} epochs (10 or more to see a trend).")


def _healthy(findings, n_epochs, best_epoch, monitor):
    # A lint report has no curves (no epochs) to call healthy.
    text = ("Healthy: no problem found in the curves" if n_epochs
            or monitor is not None else "No problem found")
    if monitor is not None and monitor.n_finite >= 2:
        moved = "fell" if monitor.direction == "min" else "rose"
        text = (f"Healthy: {monitor.name} {moved} from {fmt(monitor.first)} "
                f"to {fmt(monitor.last)}")
        if n_epochs:
            text += f" over {n_epochs} epochs"
    if best_epoch is not None:
        text += f"; keep epoch {best_epoch}"
    text += "."
    notes = len(findings)
    if notes:
        text += (f" {notes} minor note{'s' if notes > 1 else ''} "
                 "below.")
    return text


def _as_dict(context):
    if context is None:
        return {}
    if isinstance(context, dict):
        return context
    return context.to_dict()


def report_headline(report):
    """`headline()` for a `Report`."""
    monitor = report.series.get(report.best_epoch_curve or report.monitor
                                or "")
    return headline(report.findings, report.context,
                    n_epochs=report.n_epochs, best_epoch=report.best_epoch,
                    monitor=monitor)
