"""How far training got: `not_converged` (still falling clearly at the
end) and `plateau_then_drop` (flat at the start, then a sustained drop).
"""

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

# Not converged (LABELLING.md): "the last tenth of the run still gains
# several percent of the level". The gain is the robust slope over the
# last tenth (at least 3 epochs) times a tenth of the run (at least one
# epoch); 3 % is "several percent" at its smallest.
NOT_CONVERGED_MIN_GAIN = 0.03
# "Clearly": that fall is at least 2.5 usual epoch-to-epoch changes
# (p < 0.01 one-sided for normal noise)...
NOT_CONVERGED_MIN_Z = 2.5
# ...and visible on a plot spanning the curve (a tenth of the run falls
# by 2 % of the plot's height), unless it is far beyond the noise (5
# usual changes: no one would call that flat).
NOT_CONVERGED_MIN_SHARE_OF_RANGE = 0.02
NOT_CONVERGED_CLEAR_Z = 5.0
# A fall invisible on the plot counts only when it is large for the level
# (twice "several percent") and, for the training loss, the validation
# loss still falls too: otherwise more epochs would not visibly help.
NOT_CONVERGED_CLEAR_MIN_GAIN = 2 * NOT_CONVERGED_MIN_GAIN
# Slow straight line: over the last third the slope is still at least half
# that of the middle third (no sign of levelling off), and the last third
# falls by 3 % of its level ("several percent", as NOT_CONVERGED_MIN_GAIN;
# 5 % missed a 20-epoch Adagrad line falling 4 % in its last third, fresh3
# of bench/labelled_fits.py, and 3 % adds no finding on the real logs) and
# 10 % of the plot's height.
STRAIGHT_MIN_SLOPE_RATIO = 0.5
STRAIGHT_MIN_FALL_OF_LEVEL = 0.03
STRAIGHT_MIN_FALL_OF_RANGE = 0.10
STRAIGHT_MIN_EPOCHS = 9
# Warning rather than info when another tenth of the run would gain 20 %
# of the level and the fall is far beyond the noise.
NOT_CONVERGED_WARN_GAIN = 0.20

# Plateau at the start: at least 5 epochs from the first (or second)
# epoch, spanning less than 3 % of their level...
PLATEAU_MIN_EPOCHS = 5
PLATEAU_MAX_RELATIVE_CHANGE = 0.03
# An exactly flat plateau still wobbles in the 4th digit a CSV keeps:
# 0.1 % of the level is its least wobble.
PLATEAU_MIN_WOBBLE = 0.001
# ...then a drop to at least 10 times the plateau's own span below it and
# 2 % of its level, that lasts to the end of the run.
PLATEAU_DROP_SPANS = 10.0
PLATEAU_MIN_RELATIVE_DROP = 0.02


def _still_falling(values):
    """`(gain_per_tenth, z, share_of_range, straight)` of a curve's end, or
    None when it is not falling clearly."""
    values = stats.finite(values)
    n = len(values)
    if n < 3:
        return None
    tenth = max(1.0, n / 10.0)
    window = min(n, max(3, int(math.ceil(tenth)) + 1))
    scaled = shape.to_scale(values)
    slope = shape.robust_slope(values[-window:])
    level = abs(float(values[-1])) or 1.0
    if not slope < 0:
        return None
    gain = -slope * tenth / level
    spread = shape.curve_range(values)
    share = -slope * tenth / spread if spread > 0 else 0.0
    half = scaled[n // 2:] if n // 2 >= 4 else scaled
    usual = shape.usual_change(half)
    fall = -shape.robust_slope(scaled[-window:]) * (window - 1)
    if np.isfinite(usual) and usual > 0:
        z = fall / usual
    else:
        # Too short to know the noise: every step must go down.
        z = float("inf") if (np.diff(values[-window:]) < 0).all() else 0.0
    straight = _straight(values, spread)
    if straight:
        return gain, z, share, True
    if gain < NOT_CONVERGED_MIN_GAIN or z < NOT_CONVERGED_MIN_Z:
        return None
    if share < NOT_CONVERGED_MIN_SHARE_OF_RANGE and (
            z < NOT_CONVERGED_CLEAR_Z or gain < NOT_CONVERGED_CLEAR_MIN_GAIN):
        return None
    return gain, z, share, False


def _straight(values, spread):
    """A slow straight-line decline: the last third falls as fast as the
    middle third did, by a visible share of level and plot."""
    n = len(values)
    if n < STRAIGHT_MIN_EPOCHS:
        return False
    third = n // 3
    middle, last = values[third:2 * third], values[-third:]
    s_mid, s_last = shape.robust_slope(middle), shape.robust_slope(last)
    if not (s_mid < 0 and s_last < 0):
        return False
    fall = -s_last * (third - 1)
    tau, p_value = stats.trend_test(last)
    return bool(s_last / s_mid >= STRAIGHT_MIN_SLOPE_RATIO
                and fall >= STRAIGHT_MIN_FALL_OF_LEVEL * abs(float(last[-1]))
                and fall >= STRAIGHT_MIN_FALL_OF_RANGE * spread
                and np.isfinite(p_value) and p_value < 0.05 and tau < 0)


def not_converged_rule(inp):
    """`not_converged`: the training or the validation loss is still
    falling clearly at the end, so more epochs would visibly help."""
    for name in (inp.val_loss, inp.loss):
        if name is None or not np.isfinite(inp.values(name)).all():
            continue
        found = _still_falling(inp.values(name))
        if found is None:
            continue
        visible = found[2] >= NOT_CONVERGED_MIN_SHARE_OF_RANGE or found[3]
        if (not visible and name == inp.loss and inp.val_loss is not None
                and _tail_gain(inp.values(inp.val_loss))
                < NOT_CONVERGED_MIN_GAIN):
            continue
        return [_not_converged(inp, name, *found)]
    return []


def _tail_gain(values):
    """What the last tenth of the run gains, as a share of the level."""
    values = stats.finite(values)
    if len(values) < 3:
        return 0.0
    tenth = max(1.0, len(values) / 10.0)
    window = min(len(values), max(3, int(math.ceil(tenth)) + 1))
    slope = shape.robust_slope(values[-window:])
    return -slope * tenth / (abs(float(values[-1])) or 1.0)


def _not_converged(inp, name, gain, z, share, straight):
    n = inp.curves.n_epochs
    tenth = max(1, int(round(n / 10.0)))
    severity = (WARNING if gain >= NOT_CONVERGED_WARN_GAIN
                and z >= NOT_CONVERGED_CLEAR_Z else INFO)
    shape_text = (f"{name} falls in a slow, straight line with no sign of "
                  "levelling off" if straight else
                  f"{name} is still falling clearly at the end")
    causes = [
        (cz.STRONG, "training_length",
         f"another {tenth} epoch{'s' if tenth > 1 else ''} would gain about "
         f"{pct(gain)} of its level."),
        (cz.LIKELY if straight or base.lr_is_low(inp) else cz.POSSIBLE
         - cz.TIE_BREAK, "learning_rate",
         "a straight, slow decline is what a learning rate that is too low "
         "looks like." if straight else
         "a steady slow decline can also mean the learning rate is low."),
    ]
    return Finding(
        code="not_converged",
        severity=severity,
        series=name,
        epoch=inp.epoch_label(max(0, n - tenth - 1)),
        message=(f"{name} has not converged: {shape_text}, by about "
                 f"{pct(gain)} of its level per tenth of the run; more "
                 "epochs would likely improve it."),
        evidence={"gain_per_tenth_of_run": gain, "fall_in_usual_changes": z,
                  "share_of_plot_range": share, "straight_line":
                  float(straight)},
        causes=rank_causes(causes),
        suggestion=(
            "Train for more epochs with EarlyStopping(monitor='val_loss', "
            "patience=10, restore_best_weights=True)"
            + (", or raise the learning rate (2-3x) since the decline is "
               "slow and straight." if straight else ".")),
    )


def _plateau_at_start(fin):
    """`(start, end, level, span)` of a flat stretch beginning at the first
    or second epoch, or None."""
    for start in (0, 1):
        end = start + PLATEAU_MIN_EPOCHS
        if end > len(fin):
            return None
        level = abs(float(np.median(fin[start:end]))) or 1.0
        if np.ptp(fin[start:end]) > PLATEAU_MAX_RELATIVE_CHANGE * level:
            continue
        # The plateau goes on while the loss stays within the wobble of
        # its first epochs (at least PLATEAU_MIN_WOBBLE of the level).
        wobble = max(float(np.ptp(fin[start:end])),
                     PLATEAU_MIN_WOBBLE * level)
        while end < len(fin) and abs(
                fin[end] - np.median(fin[start:end])) <= wobble:
            end += 1
        return start, end, float(np.median(fin[start:end])), float(
            np.ptp(fin[start:end]))
    return None


def plateau_then_drop_rule(inp):
    """`plateau_then_drop`: flat at the start for several epochs, then a
    sustained drop."""
    name = inp.loss
    if name is None or not np.isfinite(inp.values(name)).all():
        return []
    fin = inp.values(name)
    plateau = _plateau_at_start(fin)
    if plateau is None:
        return []
    start, end, level, span = plateau
    needed = max(PLATEAU_DROP_SPANS * span,
                 PLATEAU_MIN_RELATIVE_DROP * abs(level))
    after = fin[end:]
    below = np.flatnonzero(after < level - needed)
    if not len(below) or after[-1] >= level - needed:
        return []
    drop_index = end + int(below[0])
    drop = level - float(np.min(after))
    drop_epoch = inp.epoch_label(drop_index)
    changes = [c for c in base.lr_changes(inp)
               if abs(c[0] - drop_index) <= 3]
    if changes:
        causes = [(cz.SHOWN, "learning_rate",
                   f"the logged learning rate changed from "
                   f"{fmt(changes[0][1])} to {fmt(changes[0][2])} at epoch "
                   f"{inp.epoch_label(changes[0][0])}, right at the drop: "
                   "the change explains it.")]
    else:
        causes = [
            (cz.LIKELY, "initialization",
             f"the loss sat flat for {end - start} epochs before it found a "
             "way down: a poor start or a saddle."),
            (cz.LIKELY - cz.TIE_BREAK, "learning_rate",
             "a rate too low to leave the plateau quickly (or too high to "
             "settle) gives the same shape."),
        ]
    return [Finding(
        code="plateau_then_drop",
        severity=INFO,
        series=name,
        epoch=drop_epoch,
        message=(f"{name} stayed flat at about {fmt(level)} for "
                 f"{end - start} epochs, then dropped, by "
                 f"{pct(drop / (abs(level) or 1.0))} in all, from epoch "
                 f"{drop_epoch}."),
        evidence={"plateau_epochs": end - start, "drop_epoch": drop_epoch,
                  "plateau_level": level,
                  "relative_drop": drop / (abs(level) or 1.0),
                  "plateau_start_epoch": inp.epoch_label(start)},
        causes=rank_causes(causes),
        suggestion=(
            "Use a learning-rate warm-up or a schedule (e.g. "
            "ReduceLROnPlateau or CurveWatch(lr_control=True)), check the "
            "initialisation and normalisation, and don't stop training "
            "during a plateau too early."),
    )]
