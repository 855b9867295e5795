"""Whether the learning rate is the cause: the policy's reading of the
engine's findings and their ranked causes.

The engine ranks each finding's causes, most likely first
(`Finding.causes`); where a rule also scores them, the scores are read as
well. The policy acts on a finding only when the learning rate ranks first,
and holds back its plateau test while a finding says that the noise comes
from the batch, the validation set or the classes.

This module imports neither keras nor tensorflow.
"""

import math
from typing import NamedTuple

# Findings that mean "steps too large" when the learning rate ranks first
# among their causes: oscillation and spikes whose size follows the step,
# and a climb after the minimum (overshoot).
LR_FINDINGS = ("train_oscillation", "diverging", "loss_spike")
# Causes of noise that a smaller rate does not remove: the batch's sampling
# noise, a small validation set, skewed classes, unshuffled data.
BATCH_NOISE_CAUSES = ("batch_size", "validation_size", "class_imbalance",
                      "data_shuffling")
# Findings about noise: when their top cause is one of the causes above,
# a flat stretch is that noise, not a plateau the rate is to blame for.
NOISE_FINDINGS = ("train_oscillation", "val_fluctuation", "loss_spike",
                  "noisy_best_epoch", "small_batch", "small_validation_set",
                  "class_imbalance", "unshuffled_data")


class FindingView(NamedTuple):
    """What the policy reads of one finding.

    Args:
        code: str. The finding code.
        severity: str. `"info"`, `"warning"` or `"critical"`.
        causes: tuple of str. Cause names, most likely first.
        scores: tuple of float. The engine's score of each cause on its
            documented scale, or NaN where the rule gives none.
    """

    code: str
    severity: str
    causes: tuple = ()
    scores: tuple = ()

    @property
    def top_cause(self):
        return self.causes[0] if self.causes else None


def _score(entry):
    if len(entry) > 2:
        try:
            return float(entry[2])
        except (TypeError, ValueError):
            return math.nan
    return math.nan


def view(finding):
    """A `FindingView` of an engine `Finding`, or of a
    `(code, severity, top_cause)` triple (tests, older callers)."""
    if isinstance(finding, FindingView):
        return finding
    if isinstance(finding, tuple):
        code, severity, cause = finding
        causes = (cause,) if cause else ()
        return FindingView(str(code), str(severity), causes,
                           (math.nan,) * len(causes))
    causes = tuple(finding.causes)
    scores = getattr(finding, "cause_scores", None)
    if isinstance(scores, dict):
        values = tuple(float(scores.get(c[0], math.nan)) for c in causes)
    else:
        values = tuple(_score(c) for c in causes)
    return FindingView(finding.code, finding.severity,
                       tuple(str(c[0]) for c in causes), values)


def rate_findings(findings):
    """The findings among `LR_FINDINGS` whose top cause is the learning
    rate, most severe first."""
    rank = {"critical": 0, "warning": 1, "info": 2}
    found = [f for f in findings
             if f.code in LR_FINDINGS and f.top_cause == "learning_rate"]
    return sorted(found, key=lambda f: rank.get(f.severity, 3))


def batch_noise(findings):
    """The first noise finding whose top cause is the batch, the
    validation set, the classes or the shuffling, or None."""
    for f in findings:
        if f.code in NOISE_FINDINGS and f.top_cause in BATCH_NOISE_CAUSES:
            return f
    return None
