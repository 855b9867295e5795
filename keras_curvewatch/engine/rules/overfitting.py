"""`overfitting`: the training loss keeps falling while the validation
loss stops improving, so the gap keeps widening (LABELLING.md).

Three forms, each enough:
- the validation loss rises after its minimum, beyond its noise;
- it lies flat while the training loss goes on down by a large share of
  its level, and the validation metric does not keep up;
- a short run: training accuracy near 1.0, validation accuracy far below.
"""

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules import causes as cz
from keras_curvewatch.engine.rules import shape
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import pct
from keras_curvewatch.engine.rules.base import rank_causes
from keras_curvewatch.engine.series import is_bounded_metric

# Overfitting needs at least 3 epochs after the onset to tell a rise from
# a wobble.
OVERFIT_MIN_EPOCHS_AFTER = 3
# The mean of the last (up to 5) validation losses must sit above the
# smoothed minimum by 2.5 standard errors of that difference (one-sided
# p < 0.01 for normal noise)...
OVERFIT_RISE_Z = 2.5
# Points averaged at the end of the curve, and about as many behind the
# smoothed minimum (running median of 5).
OVERFIT_END_POINTS = 5
# ...and at least 5 % above its minimum, a rise a user would act on.
OVERFIT_MIN_RELATIVE_RISE = 0.05
# With 5+ epochs after the onset, the rise must also be a trend: Kendall's
# tau > 0 at p < 0.10. The smoothed minimum of a noisy flat curve is
# biased low, so the z test alone over-reports on noise.
OVERFIT_TREND_P_VALUE = 0.10
# While the training loss falls at least 2 % after the onset.
OVERFIT_MIN_TRAIN_DROP = 0.02

# Flat validation loss: it has "stopped improving" from the first epoch
# its smoothed curve comes within 5 % of its minimum (or within its usual
# epoch-to-epoch change, when that is larger): closer than a plot shows.
STALL_TOLERANCE = 0.05
# From there the training loss must still fall by a quarter of its level
# (log drop ln(4/3)): on a plot the two curves visibly part.
STALL_MIN_TRAIN_LOG_DROP = 0.288
# ...while the validation loss gains less than a quarter of what the
# training loss gains (relative terms): the gap widens.
STALL_MAX_VAL_SHARE = 0.25
# ...over a sustained stretch: 3 epochs at least, and a sixth of the run.
STALL_MIN_SHARE_OF_RUN = 1.0 / 6.0
# The validation metric must lag: with the validation accuracy within a
# fifth of a point of the training accuracy (or above it), the model
# generalises as well as it fits, whatever the losses say (that is
# metric_loss_mismatch).
STALL_METRIC_TIE = 0.002

# Short runs: training accuracy of 0.97 or more is "near 1.0" (3 % error,
# LABELLING.md) and a validation accuracy 10 points below it is "far
# below": more than any validation set of 100+ samples explains.
ACCURACY_NEAR_ONE = 0.97
ACCURACY_FAR_BELOW = 0.10
# End values are the mean of the last 3 epochs.
END_EPOCHS = 3


def _rising(inp):
    """The validation loss rises beyond its noise after its minimum."""
    v, t = inp.series[inp.val_loss], inp.series[inp.loss]
    if v.n_finite < stats.MIN_POINTS_NOISE + 1 or t.n_finite < 3:
        return None
    vs, ts = np.asarray(v.smoothed), np.asarray(t.smoothed)
    raw = inp.values(inp.val_loss)
    onset = int(np.nanargmin(np.where(np.isfinite(raw), vs, np.nan)))
    after = len(vs) - 1 - onset
    if after < OVERFIT_MIN_EPOCHS_AFTER:
        return None
    tail = raw[-min(OVERFIT_END_POINTS, after):]
    tail = tail[np.isfinite(tail)]
    if len(tail) == 0:
        return None
    low, end = float(vs[onset]), float(np.mean(tail))
    level = abs(low) or 1.0
    rise = end - low
    noise = v.noise
    if np.isfinite(v.relative_noise) and v.direction == "min" and low > 0:
        noise = v.relative_noise * low
    noise = noise if np.isfinite(noise) and noise > 0 else 0.0
    standard_error = noise * np.sqrt(1.0 / len(tail)
                                     + 1.0 / OVERFIT_END_POINTS)
    train_drop = (float(ts[onset]) - float(ts[-1])) / (abs(ts[onset]) or 1.0)
    if (rise < OVERFIT_MIN_RELATIVE_RISE * level
            or rise < OVERFIT_RISE_Z * standard_error
            or not train_drop >= OVERFIT_MIN_TRAIN_DROP):
        return None
    tau = p_value = float("nan")
    if after + 1 >= stats.MIN_POINTS_TREND:
        tau, p_value = stats.trend_test(raw, onset)
        if not (tau > 0 and p_value < OVERFIT_TREND_P_VALUE):
            return None
    z = rise / standard_error if standard_error > 0 else float("inf")
    return {
        "form": "rising", "onset": onset, "after": after,
        "severity": CRITICAL if end > float(vs[0]) else WARNING,
        "what": (f"the smoothed {inp.val_loss} rose {pct(rise / level)} "
                 f"above its minimum ({fmt(low)} -> {fmt(end)}, "
                 + (f"z={fmt(z, 2)} against the noise" if np.isfinite(z)
                    else "beyond the noise")
                 + f") while {inp.loss} kept falling ({pct(train_drop)} "
                 "lower)"),
        "evidence": {"val_min_smoothed": low, "val_end_smoothed": end,
                     "relative_rise": rise / level, "rise_z": z,
                     "val_noise": noise,
                     "train_relative_drop_after_onset": train_drop,
                     "kendall_tau_after_onset": tau,
                     "p_value_after_onset": p_value},
    }


def _end_accuracies(inp):
    """Mean training and validation accuracy of the last epochs, or
    None when either is missing or not a bounded metric."""
    if inp.metric is None or inp.val_metric is None:
        return None
    if inp.val_metric not in inp.series or inp.metric not in inp.series:
        return None
    train, val = inp.values(inp.metric), inp.values(inp.val_metric)
    if not (is_bounded_metric(inp.metric, train)
            and is_bounded_metric(inp.val_metric, val)):
        return None
    return (shape.tail_mean(train, END_EPOCHS),
            shape.tail_mean(val, END_EPOCHS))


def _stalled_gap(inp):
    """The validation loss lies flat while the training loss falls on."""
    train, val = inp.values(inp.loss), inp.values(inp.val_loss)
    if not (shape.finite_positive(train) and shape.finite_positive(val)):
        return None
    n = len(val)
    if n < stats.MIN_POINTS_NOISE:
        return None
    log_val = np.log(np.asarray(inp.series[inp.val_loss].smoothed))
    log_train = np.log(np.asarray(inp.series[inp.loss].smoothed))
    tolerance = max(STALL_TOLERANCE, shape.usual_change(np.log(val)))
    stall = int(np.flatnonzero(log_val <= log_val.min() + tolerance)[0])
    after = n - 1 - stall
    if after < max(OVERFIT_MIN_EPOCHS_AFTER, STALL_MIN_SHARE_OF_RUN * n):
        return None
    k = min(END_EPOCHS, after)
    train_drop = log_train[stall] - float(np.log(np.mean(train[-k:])))
    val_gain = log_val[stall] - float(np.log(np.mean(val[-k:])))
    if train_drop < STALL_MIN_TRAIN_LOG_DROP:
        return None
    if val_gain > STALL_MAX_VAL_SHARE * train_drop:
        return None
    accuracies = _end_accuracies(inp)
    if accuracies is not None and accuracies[1] >= (
            accuracies[0] - STALL_METRIC_TIE):
        return None
    ratio_start = float(val[stall] / train[stall])
    ratio_end = float(np.mean(val[-k:]) / np.mean(train[-k:]))
    if ratio_end < 1.0 + STALL_TOLERANCE:
        # A training loss that falls to meet a flat validation loss from
        # above (Dropout, or re-training after a kick) closes a gap.
        return None
    gap_start = float(val[stall] - train[stall])
    gap_end = float(np.mean(val[-k:]) - np.mean(train[-k:]))
    return {
        "form": "flat", "onset": stall, "after": after, "severity": WARNING,
        "what": (f"{inp.val_loss} stopped improving at about "
                 f"{fmt(np.exp(log_val[stall]))} while {inp.loss} fell "
                 f"{pct(1 - np.exp(-train_drop))} further over {after} "
                 f"epochs, so the gap widened: {inp.val_loss} went from "
                 f"{fmt(ratio_start, 2)}x to {fmt(ratio_end, 2)}x "
                 f"{inp.loss}"),
        "evidence": {"train_relative_drop_after_onset":
                     float(1 - np.exp(-train_drop)),
                     "val_relative_change_after_onset":
                     float(np.exp(-val_gain) - 1),
                     "gap_at_onset": gap_start, "gap_at_end": gap_end,
                     "loss_ratio_at_onset": ratio_start,
                     "loss_ratio_at_end": ratio_end},
    }


def _accuracy_gap(inp):
    """Training accuracy near 1.0, validation accuracy far below."""
    accuracies = _end_accuracies(inp)
    if accuracies is None:
        return None
    train_acc, val_acc = accuracies
    if not (train_acc >= ACCURACY_NEAR_ONE
            and train_acc - val_acc >= ACCURACY_FAR_BELOW):
        return None
    val = inp.values(inp.val_loss)
    onset = int(np.nanargmin(val)) if np.isfinite(val).any() else 0
    return {
        "form": "accuracy", "onset": onset,
        "after": len(val) - 1 - onset, "severity": WARNING,
        "what": (f"{inp.metric} reached {fmt(train_acc)} while "
                 f"{inp.val_metric} stays at {fmt(val_acc)}, "
                 f"{fmt(100 * (train_acc - val_acc), 2)} points below"),
        "evidence": {"train_accuracy_end": train_acc,
                     "val_accuracy_end": val_acc},
    }


def overfitting_rule(inp):
    """`overfitting`: the validation loss stops improving (rises after its
    minimum, or lies flat) while the training loss keeps falling, or the
    training accuracy is near 1.0 with the validation accuracy far below.
    """
    if inp.val_loss is None or inp.loss is None:
        return []
    if inp.series[inp.val_loss].n_finite < 3:
        return []
    form = _rising(inp) or _stalled_gap(inp) or _accuracy_gap(inp)
    if form is None:
        return []
    onset_epoch = inp.epoch_label(form["onset"])
    # The weights to keep are the report's recommended epoch, so that every
    # suggestion names the same one.
    keep_epoch = onset_epoch if inp.best_epoch is None else inp.best_epoch
    evidence = {f"form_{form['form']}": 1.0, "onset_epoch": onset_epoch}
    evidence.update(form["evidence"])
    ts = inp.series[inp.loss].smoothed
    vs = inp.series[inp.val_loss].smoothed
    evidence["generalization_gap"] = float(vs[-1]) - float(ts[-1])
    return [Finding(
        code="overfitting",
        severity=form["severity"],
        series=inp.val_loss,
        epoch=onset_epoch,
        message=f"Overfitting from epoch {onset_epoch}: {form['what']}.",
        evidence=evidence,
        causes=rank_causes(_causes(inp, onset_epoch, form["after"])),
        suggestion=(
            f"Keep the weights from epoch {keep_epoch} (EarlyStopping("
            "monitor='val_loss', patience=5, restore_best_weights=True)); "
            "add Dropout or L2 weight decay, shrink the model, or augment "
            "the data."
        ),
    )]


def _causes(inp, onset_epoch, after):
    cap = base.capacity_score(inp)
    has_dropout = any("Dropout" in name for name in inp.context.layers)
    ratio = inp.context.params_per_sample
    out = [
        # Memorising needs capacity: likely-minus-a-nudge on the prior,
        # lifted by what parameters per sample say.
        (cz.LIKELY - cz.NUDGE + cap, "model_capacity",
         f"{fmt(ratio)} trainable parameters per training sample let the "
         "model memorise the training set." if ratio is not None else
         "the model fits the training set ever better while validation "
         "does not: it has capacity to memorise (pass n_params= and "
         "n_train= to weigh this)."),
        (cz.LIKELY if inp.context.layers and not has_dropout
         else cz.LIKELY - cz.TIE_BREAK,
         "regularization",
         "no Dropout layer in the model." if inp.context.layers
         and not has_dropout else
         "more dropout, weight decay or augmentation would slow the "
         "memorising."),
        (cz.POSSIBLE + cz.TIE_BREAK, "training_length",
         f"{inp.val_loss} stopped improving at epoch {onset_epoch}; the "
         f"{after} epochs after it only fitted the training set."),
    ]
    n_val = inp.context.n_val
    if n_val is not None and n_val < 100:
        out.append((cz.POSSIBLE - cz.TIE_BREAK, "validation_size",
                    f"with {n_val} validation samples part of the gap "
                    "may be chance."))
    return out
