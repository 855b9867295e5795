"""`not_learning`: the loss stays near its starting value, or at chance
level, over most of the run (LABELLING.md), including a network that
collapses to a constant chance-level loss after a few chaotic epochs.
"""

import math

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules import causes as cz
from keras_curvewatch.engine.rules import shape
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import pct
from keras_curvewatch.engine.rules.base import rank_causes
from keras_curvewatch.engine.series import is_bounded_metric

# Flat: after its first epoch (often a single large step from the
# initialisation) the loss never gets more than 3 % below where it stood,
# while a learning run keeps gaining far more; and it needs 5 epochs.
NOT_LEARNING_MAX_IMPROVEMENT = 0.03
NOT_LEARNING_MIN_EPOCHS = 5
# A loss that climbs 10 % above where it stood is diverging, not flat.
NOT_LEARNING_MAX_RISE = 0.10
# ...and an accuracy that gains less than 2 points over the run.
NOT_LEARNING_MAX_ACCURACY_GAIN = 0.02
# "Most of the run": at chance on at least half of the epochs.
CHANCE_MIN_SHARE = 0.5
# With the loss at ln K, an accuracy within 10 points of 1/K (at most half
# of 1/K for many classes) agrees: a validation set of 100 samples has a
# standard error of 5 points at 50 %.
LOOSE_ACCURACY = 0.10
LOOSE_ACCURACY_PER_CLASS = 0.5
# Without the loss, both accuracies must be within 5 points (a quarter of
# 1/K for many classes) of 1/K: two standard errors of 400 samples.
TIGHT_ACCURACY = 0.05
TIGHT_ACCURACY_PER_CLASS = 0.25
# A validation loss at chance while the training loss ends a quarter or
# more below ln K is memorising, not a dead network: that is overfitting
# (LABELLING.md: "not_learning" is about the loss, "overfitting" about a
# widening gap), so the validation curve alone never claims not_learning.
TRAIN_ESCAPED_CHANCE = 0.25
# Chaotic start: before settling, the loss moved by 10 % of its level or
# more from one epoch to the next (a collapse, not a slow creep).
CHAOTIC_STEP = 0.10


def _accuracy_pair(inp, name):
    """The accuracy curve matching loss `name` (val or train), or None."""
    metric = inp.val_metric if name == inp.val_loss else inp.metric
    if metric is None or metric not in inp.series:
        return None
    values = inp.values(metric)
    return metric if is_bounded_metric(metric, values) else None


def _chance(inp, name):
    """`(k, share, accuracy_name, by_loss)` when loss `name` and its
    accuracy sit at the chance level of K classes over most of the run,
    else None.

    Either the loss sits at ln K on most epochs and the accuracy of those
    epochs is about 1/K (`LOOSE_ACCURACY`), or, whatever the loss, both the
    training and the validation accuracy are at 1/K on most epochs
    (`TIGHT_ACCURACY`). A loss alone never claims K.
    """
    metric = _accuracy_pair(inp, name)
    if metric is None:
        return None
    acc, loss = inp.values(metric), inp.values(name)
    if np.isfinite(acc).sum() < NOT_LEARNING_MIN_EPOCHS:
        return None
    # K comes from the accuracy (1/K; an accuracy under half of
    # 1/CHANCE_MAX_CLASSES names no K); the loss must then sit at ln K.
    fin_acc = stats.finite(acc)
    k = int(round(1.0 / float(np.median(fin_acc)))) if float(
        np.median(fin_acc)) > 0.5 / shape.CHANCE_MAX_CLASSES else 0
    if 2 <= k <= shape.CHANCE_MAX_CLASSES:
        at_loss = np.isfinite(loss) & (np.abs(loss - math.log(k)) <= (
            shape.CHANCE_LOSS_TOLERANCE * math.log(k)))
        there = acc[at_loss & np.isfinite(acc)]
        if at_loss.mean() >= CHANCE_MIN_SHARE and len(there) and abs(
                float(np.median(there)) - 1.0 / k) <= min(
                    LOOSE_ACCURACY, LOOSE_ACCURACY_PER_CLASS / k):
            return k, float(at_loss.mean()), metric, True
    shares = []
    for other in (inp.metric, inp.val_metric):
        if other is None or other not in inp.series:
            return None
        values = inp.values(other)
        fin = stats.finite(values)
        k_other = shape.chance_classes(float(np.median(fin))) if len(
            fin) else None
        if k_other is None or (shares and k_other != shares[0][0]):
            return None
        tol = min(TIGHT_ACCURACY, TIGHT_ACCURACY_PER_CLASS / k_other)
        shares.append((k_other, float(np.mean(
            np.isfinite(values) & (np.abs(values - 1.0 / k_other) <= tol)))))
    if min(share for _, share in shares) >= CHANCE_MIN_SHARE:
        return shares[0][0], min(share for _, share in shares), metric, False
    return None


def _flat(inp, name):
    """Relative improvement after the first epoch, if under the limit."""
    values = inp.values(name)
    fin = stats.finite(values)
    if len(fin) < NOT_LEARNING_MIN_EPOCHS or not np.isfinite(values).all():
        return None
    start = float(fin[1])
    level = abs(start) or 1.0
    smooth = np.asarray(inp.series[name].smoothed)[1:]
    improvement = (start - float(min(np.min(smooth), np.min(fin[1:])))) / level
    rise = (float(np.max(smooth)) - start) / level
    if improvement >= NOT_LEARNING_MAX_IMPROVEMENT or (
            rise >= NOT_LEARNING_MAX_RISE):
        return None
    metric = _accuracy_pair(inp, name)
    if metric is not None:
        acc = stats.finite(inp.values(metric))
        if len(acc) and float(np.max(acc) - acc[0]) > (
                NOT_LEARNING_MAX_ACCURACY_GAIN):
            return None
    return improvement


def _frozen_metric(inp):
    """A finite curve that is frozen after its first epoch, or None."""
    for name in sorted(inp.series):
        values = inp.values(name)[1:]
        if np.isfinite(values).sum() >= NOT_LEARNING_MIN_EPOCHS and (
                shape.is_frozen(values)):
            return name
    return None


def _chaotic_then_flat(values):
    """True when the loss jumped by `CHAOTIC_STEP` or more before it
    settled: a collapse rather than a slow start."""
    fin = stats.finite(values)
    if len(fin) < 3 or (fin <= 0).any():
        return False
    steps = np.abs(np.diff(np.log(fin)))
    return bool(steps[: max(1, len(steps) // 2)].max() >= CHAOTIC_STEP)


def not_learning_rule(inp):
    """`not_learning`: no finite loss at all, a loss that stays near its
    starting value, or loss and accuracy at chance level over most of
    the run."""
    names = [n for n in (inp.loss, inp.val_loss) if n is not None]
    if not names:
        return []
    values = inp.values(names[0])
    if len(values) and not np.isfinite(values).any():
        frozen = _frozen_metric(inp)
        if frozen is None:
            return []  # nan_loss says it all; no metric tells more.
        what = (f"{names[0]} is not finite in any of its {len(values)} "
                f"epochs and {frozen} is frozen: the model never produced a "
                "usable loss and its output never changed, so nothing was "
                "learned")
        return [_finding(inp, names[0], what, {}, None)]
    for name in names:
        chance = _chance(inp, name)
        if chance is not None and _train_escaped(inp, name, chance[0]):
            chance = None
        if chance is not None:
            k, share, metric, by_loss = chance
            what = (f"{name} and {metric} sit at the chance level of {k} "
                    f"classes (ln {k} = {fmt(math.log(k))}, accuracy 1/{k} "
                    f"= {fmt(1 / k)}) on {pct(share)} of the epochs"
                    if by_loss else
                    f"{inp.metric} and {inp.val_metric} stay at 1/{k} = "
                    f"{fmt(1 / k)}, the chance level of {k} classes, on "
                    f"{pct(share)} of the epochs")
            evidence = {"chance_level_classes": k, "share_at_chance": share}
            return [_finding(inp, name, what, evidence, k)]
    # Flat is judged on the training loss: a validation loss that stays
    # near its start while the training loss falls is overfitting.
    for name in names[:1]:
        improvement = _flat(inp, name)
        if improvement is not None:
            what = (f"after {len(values)} epochs {name} is only "
                    f"{pct(improvement)} below where it stood after the "
                    f"first epoch ({fmt(stats.finite(inp.values(name))[1])})")
            return [_finding(inp, name, what,
                             {"relative_improvement": improvement}, None)]
    return []


def _train_escaped(inp, name, k):
    """True when `name` is the validation loss and the training loss ends
    well below the chance level ln K: the training side learned."""
    if name != inp.val_loss or inp.loss is None:
        return False
    train = stats.finite(inp.values(inp.loss))
    if not len(train):
        return False
    end = float(np.median(train[-max(1, len(train) // 5):]))
    return end < (1.0 - TRAIN_ESCAPED_CHANCE) * math.log(k)


def _finding(inp, name, what, evidence, k):
    values = inp.values(name)
    chaotic = k is not None and _chaotic_then_flat(values)
    lr_high, lr_low = base.lr_is_high(inp), base.lr_is_low(inp)
    causes = [
        (cz.STRONG + cz.NUDGE if lr_high or lr_low or chaotic
         else cz.LIKELY, "learning_rate",
         "the loss jumped around for a few epochs, then collapsed to the "
         "chance level: a rate too high killed the units (dead ReLUs, a "
         "saturated output) and the network now predicts a constant."
         if chaotic else
         f"{base.lr_sentence(inp)} is "
         + ("so high that steps overshoot." if lr_high else "too low to move.")
         if lr_high or lr_low else
         "a rate far too low barely moves the weights; far too high "
         "bounces around without progress."),
        (cz.LIKELY + cz.NUDGE if k and not chaotic else cz.POSSIBLE
         + cz.TIE_BREAK, "output_activation",
         f"a uniform guess over {k} classes: check the output activation "
         "and the loss (from_logits)." if k else
         "a wrong output activation or loss pairing can block learning."),
        (cz.POSSIBLE + cz.NUDGE, "data_quality",
         "inputs that are not scaled, or labels not aligned with inputs, "
         "leave nothing to learn."),
        (cz.POSSIBLE, "initialization", "dead units from the initialisation."),
    ]
    evidence = dict(evidence)
    evidence["chaotic_start"] = float(chaotic)
    return Finding(
        code="not_learning",
        severity=CRITICAL,
        series=name,
        epoch=int(inp.curves.epochs[0]),
        message=f"{name} is not learning: {what}.",
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=(
            ("Restart with a learning rate 10x lower (the collapse is not "
             "undone by training on), and check " if chaotic else
             "Try a learning rate 10x higher and 10x lower, check ")
            + "that the inputs are scaled and the labels match them, and "
            "that the output activation matches the loss (softmax with "
            "categorical_crossentropy, or from_logits=True with a linear "
            "output)."
        ),
    )
