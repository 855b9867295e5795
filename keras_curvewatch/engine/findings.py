"""Findings: what curvewatch reports, with its fixed vocabularies.

This module imports neither keras nor tensorflow.
"""

import dataclasses

from keras_curvewatch.engine import codes as _codes
from keras_curvewatch.engine.codes import CRITICAL
from keras_curvewatch.engine.codes import INFO
from keras_curvewatch.engine.codes import SEVERITIES
from keras_curvewatch.engine.codes import WARNING
from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float
from keras_curvewatch.errors import ConfigError

SEVERITY_RANK = {INFO: 0, WARNING: 1, CRITICAL: 2}

# The built-in finding codes, by where the evidence comes from; the
# registry in `keras_curvewatch.engine.codes` is the one source.
CURVE_CODES = _codes.names(_codes.CURVE)
CONTEXT_CODES = _codes.names(_codes.CONTEXT)
BATCH_CODES = _codes.names(_codes.BATCH)
LINT_CODES = _codes.names(_codes.LINT)
CODES = _codes.names()

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
        _codes.get(self.code)  # ConfigError for an unregistered code
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


def rank_causes(candidates):
    """Orders candidate causes by score, highest first.

    Args:
        candidates: iterable of `(score, cause, sentence)`.

    Returns:
        tuple of `(cause, sentence)`; one entry per cause, the best score
        kept; causes with a score <= 0 are dropped.
    """
    best = {}
    for score, cause, sentence in candidates:
        if score <= 0:
            continue
        if cause not in best or score > best[cause][0]:
            best[cause] = (score, sentence)
    ordered = sorted(best.items(), key=lambda item: -item[1][0])
    return tuple((cause, sentence) for cause, (_, sentence) in ordered)


def sort_findings(findings):
    """Sorts findings most severe first, then by epoch, then by code."""
    return sorted(
        findings,
        key=lambda f: (
            -f.rank,
            f.epoch if f.epoch is not None else -1,
            _codes.order(f.code),
        ),
    )
