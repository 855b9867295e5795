"""Rules on the validation curves: overfitting, fluctuation against what
the validation-set size explains, loss/metric disagreement, and the best
epoch."""

import math

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import INFO
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import pct
from keras_curvewatch.engine.rules.base import rank_causes
from keras_curvewatch.engine.rules.context import SMALL_VAL_WARN_N
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

# Validation noise within 1.5 standard errors of the finite-sample error
# is what the validation set's size explains (a chi-square bound: the
# sample sd of 10+ normal draws rarely exceeds 1.5 sigma).
VAL_EXPLAINED_RATIO = 1.5
# Validation accuracy noise of 2 points per epoch is more than a typical
# validation set explains (600 samples at 90 % accuracy: standard error
# 1.2 points), and enough to reorder the epochs of a late-training gain.
VAL_ACCURACY_FLUCTUATION = 0.02
# Validation loss noise of 8 % of its level per epoch is visible on a plot
# and well above the 1-4 % of typical training curves (bench/survey).
VAL_LOSS_MIN_RELATIVE_NOISE = 0.08
# Loss noise matters when it is at least 3 % of the progress the curve
# made (first to best smoothed value): below that it is under a pixel in
# 30 on a linear-axis plot of the run, e.g. 0.003 of noise on a loss that
# fell from 3.6 to 0.01.
VAL_NOISE_TO_PROGRESS = 0.03
# Fewer validation points than this and a noise estimate rests on a
# handful of residuals.
VAL_MIN_EPOCHS = 8
# Without n_val, validation noise is compared with the training curve's:
# twice as noisy points at the validation side.
VAL_TRAIN_NOISE_RATIO = 2.0
# Per-sample cross-entropy has a coefficient of variation near 1 (an
# exponential-like spread), so the mean loss over n samples has a relative
# standard error of about 1/sqrt(n).
LOSS_PER_SAMPLE_CV = 1.0

# The raw best epoch is a dip when it lies at least 1 noise sigma below its
# own smoothed trend...
NOISY_DIP_SIGMAS = 1.5
# ...and is no more than 3 noise sigmas better than the recommended epoch.
# Nearby epochs are interchangeable: the two must be 3+ epochs apart.
NOISY_DIP_MIN_DISTANCE = 3
# ...and the dip must be at least 1 % of the level: a 0.001 wobble on a
# flat curve is no lucky evaluation (bench/labelled_fits.py).
NOISY_DIP_MIN_RELATIVE = 0.01
NOISY_DIP_MAX_GAIN_SIGMAS = 3.0

# Loss and metric disagree when both trends after the loss minimum are
# significant at the 10 % level in the "wrong" combination.
MISMATCH_P_VALUE = 0.10
# The validation metric must gain at least 1 point after the loss minimum.
MISMATCH_MIN_METRIC_GAIN = 0.01


def _rel_noise_abs(s, level):
    """Noise in the curve's units at `level` (relative noise x level)."""
    if np.isfinite(s.relative_noise) and s.direction == "min" and level > 0:
        return s.relative_noise * level
    return s.noise


def overfitting_rule(inp):
    """`overfitting`: validation loss rises beyond its noise band after its
    smoothed minimum while the training loss still falls."""
    if inp.val_loss is None or inp.loss is None:
        return []
    v, t = inp.series[inp.val_loss], inp.series[inp.loss]
    if v.n_finite < stats.MIN_POINTS_NOISE + 1 or t.n_finite < 3:
        return []
    vs, ts = np.asarray(v.smoothed), np.asarray(t.smoothed)
    finite = np.isfinite(inp.values(inp.val_loss))
    onset = int(np.nanargmin(np.where(finite, vs, np.nan)))
    after = len(vs) - 1 - onset
    if after < OVERFIT_MIN_EPOCHS_AFTER:
        return []
    raw = inp.values(inp.val_loss)
    tail = raw[-min(OVERFIT_END_POINTS, after):]
    tail = tail[np.isfinite(tail)]
    if len(tail) == 0:
        return []
    low, end = float(vs[onset]), float(np.mean(tail))
    level = abs(low) or 1.0
    rise = end - low
    noise = _rel_noise_abs(v, abs(low))
    if not np.isfinite(noise) or noise <= 0:
        noise = 0.0
    standard_error = noise * np.sqrt(1.0 / len(tail) + 1.0 / OVERFIT_END_POINTS)
    train_drop = (float(ts[onset]) - float(ts[-1])) / (abs(ts[onset]) or 1.0)
    if rise < OVERFIT_MIN_RELATIVE_RISE * level:
        return []
    if rise < OVERFIT_RISE_Z * standard_error:
        return []
    if not train_drop >= OVERFIT_MIN_TRAIN_DROP:
        return []
    tau = p_value = float("nan")
    if after + 1 >= stats.MIN_POINTS_TREND:
        _, tau, p_value = stats.trend(raw, onset)
        if not (tau > 0 and p_value < OVERFIT_TREND_P_VALUE):
            return []
    onset_epoch = inp.epoch_label(onset)
    keep_epoch = onset_epoch if inp.best_epoch is None else inp.best_epoch
    first_val = float(vs[0])
    severity = CRITICAL if end > first_val else WARNING
    cap = base.capacity_score(inp)
    has_dropout = any("Dropout" in name for name in inp.context.layers)
    ratio = inp.context.params_per_sample
    causes = [
        (1.5 + cap, "model_capacity",
         f"{fmt(ratio)} trainable parameters per training sample let the "
         "model memorise the training set." if ratio is not None else
         "the model fits the training set ever better while validation "
         "gets worse: it has capacity to memorise (pass n_params= and "
         "n_train= to weigh this)."),
        (2.0 if inp.context.layers and not has_dropout else 1.6,
         "regularization",
         "no Dropout layer in the model." if inp.context.layers
         and not has_dropout else
         "more dropout, weight decay or augmentation would slow the "
         "memorising."),
        (1.2, "training_length",
         f"val_loss bottomed out at epoch {onset_epoch}; the {after} epochs "
         "after it only fitted noise."),
    ]
    n_val = inp.context.n_val
    if n_val is not None and n_val < 100:
        causes.append((0.8, "validation_size",
                       f"with {n_val} validation samples part of the rise "
                       "may be chance."))
    return [Finding(
        code="overfitting",
        severity=severity,
        series=inp.val_loss,
        epoch=onset_epoch,
        message=(
            f"Overfitting from epoch {onset_epoch}: the smoothed "
            f"{inp.val_loss} rose {pct(rise / level)} above its "
            f"minimum ({fmt(low)} -> {fmt(end)}, "
            + (f"z={fmt(rise / standard_error, 2)} against the noise"
               if standard_error > 0 else "beyond the noise")
            + f") while {inp.loss} kept falling "
            f"({pct(train_drop)} lower)."
        ),
        evidence={
            "onset_epoch": onset_epoch,
            "val_min_smoothed": low,
            "val_end_smoothed": end,
            "relative_rise": rise / level,
            "rise_z": rise / standard_error if standard_error > 0 else
            float("inf"),
            "val_noise": noise,
            "train_relative_drop_after_onset": train_drop,
            "kendall_tau_after_onset": tau,
            "p_value_after_onset": p_value,
            "generalization_gap": end - float(ts[-1]),
        },
        causes=rank_causes(causes),
        suggestion=(
            f"Keep the weights from epoch {keep_epoch} (EarlyStopping("
            "monitor='val_loss', patience=5, restore_best_weights=True)); "
            "add Dropout or L2 weight decay, shrink the model, or augment "
            "the data."
        ),
    )]


def _val_loss_noisier_than_training(vl, tl):
    """True when the validation loss is visibly noisy and at least
    `VAL_TRAIN_NOISE_RATIO` times noisier than the training loss: the
    weights move between evaluations, whatever accuracy's binomial error
    explains (accuracy only counts the samples that flip class)."""
    if vl is None or tl is None or vl.n_finite < VAL_MIN_EPOCHS:
        return False
    val_rel, train_rel = vl.relative_noise, tl.relative_noise
    return bool(np.isfinite(val_rel) and np.isfinite(train_rel)
                and train_rel > 0 and val_rel >= VAL_LOSS_MIN_RELATIVE_NOISE
                and val_rel / train_rel >= VAL_TRAIN_NOISE_RATIO)


def _noise_matters(s, min_noise, evidence, key):
    """True if curve `s` is noisy enough to matter: relative noise (losses)
    or absolute noise (bounded metrics) of at least `min_noise`, and at
    least `VAL_NOISE_TO_PROGRESS` of the progress it made."""
    if s.n_finite < VAL_MIN_EPOCHS or not np.isfinite(s.relative_noise):
        return False
    if s.relative_noise < min_noise:
        return False
    smooth = np.asarray(s.smoothed)
    sign = 1.0 if s.direction == "min" else -1.0
    progress = sign * (float(smooth[0]) - s.smoothed_best)
    noise = _rel_noise_abs(s, abs(s.smoothed_best))
    ratio = noise / progress if progress > 0 else float("inf")
    evidence[f"{key}_noise_to_progress"] = ratio
    return ratio >= VAL_NOISE_TO_PROGRESS


def _expected_validation_noise(inp):
    """What the finite validation set explains, per curve.

    Returns:
        `(name, observed, expected, unit)` or None when n_val is unknown.
    """
    n_val = inp.context.n_val
    if n_val is None:
        return None
    vm = inp.val_metric
    if vm is not None and vm in inp.series:
        s = inp.series[vm]
        if np.isfinite(s.noise) and is_bounded_metric(vm, inp.values(vm)):
            p = float(np.median(stats.finite(inp.values(vm))))
            expected = stats.binomial_standard_error(p, n_val)
            return vm, s.noise, expected, "accuracy"
    if inp.val_loss is not None:
        s = inp.series[inp.val_loss]
        if np.isfinite(s.relative_noise):
            return (inp.val_loss, s.relative_noise,
                    LOSS_PER_SAMPLE_CV / math.sqrt(n_val), "relative")
    return None


def val_fluctuation_rule(inp):
    """`val_fluctuation` when validation noise is beyond what the
    validation-set size explains; `small_validation_set` when it is
    large but explained by the size."""
    if inp.val_loss is None and inp.val_metric is None:
        return []
    expected = _expected_validation_noise(inp)
    vl = inp.series.get(inp.val_loss) if inp.val_loss else None
    tl = inp.series.get(inp.loss) if inp.loss else None
    vm = inp.series.get(inp.val_metric) if inp.val_metric else None
    evidence = {}
    if vl is not None and np.isfinite(vl.relative_noise):
        evidence["val_loss_relative_noise"] = vl.relative_noise
        evidence["val_loss_flip_rate"] = vl.flip_rate
    if vm is not None and np.isfinite(vm.noise):
        evidence["val_metric_noise"] = vm.noise
    if tl is not None and np.isfinite(tl.relative_noise):
        evidence["train_loss_relative_noise"] = tl.relative_noise
    if vm is not None and vm.n_finite >= VAL_MIN_EPOCHS and np.isfinite(
            vm.noise) and is_bounded_metric(vm.name, inp.values(vm.name)):
        # Accuracy is what users read, and its sampling error is known:
        # judge the validation noise on it.
        large = vm.noise >= VAL_ACCURACY_FLUCTUATION
        tm = inp.series.get(inp.metric) if inp.metric else None
        if (large and expected is None and tm is not None
                and np.isfinite(tm.noise) and tm.noise > 0):
            evidence["val_to_train_metric_noise_ratio"] = vm.noise / tm.noise
            if vm.noise / tm.noise < VAL_TRAIN_NOISE_RATIO:
                # As noisy as training accuracy: not a validation effect.
                return []
    else:
        large = vl is not None and _noise_matters(
            vl, VAL_LOSS_MIN_RELATIVE_NOISE, evidence, "val_loss")
    if expected is not None:
        name, observed, explained, unit = expected
        ratio = observed / explained if explained > 0 else float("inf")
        evidence.update({"observed_noise": observed,
                         "explained_by_n_val": explained,
                         "noise_ratio": ratio,
                         "n_val": inp.context.n_val})
        # Only noise big enough to matter is worth a finding, whichever
        # of the two explains it.
        visible = (observed >= VAL_ACCURACY_FLUCTUATION if unit == "accuracy"
                   else observed >= VAL_LOSS_MIN_RELATIVE_NOISE)
        if not visible:
            return []
        loss_beyond = _val_loss_noisier_than_training(vl, tl)
        if ratio <= VAL_EXPLAINED_RATIO and not loss_beyond:
            if inp.context.n_val >= SMALL_VAL_WARN_N:
                # Explained, by a set large enough not to matter.
                return []
            what = (f"+/-{fmt(100 * observed, 2)} accuracy points" if
                    unit == "accuracy" else
                    f"{pct(observed)} of the loss")
            return [Finding(
                code="small_validation_set",
                severity=WARNING,
                series=name,
                message=(
                    f"{name} fluctuates by {what} per epoch, which "
                    f"{inp.context.n_val} validation samples explain (one "
                    f"standard error is {fmt(100 * explained, 2)}"
                    + (" points" if unit == "accuracy" else "%")
                    + "): the jumps are sampling noise, not the model."
                ),
                evidence=evidence,
                causes=rank_causes([(3.0, "validation_size",
                                     f"observed noise is {fmt(ratio, 2)}x "
                                     "the finite-sample standard error.")]),
                suggestion=(
                    "Use a larger validation set (validation_split=0.2 is "
                    "usual) or k-fold cross-validation, and choose the "
                    "epoch on the smoothed curve."
                ),
            )]
        if not large and unit != "accuracy":
            return []
        cause_size = (0.8, "validation_size",
                      f"{inp.context.n_val} samples explain only "
                      f"{fmt(100 / max(ratio, 1e-9), 2)}% of the noise.")
    else:
        if not large:
            return []
        train_rel = evidence.get("train_loss_relative_noise")
        val_rel = evidence.get("val_loss_relative_noise")
        if train_rel is not None and val_rel is not None and train_rel > 0:
            evidence["val_to_train_noise_ratio"] = val_rel / train_rel
            if val_rel / train_rel < VAL_TRAIN_NOISE_RATIO:
                # As noisy as training: train_oscillation covers it.
                return []
        cause_size = (2.2, "validation_size",
                      "n_val is unknown: pass n_val= to tell whether the "
                      "validation set's size explains this noise.")
    cap = base.capacity_score(inp)
    causes = [
        cause_size,
        (base.batch_cause_score(inp, small=2.5, medium=1.0, large=0.4),
         "batch_size",
         f"batch size {inp.context.batch_size} moves the weights noisily "
         "between evaluations." if inp.context.batch_size else
         "small batches move the weights noisily between evaluations."),
        (3.0 if base.lr_is_high(inp) else 1.8, "learning_rate",
         "large steps move the weights a lot between evaluations"
         + (f" ({base.lr_sentence(inp)})." if base.lr_sentence(inp) else ".")),
        (cap * 0.6, "model_capacity",
         "an over-parameterised model's predictions on unseen data swing "
         "from epoch to epoch."),
        (0.6, "regularization",
         "dropout changes the fitted function every epoch; more weight "
         "decay steadies it."),
    ]
    name = inp.val_loss or inp.val_metric
    s = inp.series[name]
    return [Finding(
        code="val_fluctuation",
        severity=WARNING,
        series=name,
        epoch=None,
        message=(
            f"{name} fluctuates more than the model's progress explains: "
            f"noise of {fmt(100 * s.relative_noise, 2)}"
            + ("% of its level" if s.direction == "min" else " points")
            + f" per epoch, direction changing at "
            f"{pct(s.flip_rate)} of epochs"
            + ("." if expected is not None else
               "; n_val is unknown, so this was compared with the training "
               "curve (pass n_val= for a sampling-noise test).")
        ),
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=(
            "Lower the learning rate (halve it when validation stops "
            "improving), use a larger batch if it is small, and pick the "
            "epoch on the smoothed curve (report.best_epoch)."
        ),
    )]


def metric_loss_mismatch_rule(inp):
    """`metric_loss_mismatch`: after the validation loss minimum, the loss
    rises significantly while the metric still improves significantly."""
    if inp.val_loss is None or inp.val_metric is None:
        return []
    v, m = inp.series[inp.val_loss], inp.series.get(inp.val_metric)
    if m is None or v.n_finite < stats.MIN_POINTS_NOISE:
        return []
    vs = np.asarray(v.smoothed)
    onset = int(np.nanargmin(vs))
    if len(vs) - onset < stats.MIN_POINTS_TREND:
        return []
    _, tau_l, p_l = stats.trend(inp.values(inp.val_loss), onset)
    _, tau_m, p_m = stats.trend(inp.values(inp.val_metric), onset)
    if not (np.isfinite(p_l) and np.isfinite(p_m)):
        return []
    if not (tau_l > 0 and p_l < MISMATCH_P_VALUE):
        return []
    sign = 1.0 if m.direction == "max" else -1.0
    ms = np.asarray(m.smoothed)
    gain = sign * (float(ms[-1]) - float(ms[onset]))
    if not (sign * tau_m > 0 and p_m < MISMATCH_P_VALUE
            and gain >= MISMATCH_MIN_METRIC_GAIN):
        return []
    onset_epoch = inp.epoch_label(onset)
    best_metric_epoch = m.smoothed_best_epoch
    return [Finding(
        code="metric_loss_mismatch",
        severity=INFO,
        series=inp.val_loss,
        epoch=onset_epoch,
        message=(
            f"{inp.val_loss} rises after epoch {onset_epoch} while "
            f"{inp.val_metric} still improves (+{fmt(gain, 2)}): the model "
            "grows over-confident on the samples it gets wrong. The best "
            f"epoch by {inp.val_metric} is {best_metric_epoch}, by "
            f"{inp.val_loss} {v.smoothed_best_epoch}."
        ),
        evidence={"loss_tau_after_min": tau_l, "loss_p_value": p_l,
                  "metric_tau_after_min": tau_m, "metric_p_value": p_m,
                  "metric_gain_after_min": gain,
                  "best_epoch_by_metric": best_metric_epoch,
                  "best_epoch_by_loss": v.smoothed_best_epoch},
        causes=rank_causes([
            (2.0, "regularization",
             "confident wrong predictions dominate the loss; label "
             "smoothing or weight decay tempers them."),
            (1.5, "model_capacity", "the model memorises confidently."),
            (1.0, "class_imbalance",
             "with imbalanced classes accuracy can rise on the majority "
             "class while the loss on the others grows."),
            (0.8, "output_activation",
             "check the output activation and loss pairing."),
        ]),
        suggestion=(
            "Decide which you care about: monitor that metric in "
            "EarlyStopping/ModelCheckpoint; consider label smoothing "
            "(e.g. CategoricalCrossentropy(label_smoothing=0.1))."
        ),
    )]


def noisy_best_epoch_rule(inp):
    """`noisy_best_epoch`: the raw best validation epoch is a noise dip."""
    name = inp.val_loss or inp.val_metric
    if name is None:
        return []
    s = inp.series[name]
    keep = s.smoothed_best_epoch if inp.best_epoch is None else inp.best_epoch
    if s.raw_best_epoch is None or s.raw_best_epoch == keep:
        return []
    if not np.isfinite(s.noise) or s.noise <= 0:
        return []
    epochs = list(inp.curves.epochs)
    raw_i = epochs.index(s.raw_best_epoch)
    if abs(raw_i - epochs.index(keep)) < NOISY_DIP_MIN_DISTANCE:
        return []
    sign = 1.0 if s.direction == "min" else -1.0
    smooth = np.asarray(s.smoothed)
    noise = _rel_noise_abs(s, abs(float(smooth[raw_i])))
    dip = sign * (float(smooth[raw_i]) - s.best)
    gain = sign * (s.smoothed_best - s.best)
    if dip < NOISY_DIP_SIGMAS * noise or gain > NOISY_DIP_MAX_GAIN_SIGMAS * noise:
        return []
    if dip < NOISY_DIP_MIN_RELATIVE * abs(float(smooth[raw_i])):
        return []
    return [Finding(
        code="noisy_best_epoch",
        severity=INFO,
        series=name,
        epoch=s.raw_best_epoch,
        message=(
            f"The best raw {name} (epoch {s.raw_best_epoch}, {fmt(s.best)}) "
            f"is a dip inside the noise band ({fmt(dip / noise, 2)} noise "
            f"sigmas below its trend); epoch {keep} is the "
            "better choice on the smoothed curve."
        ),
        evidence={"raw_best_epoch": s.raw_best_epoch,
                  "raw_best_value": s.best,
                  "recommended_epoch": keep,
                  "recommended_smoothed_value": s.smoothed_best,
                  "dip_in_noise_sigmas": dip / noise, "noise": noise},
        causes=rank_causes([
            (2.0, "validation_size",
             "a small or noisy validation set produces lucky dips."),
            (1.0, "learning_rate",
             "large steps make the validation curve jumpy."),
        ]),
        suggestion=(
            f"Keep epoch {keep}, or checkpoint on a "
            "smoothed metric; a single lucky evaluation is unlikely to "
            "generalise."
        ),
    )]
