"""Warning categories for findings, and the policy that raises them.

Each finding code has its own `CurveWarning` subclass, so users can filter
one diagnosis with the standard `warnings` machinery:

```python
warnings.filterwarnings("ignore", category=kcw.SmallBatchWarning)
```

This module imports neither keras nor tensorflow.
"""

import logging
import warnings

from keras_curvewatch.errors import ConfigError
from keras_curvewatch.engine.findings import SEVERITY_RANK

LOGGER_NAME = "keras_curvewatch"

# Evidence numbers shown in a warning; the report holds them all.
MAX_EVIDENCE_IN_WARNING = 6
# Causes shown in a warning: the most likely ones.
MAX_CAUSES_IN_WARNING = 3

WARN_MODES = ("warnings", "logging")


class CurveWarning(UserWarning):
    """Base category of every warning raised for a curvewatch finding."""


class NanLossWarning(CurveWarning):
    """The loss became NaN or infinite (`nan_loss`)."""


class DivergingWarning(CurveWarning):
    """The training loss grows (`diverging`)."""


class NotLearningWarning(CurveWarning):
    """The training loss does not go down (`not_learning`)."""


class OverfittingWarning(CurveWarning):
    """Validation loss rises while training loss falls (`overfitting`)."""


class NotConvergedWarning(CurveWarning):
    """The curves were still improving at the end (`not_converged`)."""


class PlateauThenDropWarning(CurveWarning):
    """A long plateau followed by a drop (`plateau_then_drop`)."""


class TrainOscillationWarning(CurveWarning):
    """The training loss oscillates (`train_oscillation`)."""


class ValFluctuationWarning(CurveWarning):
    """The validation curve fluctuates (`val_fluctuation`)."""


class LossSpikeWarning(CurveWarning):
    """Isolated spikes in a loss curve (`loss_spike`)."""


class MetricLossMismatchWarning(CurveWarning):
    """Metric and loss disagree (`metric_loss_mismatch`)."""


class NoisyBestEpochWarning(CurveWarning):
    """The best raw epoch is a lucky fluctuation (`noisy_best_epoch`)."""


class SmallBatchWarning(CurveWarning):
    """The batch size is small enough to make the loss noisy
    (`small_batch`)."""


class OverparameterizedWarning(CurveWarning):
    """Far more parameters than training samples (`overparameterized`)."""


class SmallValidationSetWarning(CurveWarning):
    """Too few validation samples for a stable `val_loss`
    (`small_validation_set`)."""


class UnshuffledDataWarning(CurveWarning):
    """The batch loss repeats every epoch (`unshuffled_data`)."""


class ReluBeforeSoftmaxWarning(CurveWarning):
    """A ReLU feeds the softmax output (`relu_before_softmax`)."""


class LogitsMismatchWarning(CurveWarning):
    """`from_logits` does not match the output activation
    (`logits_mismatch`)."""


class ClassImbalanceWarning(CurveWarning):
    """Strongly imbalanced classes (`class_imbalance`)."""


class UnscaledInputsWarning(CurveWarning):
    """Inputs far from unit scale (`unscaled_inputs`)."""


class DropoutTooHighWarning(CurveWarning):
    """Dropout rates that starve learning (`dropout_too_high`)."""


class SplitMismatchWarning(CurveWarning):
    """Training and validation batches hold different classes
    (`split_mismatch`)."""


class UnderfittingWarning(CurveWarning):
    """Training accuracy levels off far from 1.0 (`underfitting`)."""


class CurvewatchDisabledWarning(RuntimeWarning):
    """Curvewatch hit an internal error and switched itself off; training
    goes on."""


WARNING_CLASSES = {
    "nan_loss": NanLossWarning,
    "diverging": DivergingWarning,
    "not_learning": NotLearningWarning,
    "overfitting": OverfittingWarning,
    "not_converged": NotConvergedWarning,
    "plateau_then_drop": PlateauThenDropWarning,
    "train_oscillation": TrainOscillationWarning,
    "val_fluctuation": ValFluctuationWarning,
    "loss_spike": LossSpikeWarning,
    "metric_loss_mismatch": MetricLossMismatchWarning,
    "noisy_best_epoch": NoisyBestEpochWarning,
    "small_batch": SmallBatchWarning,
    "overparameterized": OverparameterizedWarning,
    "small_validation_set": SmallValidationSetWarning,
    "unshuffled_data": UnshuffledDataWarning,
    "relu_before_softmax": ReluBeforeSoftmaxWarning,
    "logits_mismatch": LogitsMismatchWarning,
    "class_imbalance": ClassImbalanceWarning,
    "unscaled_inputs": UnscaledInputsWarning,
    "dropout_too_high": DropoutTooHighWarning,
    "split_mismatch": SplitMismatchWarning,
    "underfitting": UnderfittingWarning,
}


def warning_class(code):
    """Returns the `CurveWarning` subclass for a finding code.

    Args:
        code: str. One of `keras_curvewatch.CODES`.

    Returns:
        A subclass of `CurveWarning`; `CurveWarning` itself for a code
        without its own class.
    """
    return WARNING_CLASSES.get(code, CurveWarning)


def _number(value):
    value = float(value)
    if value.is_integer() and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"


def format_finding(finding):
    """Formats a finding as a warning message.

    Args:
        finding: `Finding`.

    Returns:
        str. The message, the evidence, the top causes and the suggestion.
    """
    where = [part for part in (
        finding.series,
        None if finding.epoch is None else f"epoch {finding.epoch}",
    ) if part]
    head = f"[{finding.severity}] {finding.code}"
    if where:
        head += f" ({', '.join(where)})"
    lines = [f"{head}: {finding.message}"]
    if finding.evidence:
        items = list(finding.evidence.items())[:MAX_EVIDENCE_IN_WARNING]
        lines.append(
            "  evidence: " + ", ".join(f"{k}={_number(v)}" for k, v in items)
        )
    for rank, (cause, sentence) in enumerate(
            finding.causes[:MAX_CAUSES_IN_WARNING], 1):
        lines.append(f"  cause {rank}: {cause}: {sentence}")
    if finding.suggestion:
        lines.append(f"  try: {finding.suggestion}")
    return "\n".join(lines)


class Notifier:
    """Raises each finding once, and again only when its severity rises.

    Args:
        warn: `"warnings"` (a `CurveWarning` subclass per code; the text is
            also logged at INFO level to the `"keras_curvewatch"` logger),
            `"logging"` (a WARNING record on that logger only) or a callable
            that receives each `Finding`. Defaults to `"warnings"`.

    Raises:
        ConfigError: if `warn` is none of these.
    """

    def __init__(self, warn="warnings"):
        if not callable(warn) and warn not in WARN_MODES:
            raise ConfigError(
                f"warn must be one of {WARN_MODES} or a callable. Received "
                f"warn={warn!r}."
            )
        self.warn = warn
        self.raised = {}  # code -> severity rank of its last warning

    def reset(self):
        self.raised = {}

    def pending(self, findings):
        """Returns the findings that are new or more severe than when they
        were last raised; at most one per code, the most severe."""
        best = {}
        for finding in findings:
            kept = best.get(finding.code)
            if kept is None or finding.rank > kept.rank:
                best[finding.code] = finding
        return [
            f for f in best.values()
            if f.rank > self.raised.get(f.code, -1)
        ]

    def notify(self, findings, shown_live=False):
        """Raises the pending findings.

        Args:
            findings: iterable of `Finding`.
            shown_live: bool. True when a live notebook display already
                shows them: the default `"warnings"` mode then only logs,
                so the notebook gets no new printout per epoch.

        Returns:
            list of `Finding`. The ones raised now.
        """
        raised = self.pending(findings)
        logger = logging.getLogger(LOGGER_NAME)
        for finding in raised:
            self.raised[finding.code] = finding.rank
            text = format_finding(finding)
            if self.warn == "warnings" and shown_live:
                logger.info(text)
            elif self.warn == "warnings":
                logger.info(text)
                # Attributed to the package, not to a line of its source:
                # the warning then prints as one clean block, and
                # `filterwarnings(module="keras_curvewatch")` matches it.
                warnings.warn_explicit(
                    text, warning_class(finding.code),
                    filename=LOGGER_NAME, lineno=0, module=LOGGER_NAME)
            elif self.warn == "logging":
                level = (logging.INFO if finding.severity == "info"
                         else logging.WARNING)
                logger.log(level, text)
            else:
                logger.info(text)
                self.warn(finding)
        return raised

    def get_state(self):
        return {"raised": dict(self.raised)}

    def set_state(self, state):
        self.raised = {
            str(code): int(rank)
            for code, rank in dict(state.get("raised", {})).items()
            if int(rank) in SEVERITY_RANK.values()
        }

