"""Rules on the training curve: NaN, divergence (including a loss that is
unbounded below) and oscillation."""

import dataclasses

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import INFO
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules import causes as cz
from keras_curvewatch.engine.rules import shape
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import pct
from keras_curvewatch.engine.rules.base import rank_causes
from keras_curvewatch.engine.series import describe_series

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
# ...and the climb shows on a plot spanning the curve: 1 % of its height,
# a pixel of a 100-pixel plot. A regression fitted to a zero loss that
# bounces from 1e-5 to 1e-4 at its floor after falling from 2.7 is 10x its
# minimum but a flat line on the plot (LABELLING.md judges the shape on
# the curve's own scale); a jump of 0.03 at the floor of a fall from 1.0
# is 3 %.
DIVERGING_MIN_SHARE_OF_RANGE = 0.01
# "Rises steadily over many epochs (not one spike)" (LABELLING.md): before
# a NaN, three rises in a row from the minimum, with the 1.5x of
# NAN_PRECEDED_BY_RISE, are a climb; one or two are a spike.
STEADY_CLIMB_MIN_RISES = 3
# Unbounded below: a negative loss 10x larger in size than when it first
# went negative, still falling at half the middle third's pace or more
# (a bounded negative loss, like cosine similarity, levels off).
UNBOUNDED_GROWTH = 10.0
UNBOUNDED_MIN_SLOPE_RATIO = 0.5

# Epoch-mean training losses average hundreds of batches, so a healthy
# curve moves smoothly: residual noise of 5 % of the level per epoch is
# well beyond what averaging leaves (a warning).
TRAIN_OSCILLATION_WARN_NOISE = 0.05
# From 3.5 % it is told at info level: successive epochs then differ by
# about 5 % (3.5 % x sqrt 2) and the largest reversals of a 20-epoch run
# reach the 7 % of VAL_REVERSAL_MIN_STEP. Zig-zags that wander (runs of
# ups and downs) leave less in the local-cubic residuals than they show on
# a plot: 5 % missed two labelled ones (real log 018, held-out half of
# bench/real_logs.py, and an SGD run of fresh3 in bench/labelled_fits.py).
TRAIN_OSCILLATION_MIN_NOISE = 0.035
# And the direction must keep changing: a flip rate near the white-noise
# 2/3, not a monotone curve with a few bumps.
TRAIN_OSCILLATION_MIN_FLIP_RATE = 0.45
# From 20 epochs on, the noise of the second half and the detrended flip
# rate are used too; on shorter runs the half-curve estimate rests on too
# few residuals (it fired on smooth short real logs, bench/labelled_fits.py).
TRAIN_OSCILLATION_LONG_RUN = 20
# "Instead of a mostly monotone decline" (LABELLING.md): over one half of
# the run (the first, or the second) the upward moves add up to at least
# 2/3 of the downward ones. A loss still falling by orders of magnitude,
# with zig-zags at its floor, has far fewer ups than downs.
TRAIN_OSCILLATION_MIN_UP_SHARE = 2.0 / 3.0
# "Visible" (LABELLING.md): the noise, at the level of the run's second
# half, is at least 0.5 % of the plot's height, so that its reversals span
# about 2 % of it (a couple of pixels of a 100-pixel plot). Adam bouncing
# at a 1e-5 floor after a fall from 2.7 is 20 % of its level and 0.0001 %
# of the plot; the smallest labelled oscillation of bench/real_logs.py and
# bench/labelled_fits.py is 0.8 %.
TRAIN_OSCILLATION_MIN_SHARE_OF_RANGE = 0.005
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
        return [_nan_finding(inp, name, values, bad)]
    return []


def _nan_finding(inp, name, values, bad):
    """The `nan_loss` finding for curve `name`, non-finite where `bad`."""
    first_bad = base.first_index(bad)
    before = values[:first_bad]
    before = before[np.isfinite(before)]
    evidence = {
        "first_nonfinite_epoch": inp.epoch_label(first_bad),
        "nonfinite_epochs": int(bad.sum()),
        "nonfinite_fraction": float(bad.mean()),
    }
    causes = _nan_causes(inp, name, before, evidence)
    recovered = bool(np.isfinite(values[first_bad:]).any())
    evidence["recovered"] = float(recovered)
    return Finding(
        code="nan_loss",
        severity=WARNING if recovered else CRITICAL,
        series=name,
        epoch=inp.epoch_label(first_bad),
        message=_nan_message(inp, name, values, first_bad),
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=(
            "Lower the learning rate 10x, clip gradients "
            "(optimizer clipnorm=1.0), check the data with "
            "np.isfinite(x).all() and np.isfinite(y).all(), and roll "
            "back to the last good epoch (CurveWatch(lr_control=True) "
            "does this live)."
        ),
    )


def _nan_causes(inp, name, before, evidence):
    """Causes of the NaN, judged on the finite values `before` it (none:
    broken from the first epoch); adds the rise before it to `evidence`."""
    causes = []
    lr_high = base.lr_is_high(inp)
    if len(before) == 0:
        causes.append((cz.LIKELY + cz.NUDGE, "data_quality",
                       f"{name} is not finite from the first epoch: "
                       "NaN/inf in the inputs or targets, or a loss that "
                       "is undefined for the labels, is most likely."))
        causes.append((cz.POSSIBLE, "initialization",
                       "an unstable initialisation can overflow in the "
                       "first steps."))
        causes.append((cz.STRONG if lr_high else cz.POSSIBLE + cz.NUDGE,
                       "learning_rate",
                       "a rate large enough to overflow in the first "
                       "epoch also gives this."))
    else:
        last = float(before[-1])
        best = float(np.min(before))
        evidence["last_finite_value"] = last
        rising = best > 0 and last >= NAN_PRECEDED_BY_RISE * best
        if rising:
            evidence["rise_before_nan"] = last / best
        causes.append((cz.STRONG if rising or lr_high else cz.LIKELY,
                       "learning_rate",
                       f"{name} rose from {fmt(best)} to {fmt(last)} "
                       "before it broke: steps too large blow the "
                       "weights up." if rising else
                       "steps too large make the weights overflow."))
        causes.append((cz.POSSIBLE + cz.NUDGE, "data_quality",
                       "a batch with NaN/inf or extreme values can "
                       "poison the weights mid-run."))
        causes.append((cz.UNLIKELY, "initialization",
                       "an unstable initialisation or normalisation can "
                       "overflow later."))
    if lr_high:
        causes.append((cz.STRONG + cz.NUDGE, "learning_rate",
                       f"{base.lr_sentence(inp)} is high."))
    return causes


def _nan_message(inp, name, values, first_bad):
    """What the NaN epochs mean: fatal when the loss never came back, a
    glitch with recovery otherwise."""
    bad = ~np.isfinite(values)
    head = (f"{name} became NaN/inf at epoch {inp.epoch_label(first_bad)} "
            f"({int(bad.sum())} of {len(values)} epochs are not finite)")
    later = np.flatnonzero(~bad[first_bad:])
    if not len(later):
        return head + "; nothing after that point was learned."
    back = first_bad + int(later[0])
    return (head + f", then recovered at epoch {inp.epoch_label(back)} "
            f"({fmt(values[back])}): some batches overflowed, but training "
            "went on; the NaN epochs are lost, the run is not.")


def _unbounded_below(values):
    """`(first_negative, end)` when the loss went below zero, grew tenfold
    in size since, and its fall is not levelling off; else None."""
    negative = np.flatnonzero(values < 0)
    if not len(negative) or values[-1] >= 0:
        return None
    first = float(values[negative[0]])
    if abs(values[-1]) < UNBOUNDED_GROWTH * abs(first):
        return None
    third = len(values) // 3
    if third < 2:
        return None
    middle = shape.robust_slope(values[third:2 * third])
    last = shape.robust_slope(values[-third:])
    if not (middle < 0 and last <= UNBOUNDED_MIN_SLOPE_RATIO * middle):
        return None
    return first, float(values[-1])


def _unbounded_finding(inp, name, first, end):
    return Finding(
        code="diverging",
        severity=CRITICAL,
        series=name,
        epoch=inp.epoch_label(int(np.flatnonzero(inp.values(name) < 0)[0])),
        message=(
            f"{name} is unbounded below: it went negative and runs away "
            f"without levelling off ({fmt(first)} -> {fmt(end)}). A loss "
            "that can fall forever is not converging: the loss, the labels "
            "or the output activation are wrong."),
        evidence={"first_negative_value": first, "end_value": end,
                  "growth": end / first},
        causes=rank_causes([
            (cz.STRONG + cz.NUDGE, "data_quality",
             "labels outside the range the loss expects (e.g. "
             "binary_crossentropy or a log-likelihood on targets outside "
             "[0, 1], or negative targets for a log loss)."),
            (cz.STRONG, "output_activation",
             "an output that is not squashed into the loss's domain (no "
             "sigmoid/softmax before a probabilistic loss, or a custom "
             "loss that rewards ever larger outputs)."),
        ]),
        suggestion=(
            "Check the loss against the labels and the output activation: "
            "cross-entropy needs targets in [0, 1] and a sigmoid/softmax "
            "output (or from_logits=True); a custom loss must have a lower "
            "bound. Training longer or changing the learning rate will not "
            "fix this."),
    )


def diverging_rule(inp):
    """`diverging`: the training loss trends upwards beyond its noise;
    when it then turns NaN, the climb before the first NaN is judged."""
    name = inp.loss
    if name is None:
        return []
    s = inp.series[name]
    values = inp.values(name)
    if not np.isfinite(values).all():
        return _diverging_before_nan(inp, name, values)
    if s.n_finite < stats.MIN_POINTS_TREND:
        return []
    runaway = _unbounded_below(values)
    if runaway is not None:
        return [_unbounded_finding(inp, name, *runaway)]
    return _diverging(inp, name, s, values)


def _diverging_before_nan(inp, name, values):
    """`diverging` on the finite epochs before the loss first turned NaN
    or inf: a climb that ends in an overflow is both (LABELLING.md reads
    `diverging` off the curve, `nan_loss` off the values). Besides the
    usual test, a steady climb straight into the NaN counts: the overflow
    cuts the curve where the climb is steepest, so its end is too short
    for a trend test and its last step inflates the noise."""
    first_bad = base.first_index(~np.isfinite(values))
    if first_bad < stats.MIN_POINTS_TREND:
        return []
    head = values[:first_bad]
    epochs = np.asarray(inp.curves.epochs[:first_bad])
    s = describe_series(name, head, epochs, inp.series[name].direction)
    findings = _diverging(inp, name, s, head)
    if not findings:
        low = _steady_climb_start(head)
        if low is not None:
            findings = [_diverging_finding(
                inp, name, s, low, float(head[low]), float(head[-1]),
                float(head[0]), {"climbing_epochs": len(head) - 1 - low})]
    return [dataclasses.replace(
        f, message=f.message.rstrip(".") + f", then became NaN/inf at "
        f"epoch {inp.epoch_label(first_bad)}.",
        evidence={**f.evidence, "first_nonfinite_epoch":
                  inp.epoch_label(first_bad)}) for f in findings]


def _steady_climb_start(values):
    """Index where `values` starts an unbroken climb to its end of at
    least `STEADY_CLIMB_MIN_RISES` rises and `NAN_PRECEDED_BY_RISE` times
    its level, from the curve's minimum; else None."""
    rises = np.diff(values) > 0
    broken = np.flatnonzero(~rises)
    low = int(broken[-1]) + 1 if len(broken) else 0
    if len(values) - 1 - low < STEADY_CLIMB_MIN_RISES:
        return None
    floor = float(values[low])
    if not (floor > 0 and floor <= float(np.min(values))
            and values[-1] >= NAN_PRECEDED_BY_RISE * floor):
        return None
    return low


def _diverging(inp, name, s, values):
    """`diverging` on the finite curve `values` with statistics `s`."""
    climb = _climb(s, values)
    if climb is None:
        return []
    return [_diverging_finding(inp, name, s, *climb)]


def _climb(s, values):
    """`(low, low_value, end, start, evidence)` of a significant climb of
    the smoothed curve from its minimum to its end, or None."""
    smooth = np.asarray(s.smoothed)
    low = int(np.argmin(smooth))
    end = float(smooth[-1])
    rise = end - float(smooth[low])
    noise = s.noise if np.isfinite(s.noise) else 0.0
    # The trend tests last: they cost the most.
    if not (_large_rise(float(smooth[low]), end, values)
            and rise > DIVERGING_NOISE_SIGMAS * noise
            and _rises_significantly(s, values, low)):
        return None
    evidence = {
        "min_smoothed": float(smooth[low]),
        "end_smoothed": end,
        "rise_in_noise_sigmas": rise / noise if noise > 0 else float("inf"),
    }
    return low, float(smooth[low]), end, float(smooth[0]), evidence


def _large_rise(low_value, end, values):
    """The tests of `_climb` on the size of the rise from the smoothed
    minimum `low_value` to the smoothed `end` that need no statistics of
    the series beyond the smoothed curve."""
    rise = end - low_value
    level = abs(low_value) or 1.0
    return (rise > DIVERGING_MIN_RELATIVE_RISE * level
            and rise >= DIVERGING_MIN_SHARE_OF_RANGE * shape.curve_range(
                values))


def _is_critical(low_value, end, start):
    """A climb above where the curve started, or 10x its minimum."""
    return end > start or (low_value > 0
                           and end >= EXPLODED_RATIO * low_value)


def critical_divergence(values):
    """Whether `diverging_rule` finds a critical `diverging` on a finite
    training loss `values`, without the rest of the diagnosis: what the
    live cadence checks before it runs a full one (O(n log n)).

    Args:
        values: sequence of float. The training loss so far.

    Returns:
        bool.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) < stats.MIN_POINTS_TREND or not np.isfinite(
            values).all():
        return False
    if _unbounded_below(values) is not None:
        return True
    # What `_climb` and `_is_critical` test on the smoothed curve alone
    # first (the same smoothing `describe_series` gives): a loss that
    # bounces at its floor fails here in a tenth of the time.
    smooth = stats.robust_smooth(values)
    low_value, end = float(np.min(smooth)), float(smooth[-1])
    if not (_is_critical(low_value, end, float(smooth[0]))
            and _large_rise(low_value, end, values)):
        return False
    s = describe_series("loss", values, np.arange(len(values)), "min")
    climb = _climb(s, values)
    return climb is not None and _is_critical(*climb[1:4])


def _diverging_finding(inp, name, s, low, low_value, end, start, evidence):
    """The `diverging` finding for a climb from `low_value` (at index
    `low`) to `end`, on a curve that started at `start`."""
    rise = end - low_value
    level = abs(low_value) or 1.0
    worse_than_start = end > start
    severity = (CRITICAL if _is_critical(low_value, end, start)
                else WARNING)
    evidence = dict(evidence, relative_rise=rise / level,
                    tail_slope=s.trend_slope, kendall_tau=s.trend_tau,
                    p_value=s.trend_p)
    causes = _diverging_causes(inp, s, low_value, end)
    keep = inp.epoch_label(low) if inp.best_epoch is None else inp.best_epoch
    return Finding(
        code="diverging",
        severity=severity,
        series=name,
        epoch=inp.epoch_label(low),
        message=(
            f"{name} is diverging: it bottomed out at {fmt(low_value)} "
            f"(epoch {inp.epoch_label(low)}) and rose to {fmt(end)}, "
            f"{pct(rise / level)} higher"
            + (", above where it started." if worse_than_start else ".")
        ),
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=base.lower_lr_advice(
            inp, name,
            "Lower the learning rate (halve it, or 10x if it exploded), add "
            "gradient clipping (clipnorm=1.0), and keep the weights from "
            f"epoch {keep}.",
            "check the data for label noise or drift and keep the weights "
            f"from epoch {keep}."),
    )


def _rises_significantly(s, values, low):
    """True when the tail trends upwards (Kendall test), or, failing
    that, the whole climb from the minimum at index `low` does."""
    significant = (
        np.isfinite(s.trend_p) and s.trend_p < TREND_P_VALUE
        and s.trend_tau > 0
    )
    if not significant and len(values) - low >= stats.MIN_POINTS_TREND:
        # A loss that climbed and then levelled off high has no trend in
        # its tail: test the whole climb from the minimum.
        tau_low, p_low = stats.trend_test(values, low)
        significant = (np.isfinite(p_low) and p_low < TREND_P_VALUE
                       and tau_low > 0)
    return significant


def _diverging_causes(inp, s, low_value, end):
    """Causes of a climb from the smoothed minimum `low_value` to `end`."""
    lr_high = base.lr_is_high(inp)
    increases = [c for c in base.lr_changes(inp) if c[2] > c[1]]
    causes = [
        (cz.STRONG + cz.NUDGE if lr_high else cz.STRONG, "learning_rate",
         (f"{base.lr_sentence(inp)} is high; " if lr_high else "")
         + f"the loss fell to {fmt(low_value)} then climbed to {fmt(end)}"
         f" (Kendall tau={fmt(s.trend_tau, 2)}, p={fmt(s.trend_p, 2)}): "
         "steps overshoot the minimum."),
        (cz.POSSIBLE, "initialization",
         "an unstable start can also drift upwards."),
        (cz.UNLIKELY + cz.TIE_BREAK, "data_quality",
         "mislabelled or shifting data can push the loss up."),
    ]
    if increases:
        causes.append((cz.SHOWN, "learning_rate",
                       f"the logged learning rate rose from "
                       f"{fmt(increases[0][1])} to {fmt(increases[0][2])} at "
                       f"epoch {inp.epoch_label(increases[0][0])}."))
    return causes


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


def _zigzag_share_of_range(values, noise):
    """The zig-zag's size on a plot spanning the curve: `noise` (a share of
    the level) times the level of the run's second half, over the range."""
    values = stats.finite(values)
    spread = shape.curve_range(values)
    if not spread > 0:
        return 0.0
    level = float(np.median(np.abs(values[len(values) // 2:])))
    return noise * level / spread


def _up_share(values):
    """In the more zig-zagging half of the run, the sum of the upward moves
    over the sum of the downward ones (log scale for positive curves): 0
    for a monotone decline, about 1 for a zig-zag around a level."""
    values = stats.finite(values)
    scaled = shape.to_scale(values)
    half = len(scaled) // 2
    shares = []
    for part in (scaled[:half + 1], scaled[half:]):
        moves = np.diff(part)
        down = -float(moves[moves < 0].sum())
        if len(moves) < 2:
            continue
        shares.append(float(moves[moves > 0].sum()) / down if down > 0
                      else float("inf"))
    return max(shares) if shares else 0.0


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
    if _zigzag_share_of_range(inp.values(name), noise) < (
            TRAIN_OSCILLATION_MIN_SHARE_OF_RANGE):
        return []
    up_share = _up_share(inp.values(name))
    if up_share < TRAIN_OSCILLATION_MIN_UP_SHARE:
        return []
    severity = (CRITICAL if noise >= TRAIN_OSCILLATION_CRITICAL_NOISE
                else WARNING if noise >= TRAIN_OSCILLATION_WARN_NOISE
                else INFO)
    evidence = {"relative_noise": noise, "flip_rate": flips,
                "noise": s.noise}
    if "batch_cv" in inp.batch:
        evidence["batch_loss_cv"] = inp.batch["batch_cv"]
    causes = _oscillation_causes(inp, flips)
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
        suggestion=base.lower_lr_advice(
            inp, name,
            "Halve the learning rate (or use ReduceLROnPlateau / "
            "CurveWatch(lr_control=True)), and use a batch of 16-32 if it "
            "is smaller.",
            "use a batch of 16-32 if it is smaller, and look for noisy "
            "labels or outliers in the data."),
    )]


def _oscillation_causes(inp, flips):
    """Causes of a training loss that changes direction at `flips`."""
    batch = inp.context.batch_size
    lr_high = base.lr_is_high(inp)
    return [
        (base.batch_cause_score(inp), "batch_size",
         f"batch size {batch} makes each step's gradient noisy."
         if batch is not None else
         "small batches make each step's gradient noisy (batch size "
         "unknown: pass batch_size=)."),
        (cz.STRONG + cz.NUDGE if lr_high else (
            cz.LIKELY + cz.NUDGE if batch and batch >= base.LARGE_BATCH_MIN
            else cz.LIKELY - cz.TIE_BREAK), "learning_rate",
         (f"{base.lr_sentence(inp)} is high: " if lr_high else "")
         + f"the loss changes direction at {pct(flips)} of "
         "epochs, as when steps overshoot the minimum"
         + (f", and batch {batch} already averages out sampling noise."
            if batch and batch >= base.LARGE_BATCH_MIN else ".")),
        (base.capacity_score(inp) * cz.SECONDARY, "model_capacity",
         "many parameters per sample let each batch pull the fit its own "
         "way."),
        (cz.UNLIKELY, "data_quality",
         "outliers or label noise in some batches."),
    ]
