"""The diagnosis rules: one pure function per diagnosis, one registry.

Each rule has the signature `rule(inp: RuleInput) -> list[Finding]`. A new
diagnosis is its code in `keras_curvewatch.engine.codes` plus its rule,
listed in `RULES` here (or added with `register_rule`).
"""

import dataclasses

from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules.base import RuleInput
from keras_curvewatch.engine.rules.batch import unshuffled_data_rule
from keras_curvewatch.engine.rules.context import context_findings
from keras_curvewatch.engine.rules.context import context_rule
from keras_curvewatch.engine.rules.training import diverging_rule
from keras_curvewatch.engine.rules.spikes import loss_spike_rule
from keras_curvewatch.engine.rules.training import nan_loss_rule
from keras_curvewatch.engine.rules.training import train_oscillation_rule
from keras_curvewatch.engine.rules.learning import not_learning_rule
from keras_curvewatch.engine.rules.progress import not_converged_rule
from keras_curvewatch.engine.rules.progress import plateau_then_drop_rule
from keras_curvewatch.engine.rules.mismatch import metric_loss_mismatch_rule
from keras_curvewatch.engine.rules.validation import noisy_best_epoch_rule
from keras_curvewatch.engine.rules.overfitting import overfitting_rule
from keras_curvewatch.engine.rules.validation import val_fluctuation_rule
from keras_curvewatch.engine.findings import SEVERITY_RANK

RULES = [
    nan_loss_rule,
    diverging_rule,
    not_learning_rule,
    overfitting_rule,
    not_converged_rule,
    plateau_then_drop_rule,
    train_oscillation_rule,
    val_fluctuation_rule,
    loss_spike_rule,
    metric_loss_mismatch_rule,
    noisy_best_epoch_rule,
    context_rule,
    unshuffled_data_rule,
]

# Once a loss is NaN or not learning at all, the finer diagnoses of its
# shape are noise: these codes are dropped for the same curve. A loss that
# is NaN in every epoch is also `not_learning` (nothing was learned), so
# `nan_loss` does not drop it; `not_learning` keeps `plateau_then_drop`,
# the shape of a run that only starts to learn late (LABELLING.md).
# `diverging` stays beside `nan_loss`: its rule judges only the epochs
# before the first NaN, and a climb that ended in an overflow is both.
# An overfitting run would not gain from more epochs, so it is not
# `not_converged` however fast its training loss still falls.
_SUPERSEDED_BY = {
    "nan_loss": ("not_converged", "train_oscillation", "loss_spike",
                 "plateau_then_drop"),
    "not_learning": ("not_converged", "overfitting", "noisy_best_epoch",
                     "metric_loss_mismatch", "val_fluctuation"),
    "diverging": ("not_converged", "train_oscillation"),
    "overfitting": ("not_converged",),
}


def superseded_by(code):
    """tuple of str. The codes made moot once `code` is found."""
    return _SUPERSEDED_BY.get(code, ())


def register_rule(rule):
    """Adds a rule to `RULES`, run by every diagnosis after the built-in
    ones.

    Args:
        rule: callable. `rule(inp: RuleInput) -> list[Finding]`.

    Returns:
        `rule`, so that it can be used as a decorator.
    """
    if rule not in RULES:
        RULES.append(rule)
    return rule


def unregister_rule(rule):
    """Removes a rule added by `register_rule` (for tests and plugins)."""
    if rule in RULES:
        RULES.remove(rule)


def merge_findings(findings):
    """Keeps one finding per code (the most severe, evidence merged) and
    drops findings made moot by a more basic one."""
    by_code = {}
    for finding in findings:
        kept = by_code.get(finding.code)
        if kept is None:
            by_code[finding.code] = finding
            continue
        first, second = (
            (finding, kept) if SEVERITY_RANK[finding.severity]
            > SEVERITY_RANK[kept.severity] else (kept, finding)
        )
        evidence = dict(second.evidence)
        evidence.update(first.evidence)
        causes = list(first.causes) + [
            c for c in second.causes if c[0] not in dict(first.causes)
        ]
        by_code[finding.code] = type(first)(
            code=first.code, severity=first.severity, message=first.message,
            series=first.series, epoch=first.epoch, evidence=evidence,
            causes=tuple(causes), suggestion=first.suggestion,
        )
    moot = set()
    for code, dropped in _SUPERSEDED_BY.items():
        if code in by_code:
            moot.update(dropped)
    return [f for c, f in by_code.items() if c not in moot]


def run_rules(inp, rules=None):
    """Runs `rules` on `inp` and merges the findings.

    Args:
        inp: `RuleInput`.
        rules: sequence of rule functions. Defaults to `RULES`.

    Returns:
        list of `Finding`, one per code.
    """
    findings = []
    for rule in RULES if rules is None else rules:
        findings.extend(rule(inp))
    return [_learning_rate_read(inp, f) for f in merge_findings(findings)]


def _learning_rate_read(inp, finding):
    """Where the log has a learning-rate column, a finding that names the
    rate as a cause shows the rate's whole range, and a cut that did not
    help the finding's curve rules the rate out (last, with why)."""
    names = [c for c, _ in finding.causes]
    evidence = base.lr_evidence(inp)
    if "learning_rate" not in names or not evidence:
        return finding
    evidence.update(finding.evidence)
    causes = finding.causes
    series = finding.series if finding.series in inp.curves else inp.loss
    ineffective = base.lr_cut_without_effect(inp, series) if series else None
    if ineffective is not None:
        epoch, old, new, effect = ineffective
        evidence["lr_cut_effect"] = effect
        sentence = (f"not the rate: it was cut from {base.fmt(old)} to "
                    f"{base.fmt(new)} at epoch {epoch} and {series} did not "
                    f"improve ({base.lr_range_sentence(inp)}).")
        causes = tuple(c for c in causes if c[0] != "learning_rate") + (
            ("learning_rate", sentence),)
    return dataclasses.replace(finding, evidence=evidence, causes=causes)


__all__ = ["RULES", "RuleInput", "context_findings", "merge_findings",
           "register_rule", "run_rules", "superseded_by", "unregister_rule"]
