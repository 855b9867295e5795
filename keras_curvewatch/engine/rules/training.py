"""Rules on the training curve: NaN, divergence, no learning, no
convergence, plateaus, oscillation and spikes."""

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

# A loss that rose above 1.5x its best before turning NaN was blowing up:
# the classic sign of a too-large step.
NAN_PRECEDED_BY_RISE = 1.5

# Trend tests use the usual 5 % significance level.
TREND_P_VALUE = 0.05
# Diverging: the smoothed loss ends at least 10 % above its minimum...
DIVERGING_MIN_RELATIVE_RISE = 0.10
# ...and at least 3 noise sigmas above it, so noise alone cannot explain it.
DIVERGING_NOISE_SIGMAS = 3.0
# A loss that ends 10x above its minimum has exploded.
EXPLODED_RATIO = 10.0

# Not learning: the smoothed loss never gets more than 2 % below where it
# started (a learning run drops far more in its first epochs).
NOT_LEARNING_MAX_IMPROVEMENT = 0.02
# ...and an accuracy that gains less than 2 points over the run.
NOT_LEARNING_MAX_ACCURACY_GAIN = 0.02
# A loss within 2 % of ln(k) is a uniform guess over k classes.
CHANCE_LOSS_TOLERANCE = 0.02
# Chance levels are checked up to 100,000 classes (ln = 11.5): beyond that
# a loss is no uniform guess over labels.
CHANCE_MAX_CLASSES = 100_000

# Not converged: the tail still falls at 1 % of the level per epoch or
# more (10 more epochs would gain about 10 %); healthy runs in
# bench/labelled_fits.py end falling at 0.5-0.6 % per epoch.
NOT_CONVERGED_MIN_RATE = 0.01
# ...and the tail's own fall is at least 5 % of everything the curve has
# gained since the start: a memorised loss creeping from 1e-3 to 1e-4
# falls fast in relative terms but has nothing left to give.
NOT_CONVERGED_MIN_SHARE_OF_PROGRESS = 0.05
# Projected gain over another tail's length of 20 % of the level or more
# makes stopping early a real loss (warning rather than info); slow
# power-law tails of healthy runs gain less.
NOT_CONVERGED_WARN_GAIN = 0.20

# Plateau: at least 5 epochs that move less than this share of the level.
PLATEAU_MIN_EPOCHS = 5
PLATEAU_MAX_RELATIVE_CHANGE = 0.03
# ...then a drop of at least 20 % of the level within 3 epochs.
PLATEAU_MIN_RELATIVE_DROP = 0.20
PLATEAU_DROP_WINDOW = 3

# Epoch-mean training losses average hundreds of batches, so a healthy
# curve moves smoothly: residual noise of 5 % of the level per epoch is
# well beyond what averaging leaves.
TRAIN_OSCILLATION_MIN_NOISE = 0.05
# And the direction must keep changing: a flip rate near the white-noise
# 2/3, not a monotone curve with a few bumps.
TRAIN_OSCILLATION_MIN_FLIP_RATE = 0.45
# From 20 epochs on, the noise of the second half and the detrended flip
# rate are used too; on shorter runs the half-curve estimate rests on too
# few residuals (it fired on smooth short real logs, bench/labelled_fits.py).
TRAIN_OSCILLATION_LONG_RUN = 20
# 20 % noise per epoch: the curve is mostly noise.
TRAIN_OSCILLATION_CRITICAL_NOISE = 0.20


def _finite_pairs(values):
    mask = np.isfinite(values)
    return np.flatnonzero(mask), values[mask]


def nan_loss_rule(inp):
    """`nan_loss`: a loss curve holds NaN or inf."""
    names = [n for n in (inp.loss, inp.val_loss) if n is not None]
    names += [n for n in inp.curves.keys() if n.endswith("loss")
              and n not in names]
    for name in names:
        values = inp.values(name)
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        first_bad = base.first_index(bad)
        before = values[:first_bad]
        before = before[np.isfinite(before)]
        evidence = {
            "first_nonfinite_epoch": inp.epoch_label(first_bad),
            "nonfinite_epochs": int(bad.sum()),
            "nonfinite_fraction": float(bad.mean()),
        }
        causes = []
        lr_high = base.lr_is_high(inp)
        if len(before) == 0:
            causes.append((2.5, "data_quality",
                           f"{name} is not finite from the first epoch: "
                           "NaN/inf in the inputs or targets, or a loss that "
                           "is undefined for the labels, is most likely."))
            causes.append((1.0, "initialization",
                           "an unstable initialisation can overflow in the "
                           "first steps."))
            causes.append((1.5 + (1.5 if lr_high else 0), "learning_rate",
                           "a rate large enough to overflow in the first "
                           "epoch also gives this."))
        else:
            last = float(before[-1])
            best = float(np.min(before))
            evidence["last_finite_value"] = last
            rising = best > 0 and last >= NAN_PRECEDED_BY_RISE * best
            if rising:
                evidence["rise_before_nan"] = last / best
            causes.append((3.0 if rising or lr_high else 2.0, "learning_rate",
                           f"{name} rose from {fmt(best)} to {fmt(last)} "
                           "before it broke: steps too large blow the "
                           "weights up." if rising else
                           "steps too large make the weights overflow."))
            causes.append((1.5, "data_quality",
                           "a batch with NaN/inf or extreme values can "
                           "poison the weights mid-run."))
            causes.append((0.5, "initialization",
                           "an unstable initialisation or normalisation can "
                           "overflow later."))
        if lr_high:
            causes.append((3.5, "learning_rate",
                           f"{base.lr_sentence(inp)} is high."))
        return [Finding(
            code="nan_loss",
            severity=CRITICAL,
            series=name,
            epoch=inp.epoch_label(first_bad),
            message=(
                f"{name} became NaN/inf at epoch "
                f"{inp.epoch_label(first_bad)} "
                f"({int(bad.sum())} of {len(values)} epochs are not "
                "finite); nothing after that point was learned."
            ),
            evidence=evidence,
            causes=rank_causes(causes),
            suggestion=(
                "Lower the learning rate 10x, clip gradients "
                "(optimizer clipnorm=1.0), check the data with "
                "np.isfinite(x).all() and np.isfinite(y).all(), and roll "
                "back to the last good epoch (CurveWatch(lr_control=True) "
                "does this live)."
            ),
        )]
    return []


def diverging_rule(inp):
    """`diverging`: the training loss trends upwards beyond its noise."""
    name = inp.loss
    if name is None:
        return []
    s = inp.series[name]
    values = inp.values(name)
    if s.n_finite < stats.MIN_POINTS_TREND or not np.isfinite(values).all():
        return []
    smooth = np.asarray(s.smoothed)
    low = int(np.argmin(smooth))
    end = float(smooth[-1])
    rise = end - float(smooth[low])
    level = abs(float(smooth[low])) or 1.0
    noise = s.noise if np.isfinite(s.noise) else 0.0
    significant = (
        np.isfinite(s.trend_p) and s.trend_p < TREND_P_VALUE
        and s.trend_tau > 0
    )
    if not significant and len(values) - low >= stats.MIN_POINTS_TREND:
        # A loss that climbed and then levelled off high has no trend in
        # its tail: test the whole climb from the minimum.
        _, tau_low, p_low = stats.trend(values, low)
        significant = (np.isfinite(p_low) and p_low < TREND_P_VALUE
                       and tau_low > 0)
    if not (significant and rise > DIVERGING_MIN_RELATIVE_RISE * level
            and rise > DIVERGING_NOISE_SIGMAS * noise):
        return []
    start = float(smooth[0])
    worse_than_start = end > start
    exploded = smooth[low] > 0 and end >= EXPLODED_RATIO * smooth[low]
    severity = CRITICAL if worse_than_start or exploded else WARNING
    evidence = {
        "min_smoothed": float(smooth[low]),
        "end_smoothed": end,
        "relative_rise": rise / level,
        "rise_in_noise_sigmas": rise / noise if noise > 0 else float("inf"),
        "tail_slope": s.trend_slope,
        "kendall_tau": s.trend_tau,
        "p_value": s.trend_p,
    }
    lr_high = base.lr_is_high(inp)
    increases = [c for c in base.lr_changes(inp) if c[2] > c[1]]
    causes = [
        (3.5 if lr_high else 3.0, "learning_rate",
         (f"{base.lr_sentence(inp)} is high; " if lr_high else "")
         + f"the loss fell to {fmt(smooth[low])} then climbed to {fmt(end)}"
         f" (Kendall tau={fmt(s.trend_tau, 2)}, p={fmt(s.trend_p, 2)}): "
         "steps overshoot the minimum."),
        (1.0, "initialization", "an unstable start can also drift upwards."),
        (0.7, "data_quality",
         "mislabelled or shifting data can push the loss up."),
    ]
    if increases:
        causes.append((4.0, "learning_rate",
                       f"the logged learning rate rose from "
                       f"{fmt(increases[0][1])} to {fmt(increases[0][2])} at "
                       f"epoch {inp.epoch_label(increases[0][0])}."))
    return [Finding(
        code="diverging",
        severity=severity,
        series=name,
        epoch=inp.epoch_label(low),
        message=(
            f"{name} is diverging: it bottomed out at {fmt(smooth[low])} "
            f"(epoch {inp.epoch_label(low)}) and rose to {fmt(end)}, "
            f"{pct(rise / level)} higher"
            + (", above where it started." if worse_than_start else ".")
        ),
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=(
            "Lower the learning rate (halve it, or 10x if it exploded), add "
            "gradient clipping (clipnorm=1.0), and keep the weights from "
            f"epoch {inp.epoch_label(low)}."
        ),
    )]


def _chance_classes(loss_value):
    """k if `loss_value` is within tolerance of ln(k) for some k >= 2."""
    if not np.isfinite(loss_value) or not (
        0 < loss_value <= math.log(CHANCE_MAX_CLASSES)
    ):
        return None
    k = int(round(math.exp(loss_value)))
    if k >= 2 and abs(loss_value - math.log(k)) <= (
        CHANCE_LOSS_TOLERANCE * math.log(k)
    ):
        return k
    return None


def not_learning_rule(inp):
    """`not_learning`: the loss never improves meaningfully."""
    name = inp.loss or inp.val_loss
    if name is None:
        return []
    s = inp.series[name]
    values = inp.values(name)
    if s.n_finite < stats.MIN_POINTS_TREND:
        return []
    smooth = np.asarray(s.smoothed)
    idx, fin = _finite_pairs(values)
    start = float(np.median(fin[:2]))
    level = abs(start) or 1.0
    improvement = (start - float(np.min(smooth[idx]))) / level
    _, tau_all, p_all = stats.trend(values)
    learning_trend = np.isfinite(p_all) and p_all < TREND_P_VALUE and (
        tau_all < 0
    )
    if improvement >= NOT_LEARNING_MAX_IMPROVEMENT:
        return []
    if learning_trend and improvement > NOT_LEARNING_MAX_IMPROVEMENT / 2:
        return []
    evidence = {"relative_improvement": improvement, "first_value": start,
                "kendall_tau": tau_all, "p_value": p_all}
    metric = inp.metric if name == inp.loss else inp.val_metric
    if metric is not None and metric in inp.series:
        m = inp.series[metric]
        mvals = stats.finite(inp.values(metric))
        if len(mvals):
            gain = float(np.max(m.smoothed) - mvals[0])
            evidence["metric_gain"] = gain
            if gain > NOT_LEARNING_MAX_ACCURACY_GAIN:
                return []
    chance = _chance_classes(float(np.median(fin)))
    lr_high, lr_low = base.lr_is_high(inp), base.lr_is_low(inp)
    causes = [
        (3.5 if lr_high or lr_low else 2.0, "learning_rate",
         (f"{base.lr_sentence(inp)} is "
          + ("so high that steps overshoot." if lr_high else "too low to move.")
          if lr_high or lr_low else
          "a rate far too low barely moves the weights; far too high "
          "bounces around without progress.")),
        (2.5 if chance else 1.2, "output_activation",
         f"the loss sits at ln({chance}) = {fmt(math.log(chance))}, a uniform "
         f"guess over {chance} classes: check the output activation and "
         "the loss (from_logits)." if chance else
         "a wrong output activation or loss pairing can block learning."),
        (1.5, "data_quality",
         "inputs that are not scaled, or labels not aligned with inputs, "
         "leave nothing to learn."),
        (1.0, "initialization", "dead units from the initialisation."),
    ]
    if chance:
        evidence["chance_level_classes"] = chance
    return [Finding(
        code="not_learning",
        severity=CRITICAL,
        series=name,
        epoch=int(inp.curves.epochs[0]),
        message=(
            f"{name} is not learning: after {s.n_epochs} epochs it is only "
            f"{pct(improvement)} below where it started "
            f"({fmt(start)})"
            + (f", at the chance level of {chance} classes." if chance
               else ".")
        ),
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=(
            "Try a learning rate 10x higher and 10x lower, check that the "
            "inputs are scaled and the labels match them, and that the "
            "output activation matches the loss (softmax with "
            "categorical_crossentropy, or from_logits=True with a linear "
            "output)."
        ),
    )]


def not_converged_rule(inp):
    """`not_converged`: the monitored loss is still falling at the end."""
    name = inp.val_loss or inp.loss
    if name is None:
        return []
    s = inp.series[name]
    if s.n_finite < stats.MIN_POINTS_TREND or not np.isfinite(s.trend_p):
        return []
    if not (s.trend_p < TREND_P_VALUE and s.trend_tau < 0):
        return []
    smooth = np.asarray(s.smoothed)
    level = abs(float(smooth[-1])) or 1.0
    rate = -s.trend_slope / level
    if rate < NOT_CONVERGED_MIN_RATE:
        return []
    tail_len = s.n_epochs - list(inp.curves.epochs).index(s.tail_start_epoch)
    progress = float(smooth[0]) - float(smooth[-1])
    tail_fall = -s.trend_slope * tail_len
    if progress <= 0 or tail_fall < NOT_CONVERGED_MIN_SHARE_OF_PROGRESS * (
        progress
    ):
        return []
    gain = min(rate * tail_len, 1.0)
    severity = WARNING if gain >= NOT_CONVERGED_WARN_GAIN else INFO
    causes = [
        (3.0, "training_length",
         f"{name} still falls by {pct(rate)} of its level per "
         f"epoch over the last {tail_len} epochs (Kendall "
         f"tau={fmt(s.trend_tau, 2)}, p={fmt(s.trend_p, 2)})."),
        (2.0 if base.lr_is_low(inp) else 0.8, "learning_rate",
         "a steady slow decline can also mean the learning rate is low."),
    ]
    return [Finding(
        code="not_converged",
        severity=severity,
        series=name,
        epoch=s.tail_start_epoch,
        message=(
            f"{name} has not converged: it is still falling at the end, "
            f"by about {pct(rate)} of its level per epoch over the last "
            f"{tail_len} epochs; more epochs would likely improve it."
        ),
        evidence={"relative_rate_per_epoch": rate, "tail_slope":
                  s.trend_slope, "kendall_tau": s.trend_tau,
                  "p_value": s.trend_p, "projected_gain": gain},
        causes=rank_causes(causes),
        suggestion=(
            "Train for more epochs with EarlyStopping(monitor='val_loss', "
            "patience=10, restore_best_weights=True), or raise the "
            "learning rate a little if progress is slow and smooth."
        ),
    )]


def _plateau_drop_candidates(fin):
    """The epochs k (in order) where the `PLATEAU_MIN_EPOCHS` before k are
    flat and the loss then drops: the tests of `plateau_then_drop_rule`'s
    loop, vectorised over k, so that a long run costs no Python loop."""
    n = len(fin)
    windows = np.lib.stride_tricks.sliding_window_view(
        fin, PLATEAU_MIN_EPOCHS)[:n - PLATEAU_MIN_EPOCHS - 1]
    median = np.median(windows, axis=1)
    level = np.abs(median)
    level[level == 0] = 1.0
    flat = ~(windows.max(axis=1) - windows.min(axis=1)
             > PLATEAU_MAX_RELATIVE_CHANGE * level)
    padded = np.concatenate([fin, np.full(PLATEAU_DROP_WINDOW - 1, np.inf)])
    after = np.lib.stride_tricks.sliding_window_view(
        padded, PLATEAU_DROP_WINDOW)[PLATEAU_MIN_EPOCHS:n - 1]
    dropped = ~(median - after.min(axis=1) < PLATEAU_MIN_RELATIVE_DROP * level)
    return (np.flatnonzero(flat & dropped) + PLATEAU_MIN_EPOCHS).tolist()


def plateau_then_drop_rule(inp):
    """`plateau_then_drop`: a flat stretch, then a sudden large drop."""
    name = inp.loss
    if name is None:
        return []
    values = inp.values(name)
    idx, fin = _finite_pairs(values)
    n = len(fin)
    if n < PLATEAU_MIN_EPOCHS + 2:
        return []
    for k in _plateau_drop_candidates(fin):
        window = fin[k - PLATEAU_MIN_EPOCHS:k]
        level = abs(float(np.median(window))) or 1.0
        if np.ptp(window) > PLATEAU_MAX_RELATIVE_CHANGE * level:
            continue
        after = fin[k:k + PLATEAU_DROP_WINDOW]
        drop = float(np.median(window) - np.min(after))
        if drop < PLATEAU_MIN_RELATIVE_DROP * level:
            continue
        # The drop happens at the first epoch past half of it.
        k = k + int(np.argmax(after < np.median(window) - drop / 2))
        # The plateau starts where the flat stretch begins.
        j = k - PLATEAU_MIN_EPOCHS
        while j > 0 and abs(fin[j - 1] - np.median(window)) <= (
            PLATEAU_MAX_RELATIVE_CHANGE * level
        ):
            j -= 1
        drop_epoch = inp.epoch_label(idx[k])
        changes = [c for c in base.lr_changes(inp)
                   if abs(c[0] - idx[k]) <= PLATEAU_DROP_WINDOW]
        if changes:
            causes = [(4.0, "learning_rate",
                       f"the logged learning rate changed from "
                       f"{fmt(changes[0][1])} to {fmt(changes[0][2])} at "
                       f"epoch {inp.epoch_label(changes[0][0])}, right at "
                       "the drop: the rate was too high to settle before.")]
        else:
            causes = [
                (2.0, "initialization",
                 f"the loss sat flat for {k - j} epochs before it found a "
                 "way down: a poor start or a saddle."),
                (1.8, "learning_rate",
                 "a rate too low to leave the plateau quickly (or too high "
                 "to settle) gives the same shape."),
            ]
        return [Finding(
            code="plateau_then_drop",
            severity=INFO,
            series=name,
            epoch=drop_epoch,
            message=(
                f"{name} stayed flat at about {fmt(np.median(window))} for "
                f"{k - j} epochs, then dropped by "
                f"{pct(drop / level)} at epoch {drop_epoch}."
            ),
            evidence={"plateau_epochs": k - j, "drop_epoch": drop_epoch,
                      "plateau_level":
                      float(np.median(window)), "relative_drop":
                      drop / level, "plateau_start_epoch":
                      inp.epoch_label(idx[j])},
            causes=rank_causes(causes),
            suggestion=(
                "Use a learning-rate warm-up or a schedule (e.g. "
                "ReduceLROnPlateau or CurveWatch(lr_control=True)), check "
                "the initialisation and normalisation, and don't stop "
                "training during a plateau too early."
            ),
        )]
    return []


def _oscillation(inp, name, s):
    """Noise (share of the level) and flip rate used for oscillation.

    Long positive curves are measured on the log scale with spikes
    replaced by the smoothed value (spikes are `loss_spike`'s); the noise
    is the larger of the whole curve's and the second half's, since a run
    often settles into oscillation late; the flip rate is that of the
    detrended curve, which a falling trend does not mask.
    """
    values = np.asarray(inp.values(name), dtype=np.float64)
    n_finite = int(np.isfinite(values).sum())
    if (n_finite < TRAIN_OSCILLATION_LONG_RUN or not np.isfinite(values).all()
            or (values <= 0).any()):
        return s.relative_noise, s.flip_rate
    logs = np.log(values)
    if s.spikes:
        smooth = stats.robust_smooth(logs)
        epochs = list(inp.curves.epochs)
        for epoch in s.spikes:
            logs[epochs.index(epoch)] = smooth[epochs.index(epoch)]
    half = len(logs) // 2
    candidates = [stats.noise_level(logs), stats.noise_level(logs[half:])]
    candidates = [c for c in candidates if np.isfinite(c)]
    if not candidates:
        return float("nan"), float("nan")
    return max(candidates), stats.flip_rate(logs - stats.robust_smooth(logs))


def train_oscillation_rule(inp):
    """`train_oscillation`: the training loss zig-zags around its trend."""
    name = inp.loss
    if name is None:
        return []
    s = inp.series[name]
    noise, flips = _oscillation(inp, name, s)
    if not (np.isfinite(noise) and np.isfinite(flips)):
        return []
    if noise < TRAIN_OSCILLATION_MIN_NOISE:
        return []
    if flips < TRAIN_OSCILLATION_MIN_FLIP_RATE:
        return []
    severity = (CRITICAL if noise >= TRAIN_OSCILLATION_CRITICAL_NOISE
                else WARNING)
    batch = inp.context.batch_size
    lr_high = base.lr_is_high(inp)
    evidence = {"relative_noise": noise, "flip_rate": flips,
                "noise": s.noise}
    if "batch_cv" in inp.batch:
        evidence["batch_loss_cv"] = inp.batch["batch_cv"]
    causes = [
        (base.batch_cause_score(inp), "batch_size",
         f"batch size {batch} makes each step's gradient noisy."
         if batch is not None else
         "small batches make each step's gradient noisy (batch size "
         "unknown: pass batch_size=)."),
        (3.5 if lr_high else (2.5 if batch and batch >= base.LARGE_BATCH_MIN
                              else 1.8), "learning_rate",
         (f"{base.lr_sentence(inp)} is high: " if lr_high else "")
         + f"the loss changes direction at {pct(flips)} of "
         "epochs, as when steps overshoot the minimum"
         + (f", and batch {batch} already averages out sampling noise."
            if batch and batch >= base.LARGE_BATCH_MIN else ".")),
        (base.capacity_score(inp) * 0.5, "model_capacity",
         "many parameters per sample let each batch pull the fit its own "
         "way."),
        (0.5, "data_quality", "outliers or label noise in some batches."),
    ]
    return [Finding(
        code="train_oscillation",
        severity=severity,
        series=name,
        epoch=s.tail_start_epoch,
        message=(
            f"The training loss oscillates: its epoch-to-epoch noise is "
            f"{pct(noise)} of its level and it changes "
            f"direction at {pct(flips)} of epochs (white "
            "noise: 67%)."
        ),
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=(
            "Halve the learning rate (or use ReduceLROnPlateau / "
            "CurveWatch(lr_control=True)), and use a batch of 16-32 if it "
            "is smaller."
        ),
    )]


def loss_spike_rule(inp):
    """`loss_spike`: isolated jumps far beyond the noise."""
    out = []
    for name in (inp.loss, inp.val_loss):
        if name is None or name not in inp.series:
            continue
        s = inp.series[name]
        if not s.spikes:
            continue
        values = inp.values(name)
        epochs = list(inp.curves.epochs)
        first = epochs.index(s.spikes[0])
        lr_high = base.lr_is_high(inp)
        causes = [
            (3.5 if lr_high else 2.5, "learning_rate",
             f"{name} jumped to {fmt(values[first])} at epoch "
             f"{s.spikes[0]} ({fmt(s.max_spike_score, 2)} noise sigmas): "
             "one oversized step." + (f" {base.lr_sentence(inp)} is high."
                                      if lr_high else "")),
            (base.batch_cause_score(inp, small=2.0, medium=0.8), "batch_size",
             "small batches occasionally produce extreme gradients."),
            (1.2, "data_quality",
             "a few outliers or mislabelled samples can cause isolated "
             "jumps."),
        ]
        if name == inp.val_loss:
            causes.append((base.batch_cause_score(inp, 0.5, 0.5, 0.5),
                           "validation_size",
                           "a small validation set magnifies single "
                           "mistakes."))
        out.append(Finding(
            code="loss_spike",
            severity=WARNING,
            series=name,
            epoch=s.spikes[0],
            message=(
                f"{name} spiked at epoch"
                f"{'s' if len(s.spikes) > 1 else ''} "
                f"{', '.join(str(e) for e in s.spikes[:5])}: far beyond its "
                "usual noise, then recovered."
            ),
            evidence={"n_spikes": len(s.spikes),
                      "max_spike_score": s.max_spike_score,
                      "first_spike_value": float(values[first]),
                      "noise": s.noise},
            causes=rank_causes(causes),
            suggestion=(
                "Lower the learning rate or add gradient clipping "
                "(clipnorm=1.0); look for outliers in the data."
            ),
        ))
    return out
