"""Rules on per-batch training losses: a loss that repeats every epoch."""

import math

from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import INFO
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.findings import rank_causes
from keras_curvewatch.engine.format import fmt
from keras_curvewatch.engine.format import pct
from keras_curvewatch.engine.rules import causes as cz

# The in-epoch position must explain the batch loss at p < 0.001 (one-way
# ANOVA over positions); with thousands of batches anything weaker is
# routinely reached by chance structure.
UNSHUFFLED_P_VALUE = 1e-3
# ...and explain at least 30 % more of the detrended variance than chance
# would (chance share: (steps - 1) / (n_epochs * steps - 1)).
UNSHUFFLED_MIN_EXCESS_R2 = 0.30
# A mean in-epoch profile whose neighbours correlate above 0.5 is a smooth
# saw-tooth (class blocks); a repeated random order gives about 0.
SAWTOOTH_MIN_LAG1 = 0.5
# The lag-1 correlation of `steps` random points has a standard error of
# about 1/sqrt(steps): short epochs also need 2.5 of those (10 steps: 0.79).
SAWTOOTH_LAG1_STANDARD_ERRORS = 2.5
# A saw-tooth whose range exceeds half the mean loss dominates learning.
SAWTOOTH_CRITICAL_AMPLITUDE = 0.5


def unshuffled_data_rule(inp):
    """`unshuffled_data`: the batch loss repeats with period
    `steps_per_epoch`; tells class-sorted data from a repeated order."""
    period = inp.batch.get("periodicity") or {}
    if not period:
        return []
    steps = inp.batch.get("steps_per_epoch")
    n_epochs = period["n_epochs"]
    chance = (steps - 1) / (n_epochs * steps - 1)
    excess = (period["r2"] - chance) / (1.0 - chance)
    if period["p_value"] >= UNSHUFFLED_P_VALUE or excess < (
        UNSHUFFLED_MIN_EXCESS_R2
    ):
        return []
    evidence = dict(period)
    evidence["excess_r2"] = excess
    evidence["steps_per_epoch"] = steps
    min_lag1 = max(SAWTOOTH_MIN_LAG1,
                   SAWTOOTH_LAG1_STANDARD_ERRORS / math.sqrt(steps))
    sawtooth = period["profile_lag1"] >= min_lag1
    verdict = _sawtooth_verdict if sawtooth else _fixed_order_verdict
    severity, message, causes, suggestion = verdict(period, steps)
    return [Finding(
        code="unshuffled_data",
        severity=severity,
        series="loss",
        message=message,
        evidence=evidence,
        causes=rank_causes(causes),
        suggestion=suggestion,
    )]


def _sawtooth_verdict(period, steps):
    """`(severity, message, causes, suggestion)` for data sorted in blocks:
    a smooth in-epoch profile."""
    severity = (CRITICAL if period["profile_amplitude"]
                >= SAWTOOTH_CRITICAL_AMPLITUDE else WARNING)
    message = (
        f"The batch loss follows a saw-tooth that repeats every {steps} "
        f"batches (one epoch): the in-epoch position explains "
        f"{pct(period['r2'])} of its variance and neighbouring "
        "batches move together. The data is ordered (e.g. sorted by "
        "class) and not shuffled, so each epoch ends fitting the last "
        "block."
    )
    causes = [(cz.SHOWN, "data_shuffling",
               f"the in-epoch profile is smooth (lag-1 correlation "
               f"{fmt(period['profile_lag1'], 2)}): consecutive batches "
               "hold similar samples.")]
    suggestion = (
        "Shuffle the data: fit(..., shuffle=True), or "
        "dataset.shuffle(buffer_size>=n_train, "
        "reshuffle_each_iteration=True). Shuffle before "
        "validation_split too: it takes the last samples."
    )
    return severity, message, causes, suggestion


def _fixed_order_verdict(period, steps):
    """`(severity, message, causes, suggestion)` for batches that repeat
    one order every epoch without a saw-tooth."""
    severity = INFO
    message = (
        f"The batch loss repeats every {steps} batches (consecutive "
        f"epochs correlate at {fmt(period['cross_epoch_corr'], 2)}) "
        "without a saw-tooth: the batches come in the same order every "
        "epoch. That is shuffle=False, or a fixed seed: after "
        "keras.utils.set_random_seed, fit(shuffle=True) on arrays "
        "repeats one order."
    )
    causes = [(cz.LIKELY, "data_shuffling",
               "the per-batch losses repeat across epochs while the "
               "in-epoch profile looks random (lag-1 correlation "
               f"{fmt(period['profile_lag1'], 2)}), so the order is "
               "fixed but not sorted.")]
    suggestion = (
        "Usually harmless. For a fresh order every epoch, feed a "
        "tf.data.Dataset with .shuffle(..., "
        "reshuffle_each_iteration=True) or do not fix the seed."
    )
    return severity, message, causes, suggestion
