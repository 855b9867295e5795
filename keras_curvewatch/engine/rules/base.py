"""What every rule receives, and helpers the rules share.

A rule is a pure function `rule(inp: RuleInput) -> list[Finding]`. Rules
import neither keras nor tensorflow.
"""

import dataclasses

import numpy as np

from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.engine.findings import rank_causes  # noqa: F401
from keras_curvewatch.engine.format import fmt  # noqa: F401
from keras_curvewatch.engine.format import pct  # noqa: F401
from keras_curvewatch.engine.rules import context as ctx_rules
from keras_curvewatch.engine.rules import causes


@dataclasses.dataclass
class RuleInput:
    """Everything a rule may look at.

    Args:
        curves: `Curves`. The per-epoch curves.
        series: dict of str to `SeriesStats`, one per analysed curve.
        context: `RunContext`.
        batch: dict. Per-batch statistics (`batch_series.batch_noise` and
            `batch_series.batch_periodicity`), empty when no per-batch losses.
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


def first_index(mask):
    """Index of the first True in `mask`, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


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


def batch_cause_score(inp, small=causes.STRONG, medium=causes.POSSIBLE,
                      large=causes.MARGINAL):
    """Score of `batch_size` as a cause of noise, from the context (see
    `causes.batch_size_score`)."""
    from keras_curvewatch.engine.rules.context import SMALL_BATCH_MAX

    return causes.batch_size_score(inp.context.batch_size, SMALL_BATCH_MAX,
                                   LARGE_BATCH_MIN, small, medium, large)


def capacity_score(inp):
    """Score of `model_capacity` from parameters per sample (0 if
    unknown; see `causes.capacity_level`)."""
    from keras_curvewatch.engine.rules import context as ctx_rules

    factor = ctx_rules.RECURRENT_FACTOR if inp.context.recurrent else 1.0
    return causes.capacity_level(
        inp.context.params_per_sample,
        ctx_rules.PARAMS_PER_SAMPLE_WARN * factor,
        ctx_rules.PARAMS_PER_SAMPLE_INFO * factor)


# A logged rate cut counts when the rate falls to half or less: smaller
# steps (ReduceLROnPlateau's factor is 0.1 to 0.5) are schedule noise.
LR_CUT_FACTOR = 0.5
# Epochs after a cut in which its effect must show.
LR_CUT_EFFECT_EPOCHS = 3
# A cut "had an effect" when the loss's mean over those epochs fell at
# least 3 % below its mean over as many epochs before the cut, about
# twice the epoch-to-epoch noise of a typical training loss (1-2 %).
LR_CUT_MIN_EFFECT = 0.03


def rate_course(curves):
    """`(first, last, lowest, highest)` of a logged `learning_rate` curve
    in `curves`, or None when there is none or it is never finite."""
    curve = curves.get("learning_rate")
    if curve is None:
        return None
    fin = curve[np.isfinite(curve)]
    if not len(fin):
        return None
    return (float(fin[0]), float(fin[-1]), float(np.min(fin)),
            float(np.max(fin)))


def lr_range(inp):
    """`(first, lowest, highest)` of a logged `learning_rate` curve, or
    None."""
    course = rate_course(inp.curves)
    if course is None:
        return None
    first, _, low, high = course
    return first, low, high


def lr_range_sentence(inp):
    """'the logged learning rate went from A to B (lowest C)' or ''."""
    course = rate_course(inp.curves)
    if course is None:
        return ""
    first, last, low, high = course
    if high <= first * (1 + 1e-6) and low >= first * (1 - 1e-6):
        return f"the logged learning rate stayed at {fmt(first)}"
    return (f"the logged learning rate went from {fmt(first)} to "
            f"{fmt(last)} (range {fmt(low)}-{fmt(high)})")


def lr_cuts(inp):
    """Logged rate cuts: `(index, old, new)` where the rate fell to
    `LR_CUT_FACTOR` of its previous value or less."""
    return [c for c in lr_changes(inp) if c[2] <= LR_CUT_FACTOR * c[1]]


def lr_cut_effect(inp, name, index):
    """Relative fall of curve `name` over `LR_CUT_EFFECT_EPOCHS` after a
    cut at row `index` against as many rows before it (NaN if unknown)."""
    values = inp.values(name)
    if values is None:
        return float("nan")
    k = LR_CUT_EFFECT_EPOCHS
    before = values[max(0, index - k):index]
    after = values[index:index + k]
    before, after = before[np.isfinite(before)], after[np.isfinite(after)]
    if not len(before) or not len(after):
        return float("nan")
    ref = float(np.mean(before))
    if ref == 0:
        return float("nan")
    return (ref - float(np.mean(after))) / abs(ref)


def lr_cut_without_effect(inp, name):
    """The first logged cut after which curve `name` did not improve, as
    `(epoch, old, new, effect)`; None if every cut helped or none was
    made. A rate already cut with no effect is not what holds the curve
    back, so the rules then do not suggest lowering it again."""
    for index, old, new in lr_cuts(inp):
        effect = lr_cut_effect(inp, name, index)
        if np.isfinite(effect) and effect < LR_CUT_MIN_EFFECT:
            return inp.epoch_label(index), old, new, effect
    return None


def lr_evidence(inp):
    """The logged rate's whole range as evidence entries ({} if none)."""
    span = lr_range(inp)
    if span is None:
        return {}
    first, low, high = span
    return {"learning_rate_first": first, "learning_rate_min": low,
            "learning_rate_max": high}


def lower_lr_advice(inp, name, advice, otherwise):
    """`advice` (which lowers the rate) unless a logged cut already failed
    to help curve `name`; then `otherwise`, prefixed with why."""
    ineffective = lr_cut_without_effect(inp, name)
    if ineffective is None:
        return advice
    epoch, old, new, _ = ineffective
    return (f"The learning rate was already cut from {fmt(old)} to "
            f"{fmt(new)} at epoch {epoch} with no effect on {name}, so a "
            f"lower rate will not help: {otherwise}")
