"""Fine-tuning and class-balance advice: a post-pass over merged findings.

The rules say what is wrong with the curves; the model says what to change.
A frozen base explains an underfit (unfreeze its top block, with a rate
10x lower), a fully unfrozen base on little data explains a quick overfit
(freeze more), and imbalanced training labels get `class_weight` with the
weights computed. Imports neither keras nor tensorflow.
"""

import dataclasses

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import pct

# Training accuracy "far from 1.0": a head on frozen features that cannot
# separate a fifth of its own training data is short of capacity, not of
# epochs (the forum threads this advice comes from plateau at 0.5-0.7).
LOW_TRAIN_ACCURACY = 0.8
# A plateau: the smoothed training accuracy gains less than this over the
# tail of the run (its last third, at least 5 epochs); a trend test alone
# calls a steady crawl of 0.2 points an epoch "significant".
PLATEAU_MAX_TAIL_GAIN = 0.05
# "Overfits quickly": the overfitting finding starts by this epoch ...
QUICK_OVERFIT_EPOCHS = 5
# ... on "little data": fewer training samples than this (a few thousand
# images is the usual size of a fine-tuning set in Keras's guides).
SMALL_TRAIN_SET = 5000
# Imbalance worth class_weight: the largest class this many times the
# smallest (the lint's CLASS_IMBALANCE_RATIO).
IMBALANCE_RATIO = 4.0
# Learning rate divisor when unfreezing (Keras's transfer-learning guide
# recompiles with a rate 10x lower for fine-tuning).
FINE_TUNE_LR_DIVISOR = 10.0

_UNDERFIT_CODES = ("not_learning", "not_converged", "underfitting")


def advise(findings, inp):
    """Adds the model's part of the story to the merged findings.

    Args:
        findings: list of `Finding`, merged (one per code).
        inp: `RuleInput`.

    Returns:
        list of `Finding`.
    """
    context = inp.context
    out = list(findings)
    if context.frozen_base:
        out = _frozen_base_advice(out, inp)
    if context.unfrozen_base:
        out = _unfrozen_base_advice(out, inp)
    if context.class_counts:
        out = _class_weight_advice(out, context.class_counts)
    return out


def class_weights(counts):
    """`class_weight` for `fit`: n / (K * count) for each present class
    (the "balanced" weights), so every class weighs the same in the loss.

    Args:
        counts: sequence of int. Samples per class.

    Returns:
        dict of int to float.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = np.flatnonzero(counts > 0)
    total = counts.sum()
    return {int(i): float(total / (len(present) * counts[i]))
            for i in present}


def _train_accuracy(inp):
    """`(last smoothed training accuracy, its SeriesStats)` or `(None,
    None)`."""
    name = inp.metric
    s = inp.series.get(name) if name else None
    if s is None or "acc" not in name or s.direction != "max":
        return None, None
    smooth = stats.finite(np.asarray(s.smoothed, dtype=np.float64))
    if not len(smooth):
        return None, None
    return float(smooth[-1]), s


def _frozen_base_advice(findings, inp):
    frozen = inp.context.frozen_base
    accuracy, series = _train_accuracy(inp)
    low = accuracy is not None and accuracy < LOW_TRAIN_ACCURACY
    cause, suggestion = _unfreeze_text(frozen, inp.context.learning_rate)
    out, named = [], False
    for f in findings:
        if f.code == "not_learning" or (f.code == "not_converged" and low):
            f = _amend(f, ("model_capacity", cause), suggestion)
            named = True
        out.append(f)
    codes = {f.code for f in out}
    plateau = series is not None and _tail_gain(series) < PLATEAU_MAX_TAIL_GAIN
    if low and plateau and not named and "overfitting" not in codes:
        out.append(Finding(
            code="underfitting",
            severity=WARNING,
            series=inp.metric,
            epoch=series.tail_start_epoch,
            message=(
                f"{inp.metric} levelled off at {fmt(accuracy)}, far from "
                f"1.0, with {pct(frozen['share'])} of the parameters frozen: "
                "the trainable head cannot fit even the training data."),
            evidence={"train_accuracy": accuracy,
                      "frozen_share": frozen["share"],
                      "tail_gain": _tail_gain(series)},
            causes=(("model_capacity", cause),),
            suggestion=suggestion,
        ))
    return out


def _tail_gain(series):
    """Gain of the smoothed curve over its tail; inf when too short."""
    if series.n_finite < stats.MIN_POINTS_TREND or (
            series.tail_start_epoch not in series.epochs):
        return float("inf")
    smooth = np.asarray(series.smoothed, dtype=np.float64)
    start = series.epochs.index(series.tail_start_epoch)
    tail = stats.finite(smooth[start:])
    if len(tail) < 2:
        return float("inf")
    return float(tail[-1] - tail[0])


def _unfreeze_text(frozen, learning_rate):
    where = f"in {frozen['base']}" if frozen.get("base") else "non-trainable"
    cause = (
        f"{pct(frozen['share'])} of the parameters are frozen ({where}"
        + (f", with {frozen['n_batchnorm']} BatchNormalization layers"
           if frozen.get("n_batchnorm") else "")
        + f"); only the head ({', '.join(frozen['head'][:4])}) learns, on "
        "features that may not suit this task.")
    rate = ("with a learning rate 10x lower"
            + (f" ({fmt(learning_rate / FINE_TUNE_LR_DIVISOR)} instead of "
               f"{fmt(learning_rate)})" if learning_rate else ""))
    suggestion = (
        f"Unfreeze the top block of the base ({', '.join(frozen['top_block'])})"
        " with layer.trainable = True"
        + (f", leaving its BatchNormalization layers "
           f"({', '.join(frozen['top_block_batchnorm'])}) frozen so they keep "
           "their statistics" if frozen.get("top_block_batchnorm") else "")
        + f", then recompile {rate} and go on training.")
    return cause, suggestion


def _unfrozen_base_advice(findings, inp):
    context = inp.context
    base = context.unfrozen_base
    n_train = context.n_train
    if not n_train or n_train >= SMALL_TRAIN_SET:
        return findings
    first = int(inp.curves.epochs[0]) if len(inp.curves.epochs) else 0
    out = []
    for f in findings:
        if f.code == "overfitting" and f.epoch is not None and (
                f.epoch - first <= QUICK_OVERFIT_EPOCHS):
            f = _amend(f, (
                "model_capacity",
                f"the whole base ({base['base']}, {pct(base['share'])} of the "
                f"parameters) trains on only {n_train} samples: a fully "
                "unfrozen fine-tune memorises a small dataset."),
                f"Freeze more: set {base['base']}.trainable = False and train "
                "the head first, then unfreeze only the base's top layers "
                "with a learning rate 10x lower.")
        out.append(f)
    return out


def _class_weight_advice(findings, counts):
    present = np.asarray([c for c in counts if c > 0], dtype=np.float64)
    if len(present) < 2 or present.max() < IMBALANCE_RATIO * present.min():
        return findings
    weights = class_weights(counts)
    text = ", ".join(f"{k}: {fmt(v)}" for k, v in weights.items())
    suggestion = (
        f"Pass class_weight={{{text}}} to fit() (n / (classes x count) per "
        "class), and track a balanced metric such as "
        "keras.metrics.F1Score(average='macro') (one-hot labels) or AUC "
        "instead of accuracy; with class_weight the training loss is "
        "weighted but val_loss is not.")
    ratio = float(present.max() / present.min())
    out = [f for f in findings if f.code != "class_imbalance"]
    old = [f for f in findings if f.code == "class_imbalance"]
    if old:
        out.append(dataclasses.replace(
            old[0], suggestion=suggestion + " " + old[0].suggestion))
        return out
    out.append(Finding(
        code="class_imbalance",
        severity=WARNING,
        message=(
            f"The training labels are imbalanced: the largest class has "
            f"{int(present.max())} samples, the smallest {int(present.min())}"
            f" (ratio {fmt(ratio)}:1), so the loss and accuracy are "
            "dominated by the largest class."),
        evidence={"imbalance_ratio": ratio, "n_classes": len(counts),
                  "largest_class_count": float(present.max()),
                  "smallest_class_count": float(present.min())},
        causes=(("class_imbalance",
                 "the smallest class is "
                 f"{pct(present.min() / present.sum())} of the samples."),),
        suggestion=suggestion,
    ))
    return out


def _amend(finding, cause, suggestion):
    """Puts `cause` first and `suggestion` before the finding's own."""
    causes = (cause,) + tuple(c for c in finding.causes if c[0] != cause[0])
    return dataclasses.replace(
        finding, causes=causes,
        suggestion=suggestion + (" " + finding.suggestion
                                 if finding.suggestion else ""))
