"""Findings: what curvewatch reports, with its fixed vocabularies.

This module imports neither keras nor tensorflow.
"""

import dataclasses

from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float

INFO = "info"
WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)
SEVERITY_RANK = {INFO: 0, WARNING: 1, CRITICAL: 2}

# Finding codes, by where the evidence comes from.
CURVE_CODES = (
    "nan_loss",
    "diverging",
    "not_learning",
    "overfitting",
    "not_converged",
    "plateau_then_drop",
    "train_oscillation",
    "val_fluctuation",
    "loss_spike",
    "metric_loss_mismatch",
    "noisy_best_epoch",
)
CONTEXT_CODES = ("small_batch", "overparameterized", "small_validation_set")
BATCH_CODES = ("unshuffled_data",)
LINT_CODES = (
    "relu_before_softmax",
    "logits_mismatch",
    "class_imbalance",
    "unscaled_inputs",
    "dropout_too_high",
)
# Issue 17 (acting on findings): the live label counts of the two sides
# of the split, and a plateau explained by a frozen base.
ACTION_CODES = ("split_mismatch", "underfitting")
CODES = CURVE_CODES + CONTEXT_CODES + BATCH_CODES + LINT_CODES + ACTION_CODES

CAUSES = (
    "learning_rate",
    "batch_size",
    "model_capacity",
    "regularization",
    "validation_size",
    "data_shuffling",
    "initialization",
    "output_activation",
    "class_imbalance",
    "data_quality",
    "training_length",
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One diagnosis: what is wrong, why, and what to do about it.

    Args:
        code: str. One of `keras_curvewatch.CODES`, e.g. `"overfitting"`.
        severity: str. `"info"`, `"warning"` or `"critical"`.
        message: str. One or two sentences a Keras user can act on.
        series: str or None. The curve concerned, e.g. `"val_loss"`.
        epoch: int or None. The first epoch where it shows.
        evidence: dict of str to float. The numbers behind the finding.
        causes: sequence of `(cause, sentence)` pairs, most likely first;
            each cause is one of `keras_curvewatch.CAUSES`.
        suggestion: str. The concrete thing to try.

    Raises:
        ConfigError: if the code, severity or a cause is not in its
            vocabulary.
    """

    code: str
    severity: str
    message: str
    series: str = None
    epoch: int = None
    evidence: dict = dataclasses.field(default_factory=dict)
    causes: tuple = ()
    suggestion: str = ""

    def __post_init__(self):
        from keras_curvewatch.errors import ConfigError

        if self.code not in CODES:
            raise ConfigError(
                f"Unknown finding code {self.code!r}. Expected one of {CODES}."
            )
        if self.severity not in SEVERITIES:
            raise ConfigError(
                f"Unknown severity {self.severity!r}. Expected one of "
                f"{SEVERITIES}."
            )
        causes = tuple((str(c), str(s)) for c, s in self.causes)
        for cause, _ in causes:
            if cause not in CAUSES:
                raise ConfigError(
                    f"Unknown cause {cause!r} in finding {self.code!r}. "
                    f"Expected one of {CAUSES}."
                )
        object.__setattr__(self, "causes", causes)
        evidence = {str(k): float(v) for k, v in dict(self.evidence).items()}
        object.__setattr__(self, "evidence", evidence)
        if self.epoch is not None:
            object.__setattr__(self, "epoch", int(self.epoch))

    @property
    def rank(self):
        """int. 0 for info, 1 for warning, 2 for critical."""
        return SEVERITY_RANK[self.severity]

    @property
    def top_cause(self):
        """str or None. The most likely cause."""
        return self.causes[0][0] if self.causes else None

    def to_dict(self):
        """Returns a JSON-ready dict; `Finding.from_dict` reverses it."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "series": self.series,
            "epoch": self.epoch,
            "evidence": {k: encode_float(v) for k, v in self.evidence.items()},
            "causes": [[c, s] for c, s in self.causes],
            "suggestion": self.suggestion,
        }

    @classmethod
    def from_dict(cls, data):
        """Builds a `Finding` from the output of `to_dict`."""
        return cls(
            code=data["code"],
            severity=data["severity"],
            message=data.get("message", ""),
            series=data.get("series"),
            epoch=data.get("epoch"),
            evidence={
                k: decode_float(v) for k, v in data.get("evidence", {}).items()
            },
            causes=tuple(tuple(pair) for pair in data.get("causes", ())),
            suggestion=data.get("suggestion", ""),
        )


def sort_findings(findings):
    """Sorts findings most severe first, then by epoch, then by code."""
    return sorted(
        findings,
        key=lambda f: (
            -f.rank,
            f.epoch if f.epoch is not None else -1,
            CODES.index(f.code),
        ),
    )
