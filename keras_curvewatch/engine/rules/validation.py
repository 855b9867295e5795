"""Rules on the validation curves: fluctuation against what the
validation-set size explains (or, without it, against the training curve),
and the best epoch."""

import math

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import INFO
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules import causes as cz
from keras_curvewatch.engine.rules import shape
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import pct
from keras_curvewatch.engine.rules.base import rank_causes
from keras_curvewatch.engine.rules.context import SMALL_VAL_WARN_N
from keras_curvewatch.engine.series import is_bounded_metric

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
# Reversals (LABELLING.md: "repeated reversals of a visible fraction of its
# level"): a move counts when it is 7 % of the level or more (about twice
# the 2-4 % epoch-to-epoch noise of typical curves; 10 % missed zig-zags of
# 7-9 % that the labellers of bench/real_logs.py marked), twice the
# training loss's usual epoch-to-epoch change ("far more than the training
# curve"), and 3 % of the plot's height (a wiggle of a pixel or two on a
# 60-pixel plot of a curve that fell from 3.6 is not visible).
VAL_REVERSAL_MIN_STEP = math.log(1.07)
VAL_REVERSAL_TRAIN_CHANGES = 2.0
VAL_REVERSAL_MIN_SHARE_OF_RANGE = 0.03
# "Repeated": 3 reversals at least, and one per 15 epochs or more (white
# noise reverses at 2/3 of epochs; a noisy long run with rare bumps at a
# hundredth of that; set on the tune half of bench/real_logs.py).
VAL_MIN_REVERSALS = 3
VAL_MIN_REVERSAL_RATE = 1.0 / 15.0
# Per-sample cross-entropy has a coefficient of variation near 1 (an
# exponential-like spread), so the mean loss over n samples has a relative
# standard error of about 1/sqrt(n).
LOSS_PER_SAMPLE_CV = 1.0

# The raw best epoch is a dip when it lies at least 1.5 noise sigmas below
# its own smoothed trend (a one-sided 7 % tail of Gaussian noise: rarer
# than an ordinary wobble, yet the likely raw best of a 30-epoch run)...
NOISY_DIP_SIGMAS = 1.5
# ...and is no more than 3 noise sigmas better than the recommended epoch.
# Nearby epochs are interchangeable: the two must be 3+ epochs apart.
NOISY_DIP_MIN_DISTANCE = 3
# ...and the dip must be at least 1 % of the level: a 0.001 wobble on a
# flat curve is no lucky evaluation (bench/labelled_fits.py).
NOISY_DIP_MIN_RELATIVE = 0.01
NOISY_DIP_MAX_GAIN_SIGMAS = 3.0


# The validation-size cause when n_val is not known.
_UNKNOWN_N_VAL = (cz.LIKELY + cz.TIE_BREAK, "validation_size",
                  "n_val is unknown: pass n_val= to tell whether the "
                  "validation set's size explains this noise.")


def _rel_noise_abs(s, level):
    """Noise in the curve's units at `level` (relative noise x level)."""
    if np.isfinite(s.relative_noise) and s.direction == "min" and level > 0:
        return s.relative_noise * level
    return s.noise


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
    evidence = _noise_evidence(vl, tl, vm)
    large = _noise_is_large(inp, vl, vm, expected, evidence)
    if large is None:
        return []
    # Reversals are a shape on the plot: whatever n_val explains, a curve
    # that zig-zags visibly beyond the training curve is val_fluctuation.
    if _reverses_beyond_training(inp, evidence):
        return [_fluctuation_finding(inp, evidence, expected,
                                     _reversal_size_cause(inp, expected))]
    if expected is not None:
        findings, cause_size = _judge_against_n_val(
            inp, expected, vl, tl, large, evidence)
        if findings is not None:
            return findings
    else:
        cause_size = _judge_against_training(large, evidence)
        if cause_size is None:
            return []
    return [_fluctuation_finding(inp, evidence, expected, cause_size)]


def _noise_evidence(vl, tl, vm):
    """The noise levels of the validation and training curves."""
    evidence = {}
    if vl is not None and np.isfinite(vl.relative_noise):
        evidence["val_loss_relative_noise"] = vl.relative_noise
        evidence["val_loss_flip_rate"] = vl.flip_rate
    if vm is not None and np.isfinite(vm.noise):
        evidence["val_metric_noise"] = vm.noise
    if tl is not None and np.isfinite(tl.relative_noise):
        evidence["train_loss_relative_noise"] = tl.relative_noise
    return evidence


def _noise_is_large(inp, vl, vm, expected, evidence):
    """Whether the validation noise is large enough to matter.

    Returns:
        True or False, or None when the validation accuracy is no noisier
        than the training accuracy (no validation effect to report).
    """
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
                return None
        return large
    return vl is not None and _noise_matters(
        vl, VAL_LOSS_MIN_RELATIVE_NOISE, evidence, "val_loss")


def _judge_against_n_val(inp, expected, vl, tl, large, evidence):
    """Compares the noise with what n_val explains.

    Returns:
        `(findings, None)` when the verdict is final (no finding, or
        `small_validation_set`), else `(None, cause_size)` for a
        `val_fluctuation` finding.
    """
    _, observed, explained, unit = expected
    ratio = _noise_ratio(expected)
    evidence.update({"observed_noise": observed,
                     "explained_by_n_val": explained,
                     "noise_ratio": ratio,
                     "n_val": inp.context.n_val})
    # Only noise big enough to matter is worth a finding, whichever
    # of the two explains it.
    visible = (observed >= VAL_ACCURACY_FLUCTUATION if unit == "accuracy"
               else observed >= VAL_LOSS_MIN_RELATIVE_NOISE)
    if not visible:
        return [], None
    loss_beyond = _val_loss_noisier_than_training(vl, tl)
    if ratio <= VAL_EXPLAINED_RATIO and not loss_beyond:
        if inp.context.n_val >= SMALL_VAL_WARN_N:
            # Explained, by a set large enough not to matter.
            return [], None
        return [_small_validation_finding(inp, expected, ratio,
                                          evidence)], None
    if not large and unit != "accuracy":
        return [], None
    return None, _explains_only(inp, ratio)


def _judge_against_training(large, evidence):
    """Without n_val: the cause entry for a `val_fluctuation` finding, or
    None when the noise is small or no bigger than the training curve's."""
    if not large:
        return None
    train_rel = evidence.get("train_loss_relative_noise")
    val_rel = evidence.get("val_loss_relative_noise")
    if train_rel is not None and val_rel is not None and train_rel > 0:
        evidence["val_to_train_noise_ratio"] = val_rel / train_rel
        if val_rel / train_rel < VAL_TRAIN_NOISE_RATIO:
            # As noisy as training: train_oscillation covers it.
            return None
    return _UNKNOWN_N_VAL


def _small_validation_finding(inp, expected, ratio, evidence):
    """`small_validation_set`: the noise is what n_val explains."""
    name, observed, explained, unit = expected
    what = (f"+/-{fmt(100 * observed, 2)} accuracy points" if
            unit == "accuracy" else
            f"{pct(observed)} of the loss")
    return Finding(
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
        causes=rank_causes([(cz.STRONG, "validation_size",
                             f"observed noise is {fmt(ratio, 2)}x "
                             "the finite-sample standard error.")]),
        suggestion=(
            "Use a larger validation set (validation_split=0.2 is "
            "usual) or k-fold cross-validation, and choose the "
            "epoch on the smoothed curve."
        ),
    )


def _reverses_beyond_training(inp, evidence):
    """LABELLING.md's reading: the validation loss jumps up and straight
    back down again and again, each move a visible fraction of its level
    and of the plot, and bigger than the training loss's usual change."""
    if inp.val_loss is None:
        return False
    val = stats.finite(inp.values(inp.val_loss))
    if len(val) < VAL_MIN_EPOCHS:
        return False
    step = VAL_REVERSAL_MIN_STEP
    if inp.loss is not None:
        train_change = shape.usual_change(shape.to_scale(
            stats.finite(inp.values(inp.loss))))
        if np.isfinite(train_change):
            step = max(step, VAL_REVERSAL_TRAIN_CHANGES * train_change)
    count, rate = shape.reversals(val, step, VAL_REVERSAL_MIN_SHARE_OF_RANGE)
    train_rel = evidence.get("train_loss_relative_noise")
    val_rel = evidence.get("val_loss_relative_noise")
    if train_rel and val_rel is not None:
        evidence["val_to_train_noise_ratio"] = val_rel / train_rel
    evidence["val_loss_reversals"] = count
    evidence["val_loss_reversal_rate"] = rate
    return count >= VAL_MIN_REVERSALS and rate >= VAL_MIN_REVERSAL_RATE


def _noise_ratio(expected):
    """Observed validation noise over what n_val explains."""
    _, observed, explained, _ = expected
    return observed / explained if explained > 0 else float("inf")


def _explains_only(inp, ratio):
    """The validation-size cause when n_val explains little of the noise."""
    return (cz.POSSIBLE - cz.TIE_BREAK, "validation_size",
            f"{inp.context.n_val} samples explain only "
            f"{fmt(100 / max(ratio, 1e-9), 2)}% of the noise.")


def _reversal_size_cause(inp, expected):
    """The `validation_size` cause of a zig-zag found by its reversals."""
    if expected is None:
        return _UNKNOWN_N_VAL
    ratio = _noise_ratio(expected)
    if ratio <= VAL_EXPLAINED_RATIO:
        return (cz.LIKELY + cz.TIE_BREAK, "validation_size",
                f"{inp.context.n_val} validation samples explain noise "
                "of this size: each epoch's score moves with a few "
                "samples.")
    return _explains_only(inp, ratio)


def _fluctuation_finding(inp, evidence, expected, cause_size):
    cap = base.capacity_score(inp)
    name = inp.val_loss or inp.val_metric
    ineffective = base.lr_cut_without_effect(inp, name)
    lr_text = ("large steps move the weights a lot between evaluations"
               + (f" ({base.lr_sentence(inp)})." if base.lr_sentence(inp)
                  else "."))
    lr_score = cz.STRONG if base.lr_is_high(inp) else cz.LIKELY - cz.TIE_BREAK
    if ineffective is not None:
        epoch, old, new, _ = ineffective
        lr_score = cz.UNLIKELY
        lr_text = (f"not the rate: it was cut from {fmt(old)} to {fmt(new)} "
                   f"at epoch {epoch} and {name} fluctuated on "
                   f"({base.lr_range_sentence(inp)}).")
    causes = [
        cause_size,
        (base.batch_cause_score(inp, small=cz.STRONG - cz.NUDGE,
                                medium=cz.POSSIBLE, large=cz.MARGINAL),
         "batch_size",
         f"batch size {inp.context.batch_size} moves the weights noisily "
         "between evaluations." if inp.context.batch_size else
         "small batches move the weights noisily between evaluations."),
        (lr_score, "learning_rate", lr_text),
        (cap * cz.SECONDARY, "model_capacity",
         "an over-parameterised model's predictions on unseen data swing "
         "from epoch to epoch."),
        (cz.UNLIKELY, "regularization",
         "dropout changes the fitted function every epoch; more weight "
         "decay steadies it."),
    ]
    s = inp.series[name]
    return Finding(
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
            ("The rate was already cut with no effect: enlarge the "
             "validation set (or use k-fold) and" if ineffective else
             "Lower the learning rate (halve it when validation stops "
             "improving), use a larger batch if it is small, and")
            + " pick the epoch on the smoothed curve (report.best_epoch)."
        ),
    )


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
            (cz.LIKELY, "validation_size",
             "a small or noisy validation set produces lucky dips."),
            (cz.POSSIBLE, "learning_rate",
             "large steps make the validation curve jumpy."),
        ]),
        suggestion=(
            f"Keep epoch {keep}, or checkpoint on a "
            "smoothed metric; a single lucky evaluation is unlikely to "
            "generalise."
        ),
    )]
