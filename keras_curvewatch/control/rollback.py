"""Rolling back on NaN/inf or an exploded loss, and stopping after
`max_rollbacks`: the part of the policy that does not wait for evidence.

This module imports neither keras nor tensorflow.
"""

import math

from keras_curvewatch.control.types import Decision
from keras_curvewatch.control.types import ROLLBACK
from keras_curvewatch.control.types import STOP

# A training loss 10x above its best finite value has exploded: the same
# ratio as the engine's `rules.training.EXPLODED_RATIO`.
ROLLBACK_LOSS_RATIO = 10.0
# A monitored (validation) loss 3x its best and 6 noise sigmas above it has
# jumped, not drifted: the engine calls +50 % at 6 sigmas a spike, and 3x
# leaves room for slow overfitting, which the plateau test handles.
ROLLBACK_MONITOR_RATIO = 3.0
ROLLBACK_MONITOR_SIGMAS = 6.0


def rollback_trigger(state, stats):
    """`(reason, evidence, why)` when this epoch calls for a rollback
    (NaN/inf, an exploded training loss, a jump of the monitored loss),
    else None."""
    if stats.nonfinite:
        return "nan_loss", {}, "the loss is NaN/inf"
    if (math.isfinite(stats.loss) and math.isfinite(state.best_loss)
            and state.best_loss > 0
            and stats.loss > ROLLBACK_LOSS_RATIO * state.best_loss):
        return ("diverging",
                {"loss": stats.loss, "best_loss": state.best_loss},
                f"the loss exploded to {stats.loss:.3g}, over "
                f"{ROLLBACK_LOSS_RATIO:g}x its best {state.best_loss:.3g}")
    value, best = stats.monitor_value, state.best_monitor
    noise = stats.noise if math.isfinite(stats.noise) else 0.0
    if (math.isfinite(value) and math.isfinite(best) and best > 0
            and value > ROLLBACK_MONITOR_RATIO * best
            and value > best + ROLLBACK_MONITOR_SIGMAS * noise):
        return ("diverging",
                {"monitor_value": value, "best_monitor": best,
                 "noise": noise},
                f"the monitored loss jumped to {value:.3g}, over "
                f"{ROLLBACK_MONITOR_RATIO:g}x its best {best:.3g}")
    return None

def rollback(control, state, stats, reason, evidence, why):
    """The rollback decision (best weights back, rate cut by
    `control.critical`), or a stop after `max_rollbacks` or with rollback
    off; a rollback ends any change under trial."""
    lr = float(stats.learning_rate)
    evidence = dict(evidence, n_rollbacks=float(state.n_rollbacks))
    if not control.rollback or state.n_rollbacks >= control.max_rollbacks:
        limit = ("rollback is off" if not control.rollback else
                 f"after {state.n_rollbacks} rollbacks "
                 f"(max_rollbacks={control.max_rollbacks})")
        message = (f"Epoch {stats.epoch}: {why} {limit}; training "
                   "stopped" + (" at the best weights." if control.rollback
                                else "."))
        return (Decision(STOP, lr, None, reason, evidence, message),
                state._replace(stopped=True))
    new = control.lowered(lr, control.critical)
    state = state._replace(
        wait=0, cooldown_left=control.cooldown,
        n_rollbacks=state.n_rollbacks + 1,
        n_reductions=state.n_reductions + (new is not None),
        last_change_epoch=int(stats.epoch),
        scale=state.scale * new / lr if new else state.scale,
        trial_epoch=-1, trial_kind="", trial_reason="")
    after = (f"learning rate lowered from {lr:.3g} to {new:.3g}"
             if new is not None else f"learning rate kept at {lr:.3g}")
    message = (f"Epoch {stats.epoch}: {why}; rolled back to the best "
               f"weights and optimizer state, {after}.")
    return Decision(ROLLBACK, lr, new, reason, evidence, message), state
