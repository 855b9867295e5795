"""`loss_spike`: one or a few isolated jumps in `loss` or `val_loss`,
several times the usual epoch-to-epoch change, after which the curve
returns to its level (LABELLING.md)."""

import math

from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules import base
from keras_curvewatch.engine.rules import causes as cz
from keras_curvewatch.engine.rules import shape
from keras_curvewatch.engine.rules.base import fmt
from keras_curvewatch.engine.rules.base import rank_causes

# Spikes (LABELLING.md: "isolated jumps ... several times the usual
# epoch-to-epoch change, after which the curve returns"): at least 1.5x
# the epochs around it, 3.5 times the median epoch-to-epoch change (log
# scale), and 15 % of the plot's height (what a person points at; a jump
# from 0.015 to 0.05 at the floor of a curve that fell from 2.3 is 1.5 %).
SPIKE_MIN_LOG_JUMP = math.log(1.5)
SPIKE_USUAL_MULTIPLE = 3.5
SPIKE_MIN_SHARE_OF_RANGE = 0.15
# A jump at the last epoch cannot be seen to come back: it must be 1.75x
# the epochs before it (half again the 1.5x of a spike that came back) to
# be told from the start of a climb (tune sets of bench/real_logs.py and
# bench/labelled_fits.py: 1.81x on a collapse, 1.53x on a climb).
SPIKE_LAST_MIN_LOG_JUMP = math.log(1.75)

# A bump wider than two epochs counts as one jump when it spans at most a
# twentieth of the run (5 % of the plot's width, what reads as a spike on
# a plot of the whole run): only runs of 60 epochs or more have such.
HUMP_MAX_SHARE_OF_RUN = 1.0 / 20.0
# It climbs over several moves, each of which may be a usual one, so its
# whole climb must be twice a one-epoch spike's multiple of the usual move.
HUMP_USUAL_MULTIPLE = 2 * SPIKE_USUAL_MULTIPLE


def _spikes(values):
    """`(indices, worst)` of the jumps that count as spikes (see
    `SPIKE_*`), worst as `(index, ratio, multiple_of_usual)`."""
    hits, worst = [], None
    last = len(values) - 1
    # A jump of one or two epochs against the usual move; a bump, or a
    # jump with a slow recovery, spans more moves (HUMP_USUAL_MULTIPLE).
    candidates = sorted(
        [c + (SPIKE_USUAL_MULTIPLE,)
         for c in shape.jumps(values, SPIKE_MIN_LOG_JUMP)]
        + [c + (HUMP_USUAL_MULTIPLE,) for c in shape.humps(
            values, int(len(values) * HUMP_MAX_SHARE_OF_RUN))
           + shape.recoveries(values, SPIKE_MIN_LOG_JUMP)])
    for index, width, jump, usual, share, usual_multiple in candidates:
        multiple = jump / usual if usual > 0 else float("inf")
        least = SPIKE_LAST_MIN_LOG_JUMP if index == last else (
            SPIKE_MIN_LOG_JUMP)
        if (jump >= least and multiple >= usual_multiple
                and share >= SPIKE_MIN_SHARE_OF_RANGE):
            if hits and index - hits[-1] <= max(2, width):
                continue  # the same bump, seen by jumps and by humps
            hits.append(index)
            if worst is None or jump > math.log(worst[1]):
                worst = (index, math.exp(jump), multiple)
    return hits, worst


def loss_spike_rule(inp):
    """`loss_spike`: one or a few isolated jumps of one or two epochs,
    several times the usual epoch-to-epoch change and visible on a plot of
    the curve, after which the curve returns to its level."""
    out = []
    for name in (inp.loss, inp.val_loss):
        if name is None or name not in inp.series:
            continue
        values = inp.values(name)
        hits, worst = _spikes(values)
        if not hits:
            continue
        epochs = [inp.epoch_label(i) for i in hits]
        first = hits[0]
        lr_high = base.lr_is_high(inp)
        causes = [
            (cz.STRONG + cz.NUDGE if lr_high else cz.LIKELY + cz.NUDGE,
             "learning_rate",
             f"{name} jumped to {fmt(values[first])} at epoch {epochs[0]}: "
             "one oversized step." + (f" {base.lr_sentence(inp)} is high."
                                      if lr_high else "")),
            (base.batch_cause_score(inp, small=cz.LIKELY,
                                    medium=cz.POSSIBLE - cz.TIE_BREAK),
             "batch_size",
             "small batches occasionally produce extreme gradients."),
            (cz.POSSIBLE + cz.TIE_BREAK, "data_quality",
             "a few outliers or mislabelled samples can cause isolated "
             "jumps."),
        ]
        if name == inp.val_loss:
            causes.append((cz.UNLIKELY, "validation_size",
                           "a small validation set magnifies single "
                           "mistakes."))
        out.append(Finding(
            code="loss_spike",
            severity=WARNING,
            series=name,
            epoch=epochs[0],
            message=(
                f"{name} spiked at epoch{'s' if len(epochs) > 1 else ''} "
                f"{', '.join(str(e) for e in epochs[:5])}: up to "
                f"{fmt(worst[1], 2)}x the epochs around it, "
                f"{fmt(worst[2], 2)}x its usual epoch-to-epoch change, "
                "then back to its level."
            ),
            evidence={"n_spikes": len(hits), "max_jump_ratio": worst[1],
                      "max_jump_in_usual_changes": worst[2],
                      "first_spike_value": float(values[first])},
            causes=rank_causes(causes),
            suggestion=base.lower_lr_advice(
                inp, name,
                "Lower the learning rate or add gradient clipping "
                "(clipnorm=1.0); look for outliers in the data.",
                "add gradient clipping (clipnorm=1.0) and look for "
                "outliers in the data."),
        ))
    return out
