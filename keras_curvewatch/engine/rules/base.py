"""What every rule receives, and helpers the rules share.

A rule is a pure function `rule(inp: RuleInput) -> list[Finding]`. Rules
import neither keras nor tensorflow.
"""

import dataclasses

import numpy as np

from keras_curvewatch.engine.context import RunContext


@dataclasses.dataclass
class RuleInput:
    """Everything a rule may look at.

    Args:
        curves: `Curves`. The per-epoch curves.
        series: dict of str to `SeriesStats`, one per analysed curve.
        context: `RunContext`.
        batch: dict. Per-batch statistics (`stats.batch_noise` and
            `stats.batch_periodicity`), empty when no per-batch losses.
        loss: str or None. The training loss curve's name (`"loss"`).
        val_loss: str or None. The validation loss curve's name.
        metric: str or None. The main training metric (an accuracy).
        val_metric: str or None. Its validation counterpart.
        best_epoch: int or None. The recommended epoch (`best_epoch.py`),
            for suggestions that name the epoch to keep.
    """

    curves: object
    series: dict
    context: RunContext = dataclasses.field(default_factory=RunContext)
    batch: dict = dataclasses.field(default_factory=dict)
    loss: str = None
    val_loss: str = None
    metric: str = None
    val_metric: str = None
    best_epoch: int = None

    def values(self, name):
        """The raw curve `name` as a float64 array, or None."""
        if name is None:
            return None
        return self.curves.get(name)

    def epoch_label(self, index):
        """The epoch label of row `index` (None stays None)."""
        if index is None:
            return None
        return int(self.curves.epochs[int(index)])


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


def first_index(mask):
    """Index of the first True in `mask`, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def pct(fraction):
    """Formats a fraction as a percentage: 0.1234 -> '12%', 0.01234 ->
    '1.2%'."""
    value = 100.0 * float(fraction)
    if not np.isfinite(value):
        return f"{value}%"
    if abs(value) >= 10:
        return f"{value:,.0f}%"
    return f"{value:.2g}%"


def fmt(value, digits=3):
    """Formats a number for a message: 3 significant digits."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not np.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    if abs(value) >= min(1000, 10**digits):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


# Adaptive optimizers default to 1e-3; ten times that is the usual point
# where Adam-family training starts to oscillate (Keras defaults).
ADAPTIVE_LR_HIGH = 1e-2
# SGD's Keras default is 1e-2; 0.1 is the classic upper end for SGD with
# momentum on small nets, so rates at or above it are high.
SGD_LR_HIGH = 0.1
# An Adam-family rate below 1e-5 (100x under the default) barely moves.
ADAPTIVE_LR_LOW = 1e-5
# SGD below 1e-4 (100x under its default) barely moves.
SGD_LR_LOW = 1e-4
# Large batches average out sampling noise: at 128 or more, oscillation
# left in the curve points at the step size rather than the batch.
LARGE_BATCH_MIN = 128

_ADAPTIVE = ("adam", "adamw", "nadam", "adamax", "rmsprop", "adagrad",
             "adadelta", "lion", "adafactor", "lamb", "ftrl", "muon")


def _is_sgd(optimizer):
    return optimizer is not None and optimizer.lower() in ("sgd",)


def _is_adaptive(optimizer):
    return optimizer is not None and optimizer.lower() in _ADAPTIVE


def learning_rate_of(inp):
    """The learning rate at the start of the run: from the context, else
    from a logged `learning_rate` curve; None if unknown."""
    if inp.context.learning_rate is not None:
        return inp.context.learning_rate
    curve = inp.curves.get("learning_rate")
    if curve is not None:
        finite = curve[np.isfinite(curve)]
        if len(finite):
            return float(finite[0])
    return None


def lr_is_high(inp):
    """True / False when the rate is known to be high / not high; None when
    unknown."""
    lr = learning_rate_of(inp)
    if lr is None:
        return None
    optimizer = inp.context.optimizer
    if _is_sgd(optimizer):
        return lr >= SGD_LR_HIGH
    if _is_adaptive(optimizer):
        return lr >= ADAPTIVE_LR_HIGH
    return lr >= SGD_LR_HIGH


def lr_is_low(inp):
    """True when the rate is known to be very low."""
    lr = learning_rate_of(inp)
    if lr is None:
        return False
    if _is_sgd(inp.context.optimizer):
        return lr <= SGD_LR_LOW
    return lr <= ADAPTIVE_LR_LOW


def lr_sentence(inp):
    """A short description of the known learning rate, or ''."""
    lr = learning_rate_of(inp)
    if lr is None:
        return ""
    name = inp.context.optimizer or "the optimizer"
    return f"{name} at learning rate {fmt(lr)}"


def lr_changes(inp):
    """Indices where a logged `learning_rate` curve changes by more than
    1 %, with the old and new values."""
    curve = inp.curves.get("learning_rate")
    if curve is None:
        return []
    out = []
    for i in range(1, len(curve)):
        a, b = curve[i - 1], curve[i]
        if np.isfinite(a) and np.isfinite(b) and a > 0:
            if abs(b - a) / a > 0.01:
                out.append((i, float(a), float(b)))
    return out


def batch_cause_score(inp, small=3.0, medium=1.0, large=0.2):
    """Score of `batch_size` as a cause of noise, from the context."""
    from keras_curvewatch.engine.rules.context import SMALL_BATCH_MAX

    batch = inp.context.batch_size
    if batch is None:
        return 0.5
    if batch <= SMALL_BATCH_MAX:
        return small
    if batch < LARGE_BATCH_MIN:
        return medium
    return large


def capacity_score(inp):
    """Score of `model_capacity` from parameters per sample (0 if
    unknown)."""
    from keras_curvewatch.engine.rules import context as ctx_rules

    ratio = inp.context.params_per_sample
    if ratio is None:
        return 0.0
    factor = ctx_rules.RECURRENT_FACTOR if inp.context.recurrent else 1.0
    if ratio >= ctx_rules.PARAMS_PER_SAMPLE_WARN * factor:
        return 3.0
    if ratio >= ctx_rules.PARAMS_PER_SAMPLE_INFO * factor:
        return 1.5
    return 0.3
