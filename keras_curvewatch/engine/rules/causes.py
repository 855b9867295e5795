"""The one scale on which every rule scores a finding's candidate causes.

A finding lists its causes best first (`base.rank_causes`). Scores are
only compared within one finding, but all rules use these levels so that
"likely" means the same everywhere and a reader can audit the ranking.

Levels (what the evidence says about the cause):
"""

# The log or the context shows it directly: a logged rate change at the
# very epoch of the event, a batch order repeated every epoch.
SHOWN = 4.0
# The context confirms it: the rate is known to be high, the batch known
# to be tiny, parameters per sample above the warning level.
STRONG = 3.0
# The usual cause of this shape when nothing else is known.
LIKELY = 2.0
# A known cause of this shape, but less common than the likely ones.
POSSIBLE = 1.0
# Worth a mention: the evidence points elsewhere.
UNLIKELY = 0.5
# Named for completeness only: below every other level.
MARGINAL = UNLIKELY / 2
# The context argues against it; such a cause is dropped from the list.
RULED_OUT = 0.0

# Adjustments, added to a level when a secondary signal agrees (or taken
# away when it disagrees). A nudge reorders two causes at the same level
# without lifting either to the next one.
NUDGE = 0.5
# Half a nudge: breaks a tie by the prior alone (e.g. among the likely
# causes of oscillation, the step size is more often the culprit than
# the batch when the batch size is unknown).
TIE_BREAK = 0.25
# A cause that only adds to a finding without producing it on its own
# (capacity for noisy curves) scores this share of its level.
SECONDARY = 0.5


def batch_size_score(batch_size, small_batch_max, large_batch_min,
                     small=STRONG, medium=POSSIBLE, large=MARGINAL):
    """Score of `batch_size` as a cause of noise.

    Args:
        batch_size: int or None.
        small_batch_max: int. Batches up to this size are small.
        large_batch_min: int. Batches of at least this size average out
            sampling noise.
        small, medium, large: float. The score of each band. Defaults to
            `STRONG`, `POSSIBLE` and a quarter point: a large batch
            practically rules the batch out.

    Returns:
        float; `UNLIKELY` when the batch size is unknown.
    """
    if batch_size is None:
        return UNLIKELY
    if batch_size <= small_batch_max:
        return small
    if batch_size < large_batch_min:
        return medium
    return large


def capacity_level(params_per_sample, warn, info):
    """Score of `model_capacity` from parameters per training sample.

    Args:
        params_per_sample: float or None.
        warn: float. The `overparameterized` warning threshold.
        info: float. Its info threshold.

    Returns:
        `STRONG` at or above `warn`, between `POSSIBLE` and `LIKELY`
        (1.5) at or above `info`, `MARGINAL` below, and
        `RULED_OUT` when unknown (the rule then uses its own prior).
    """
    if params_per_sample is None:
        return RULED_OUT
    if params_per_sample >= warn:
        return STRONG
    if params_per_sample >= info:
        return POSSIBLE + NUDGE
    return MARGINAL
