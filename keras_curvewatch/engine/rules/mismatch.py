"""`metric_loss_mismatch`: the loss and the metric tell different stories
(LABELLING.md):
- the validation loss is far above the training loss while the
  validation accuracy is as good or better;
- the loss moves a lot while a metric is frozen;
- accuracy is flat at a class share while the loss still falls.
"""

import math

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import INFO
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules import causes as cz
from keras_curvewatch.engine.rules import shape
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import rank_causes
from keras_curvewatch.engine.series import is_bounded_metric

# "Far above": the validation loss 10x the training loss or more
# (LABELLING.md), where overfitting would also show in the accuracy.
LOSS_RATIO_FAR = 10.0
# "Far above" on a plot of both losses too: the gap is at least 5 % of its
# height. Two losses at a floor of 0.001 and 0.012 after a fall from 0.5
# are 17x apart but 2 % of the plot apart (bench/labelled_fits.py, fresh4);
# the labelled real logs of this form are 16 % apart.
LOSS_GAP_MIN_SHARE_OF_RANGE = 0.05
# "As good or better": the validation accuracy no more than half a point
# below the training accuracy.
ACCURACY_MATCH = 0.005
# The loss "moves a lot" when its finite values span a factor of 1.25 or
# more (a quarter of its level), far beyond epoch-to-epoch noise.
LOSS_MOVES_LOG_RANGE = math.log(1.25)
# A frozen metric is judged after the first epoch (the first evaluation
# often precedes any learning) and needs 5 epochs to be called frozen.
FROZEN_MIN_EPOCHS = 5
# End values: mean of the last 3 epochs.
END_EPOCHS = 3
# "Accuracy flat at a class share while the loss still falls": the metric
# may learn for a few epochs first, so a frozen stretch at the end counts
# when it covers at least half the run ("over most of the run" at its
# least)...
FROZEN_TAIL_MIN_SHARE = 0.5
# ...and the loss over that stretch still falls: a significant downward
# trend (5 % level) by at least 3 % of its level, the "several percent"
# of LABELLING.md's not_converged.
SHARE_LOSS_MIN_FALL = 0.03
SHARE_TREND_P = 0.05
# A frozen accuracy means nothing when it has no room to move: within one
# point of 1.0 (10x the frozen tolerance) a classifier that has learned
# holds its accuracy as still as a majority-class predictor does.
SHARE_MIN_ERROR = 10 * shape.FROZEN_METRIC_RANGE


def _ratio_form(inp):
    """Validation loss 10x the training loss, validation accuracy as good
    or better."""
    if None in (inp.loss, inp.val_loss, inp.metric, inp.val_metric):
        return None
    if inp.metric not in inp.series or inp.val_metric not in inp.series:
        return None
    train_loss = shape.tail_mean(inp.values(inp.loss), END_EPOCHS)
    val_loss = shape.tail_mean(inp.values(inp.val_loss), END_EPOCHS)
    train_acc = shape.tail_mean(inp.values(inp.metric), END_EPOCHS)
    val_acc = shape.tail_mean(inp.values(inp.val_metric), END_EPOCHS)
    if not (train_loss > 0 and val_loss >= LOSS_RATIO_FAR * train_loss):
        return None
    both = np.concatenate([inp.values(inp.loss), inp.values(inp.val_loss)])
    if val_loss - train_loss < (LOSS_GAP_MIN_SHARE_OF_RANGE
                                * shape.curve_range(both)):
        return None
    if not is_bounded_metric(inp.val_metric, inp.values(inp.val_metric)):
        return None
    if not val_acc >= train_acc - ACCURACY_MATCH:
        return None
    return {
        "form": "loss_ratio", "series": inp.val_loss,
        "message": (
            f"{inp.val_loss} ({fmt(val_loss)}) is "
            f"{fmt(val_loss / train_loss)}x {inp.loss} ({fmt(train_loss)}) while {inp.val_metric} "
            f"({fmt(val_acc)}) is as good as {inp.metric} ({fmt(train_acc)})"
            ": the model is not overfitting; the validation loss is "
            "computed differently (preprocessing, label encoding, or a "
            "loss that explodes on a few confident mistakes)."),
        "evidence": {"loss_ratio": val_loss / train_loss,
                     "train_accuracy_end": train_acc,
                     "val_accuracy_end": val_acc},
        "causes": [
            (cz.LIKELY + cz.NUDGE, "data_quality",
             "validation inputs or labels prepared differently from the "
             "training ones (scaling, augmentation, label encoding)."),
            (cz.LIKELY, "output_activation",
             "a loss that explodes on a few confident mistakes (no "
             "clipping of probabilities, from_logits mismatch)."),
            (cz.POSSIBLE, "validation_size",
             "a tiny validation set where one confident mistake dominates "
             "the mean loss."),
        ],
        "suggestion": (
            "Check that validation data go through the same preprocessing "
            "and label encoding as training data; choose epochs by the "
            "validation metric (EarlyStopping(monitor='val_accuracy')), "
            "not by the loss."),
    }


def _loss_for(inp, metric):
    return inp.val_loss if metric.startswith("val_") else inp.loss


def _frozen_form(inp):
    """A bounded metric frozen while its loss moves."""
    names = [n for n in (inp.val_metric, inp.metric) if n is not None]
    names += sorted(n for n in inp.series if n not in names)
    for name in names:
        values = inp.values(name)
        loss_name = _loss_for(inp, name)
        if values is None or loss_name is None or loss_name == name:
            continue
        if not is_bounded_metric(name, values):
            continue
        rest = values[1:]
        if np.isfinite(rest).sum() < FROZEN_MIN_EPOCHS or not shape.is_frozen(
                rest):
            continue
        loss = inp.values(loss_name)[1:]
        fin = loss[np.isfinite(loss)]
        if len(fin) < FROZEN_MIN_EPOCHS or fin.min() <= 0:
            continue
        spread = float(np.log(fin.max() / fin.min()))
        if spread < LOSS_MOVES_LOG_RANGE:
            continue
        value = float(np.median(rest[np.isfinite(rest)]))
        return _frozen_finding(inp, name, loss_name, value, fin)
    return _frozen_share_tail(inp, names)


def _frozen_tail_start(values):
    """Index where the longest frozen stretch ending at the last epoch
    starts (len(values) when the last value is not finite)."""
    start, low, high = len(values), np.inf, -np.inf
    for i in range(len(values) - 1, -1, -1):
        v = values[i]
        if not np.isfinite(v):
            break
        low, high = min(low, v), max(high, v)
        if high - low >= shape.FROZEN_METRIC_RANGE:
            break
        start = i
    return start


def _frozen_share_tail(inp, names):
    """An accuracy that learned for a few epochs, then froze at a class
    share for most of the run while its loss still falls."""
    for name in names:
        values = inp.values(name)
        loss_name = _loss_for(inp, name)
        if (values is None or loss_name is None or "accuracy" not in name
                or not is_bounded_metric(name, values)):
            continue
        n = len(values)
        start = _frozen_tail_start(values)
        if n - start < max(FROZEN_MIN_EPOCHS, FROZEN_TAIL_MIN_SHARE * n):
            continue
        value = float(np.median(values[start:]))
        if not 0.5 <= value <= 1.0 - SHARE_MIN_ERROR:
            continue
        partner = name[4:] if name.startswith("val_") else None
        if partner in inp.series and _frozen_tail_start(
                inp.values(partner)) > start:
            # A small validation set's accuracy moves in coarse steps;
            # the training accuracy must be frozen over the stretch too.
            continue
        loss = inp.values(loss_name)[start:]
        if not np.isfinite(loss).all() or loss.min() <= 0:
            continue
        tau, p_value = stats.trend_test(loss)
        fall = (float(loss[0]) - float(loss[-1])) / float(loss[0])
        if (np.isfinite(p_value) and p_value < SHARE_TREND_P and tau < 0
                and fall >= SHARE_LOSS_MIN_FALL):
            return _frozen_finding(inp, name, loss_name, value, loss,
                                   epochs=len(loss))
    return None


def _frozen_finding(inp, name, loss_name, value, loss, epochs=None):
    falling = loss[-1] < loss[0]
    epochs = len(loss) + 1 if epochs is None else epochs
    share = "accuracy" in name and 0.5 <= value < 1.0
    what = (f"{name} is frozen at {fmt(value, 4)} for {epochs} "
            f"epochs while {loss_name} "
            + ("falls" if falling else "moves") + f" from {fmt(loss[0])} "
            f"to {fmt(loss[-1])}")
    if share:
        what += (f": {fmt(value, 4)} is the share of the majority class, "
                 "so the model predicts that class for everything and "
                 "the loss only learns the class prior.")
    else:
        what += ": the metric does not see what the loss learns."
    return {
        "form": "frozen_metric", "series": name, "message": what,
        "evidence": {"frozen_value": value,
                     "loss_first": float(loss[0]),
                     "loss_last": float(loss[-1])},
        "causes": [
            (cz.STRONG if share else cz.LIKELY - cz.NUDGE,
             "class_imbalance",
             f"{name} = {fmt(value, 4)} is a majority-class predictor's "
             "score." if share else
             "a metric stuck at one value often counts only the majority "
             "class."),
            (cz.LIKELY, "output_activation",
             "an output that saturates to one class (or a metric that "
             "does not match the output's encoding) freezes the metric."),
            (cz.POSSIBLE, "learning_rate",
             "a rate that collapsed the network onto one answer."),
        ],
        "suggestion": (
            "Weight the classes (fit(class_weight=...)) or resample, "
            "monitor a metric that sees the minority class (AUC, recall, "
            "per-class IoU), and check that the metric matches the output "
            "(sigmoid vs softmax, one-hot vs integer labels)."),
    }


def metric_loss_mismatch_rule(inp):
    """`metric_loss_mismatch`: validation loss 10x training with validation
    accuracy as good or better, or a metric frozen while its loss moves
    (at a class share: a majority-class predictor)."""
    form = _ratio_form(inp) or _frozen_form(inp)
    if form is None:
        return []
    evidence = {f"form_{form['form']}": 1.0}
    evidence.update(form["evidence"])
    return [Finding(
        code="metric_loss_mismatch",
        severity=WARNING if form["form"] == "frozen_metric" else INFO,
        series=form["series"],
        epoch=None,
        message=form["message"],
        evidence=evidence,
        causes=rank_causes(form["causes"]),
        suggestion=form["suggestion"],
    )]
