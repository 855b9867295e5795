"""The policy's state and decisions: immutable, JSON-ready values.

This module imports neither keras nor tensorflow.
"""

import math
import types
from typing import NamedTuple

NONE = "none"
REDUCE = "reduce"
RAISE = "raise"
KEEP = "keep"
UNDO = "undo"
ROLLBACK = "rollback"
STOP = "stop"
ACTIONS = (NONE, REDUCE, RAISE, KEEP, UNDO, ROLLBACK, STOP)


class ControlState(NamedTuple):
    """Immutable state of the learning-rate policy (JSON-ready fields).

    Args:
        best, best_epoch, wait: the plateau test: best smoothed monitored
            value that counted as an improvement, its epoch, and epochs
            since.
        cooldown_left: int. Epochs left before another reduction.
        best_loss, best_monitor: best finite training loss and raw
            monitored value, for the rollback triggers.
        n_reductions, n_rollbacks, n_raises, n_undone: counts of changes.
        last_change_epoch: int. Epoch of the last change (-1: none yet).
        stopped: bool. Training was stopped.
        scale: float. The product of every change so far: the rate is
            `scale` times the rate the run would have without control.
        trial_*: the change under verification (`trial_epoch` -1: none):
            its kind (`"cut"` or `"warmup"`), reason, rates, and the
            smoothed level, trend, noise and saw-tooth before it.
        no_cut_until, no_warmup_until: int. A cut (a warm-up) that did not
            help is not tried again before this epoch.
    """

    best: float = math.nan
    best_epoch: int = -1
    wait: int = 0
    cooldown_left: int = 0
    best_loss: float = math.nan
    best_monitor: float = math.nan
    n_reductions: int = 0
    n_rollbacks: int = 0
    last_change_epoch: int = -1
    stopped: bool = False
    scale: float = 1.0
    n_raises: int = 0
    n_undone: int = 0
    trial_epoch: int = -1
    trial_kind: str = ""
    trial_reason: str = ""
    trial_old_lr: float = math.nan
    trial_new_lr: float = math.nan
    trial_level: float = math.nan
    trial_slope: float = 0.0
    trial_noise: float = math.nan
    trial_sawtooth: float = math.nan
    no_cut_until: int = -1
    no_warmup_until: int = -1


class Decision(NamedTuple):
    """What the policy wants done at the end of one epoch.

    Args:
        action: str. One of `ACTIONS`: `"reduce"` (a cut), `"raise"` (a
            warm-up), `"keep"` (a verdict: the change helped), `"undo"` (a
            verdict: the change did not help; the old rate comes back, and
            the weights from the change when `evidence["restore_weights"]`
            is 1), `"rollback"`, `"stop"` or `"none"`.
        old_lr: float. The learning rate seen in the epoch statistics.
        new_lr: float or None. The rate to set; `None` keeps it. When set
            it is finite and at least `min_lr`.
        reason: str. `"plateau"`, `"overcut"`, a finding code, the verdict
            (`"helped"`, `"neutral"`, `"worse"`), or `""`.
        evidence: dict of str to float. The numbers behind the decision.
        message: str. One sentence for the user.
    """

    action: str = NONE
    old_lr: float = math.nan
    new_lr: float = None
    reason: str = ""
    # Read-only: a NamedTuple's default is one object shared by every
    # instance, so it must not be a dict anyone could change.
    evidence: dict = types.MappingProxyType({})
    message: str = ""
