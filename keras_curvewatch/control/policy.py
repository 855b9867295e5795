"""Learning-rate control policy: a pure function over an immutable state.

`LRControl.propose(state, epoch_stats)` returns `(Decision, new_state)`, in
the optax style. Its input, `EpochStats`, comes from
`keras_curvewatch.control.inputs`; applying a decision to a model is the
job of `keras_curvewatch.control.apply` and `keras_curvewatch.control.controller`.
This module imports neither keras nor tensorflow.
"""

import dataclasses
import math
from typing import NamedTuple

from keras_curvewatch.errors import ConfigError

# Findings that mean "steps too large" when the engine ranks the learning
# rate as their most likely cause (issue 4).
LR_FINDINGS = ("train_oscillation", "diverging", "loss_spike")
# An improvement counts only if the smoothed monitored curve drops by more
# than this many noise sigmas (the engine's `SeriesStats.noise`). Measured
# on 20 seeds of a curve falling by sigma/4 per epoch and of a plateau: 0.5
# lowers the rate on the falling curve less often than ReduceLROnPlateau's
# raw test (19 vs 25 times) and finds 19 of 20 plateaus within 22 epochs;
# 1.0 lowers it more often (35), as the smoothed end point carries ~0.7
# sigma of noise.
NOISE_BAND_SIGMAS = 0.5
# A smoothed level this many noise sigmas above the best is moving away
# from it, not resting on a plateau: such epochs count double towards
# patience. The level (0.7 sigma of noise at the end point) minus the
# revised reference (about 0.5) has a spread near 0.9 sigma, so 2 sigmas
# is crossed by noise alone in about 1.5 % of epochs.
RISING_NOISE_SIGMAS = 2.0
# A training loss 10x above its best finite value has exploded: the same
# ratio as the engine's `rules.training.EXPLODED_RATIO`.
ROLLBACK_LOSS_RATIO = 10.0
# A monitored (validation) loss 3x its best and 6 noise sigmas above it has
# jumped, not drifted: the engine calls +50 % at 6 sigmas a spike, and 3x
# leaves room for slow overfitting, which the plateau test handles.
ROLLBACK_MONITOR_RATIO = 3.0
ROLLBACK_MONITOR_SIGMAS = 6.0
# A finding rated critical (e.g. train_oscillation with 20 % noise, an
# exploded divergence) and a rollback lower the rate by factor**2: halving
# twice is what ReduceLROnPlateau(0.5, patience=5) needs ten epochs for.
CRITICAL_FACTOR_POWER = 2

NONE = "none"
REDUCE = "reduce"
ROLLBACK = "rollback"
STOP = "stop"
ACTIONS = (NONE, REDUCE, ROLLBACK, STOP)


class ControlState(NamedTuple):
    """Immutable state of the learning-rate policy.

    Args:
        best: float. Best smoothed monitored value that counted as an
            improvement (NaN before the first one).
        best_epoch: int. The epoch of `best` (-1 before the first one).
        wait: int. Epochs since the last improvement.
        cooldown_left: int. Epochs left before another reduction.
        best_loss: float. Best finite training loss so far.
        best_monitor: float. Best finite raw monitored value so far.
        n_reductions: int. Reductions made so far.
        n_rollbacks: int. Rollbacks made so far.
        last_change_epoch: int. Epoch of the last change (-1: none yet).
        stopped: bool. Training was stopped.
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


class Decision(NamedTuple):
    """What the policy wants done at the end of one epoch.

    Args:
        action: str. `"none"`, `"reduce"`, `"rollback"` or `"stop"`.
        old_lr: float. The learning rate seen in the epoch statistics.
        new_lr: float or None. The rate to set; `None` keeps it. When set it
            is finite, at least `min_lr` and below `old_lr`.
        reason: str. `"plateau"`, a finding code, or `""`.
        evidence: dict of str to float. The numbers behind the decision.
        message: str. One sentence for the user.
    """

    action: str = NONE
    old_lr: float = math.nan
    new_lr: float = None
    reason: str = ""
    evidence: dict = {}
    message: str = ""


@dataclasses.dataclass(frozen=True)
class LRControl:
    """Settings of the live learning-rate control.

    Lowers the rate when the engine ranks it as the cause of oscillation,
    divergence or spikes, and on a plateau that is beyond the validation
    noise; rolls back to the best weights on NaN/inf or an exploded loss.

    Args:
        factor: float. Multiplies the rate at each reduction, in (0, 1).
            Defaults to `0.5`.
        patience: int. Epochs without an improvement beyond the noise band
            before a plateau reduction. Defaults to `5`.
        cooldown: int. Epochs after a change before the next reduction.
            Defaults to `0`, as in `ReduceLROnPlateau`: the findings wait
            anyway for five epochs of evidence at the new rate.
        min_lr: float. The rate is never set below it. Defaults to `1e-6`.
        rollback: bool. Keep the best weights and optimizer state on the
            host and restore them on NaN/inf or an exploded loss; turn off
            for huge models. Defaults to `True`.
        max_rollbacks: int. Rollbacks before training stops. Defaults to
            `3`.
        monitor: str. Curve for the plateau test. Defaults to `"val_loss"`
            (`"loss"` when there is no validation).
        min_delta: float. Smallest improvement that counts, besides the
            noise band. Defaults to `0.0`.

    Raises:
        ConfigError: if an argument is out of range.

    Example:

    ```python
    control = LRControl(factor=0.5, min_lr=1e-6)
    state = control.init()
    decision, state = control.propose(state, epoch_stats)
    ```
    """

    factor: float = 0.5
    patience: int = 5
    cooldown: int = 0
    min_lr: float = 1e-6
    rollback: bool = True
    max_rollbacks: int = 3
    monitor: str = "val_loss"
    min_delta: float = 0.0

    def __post_init__(self):
        def number(name, value):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(
                    f"LRControl {name} must be a number. Received "
                    f"{name}={value!r}.")
            return float(value)

        factor = number("factor", self.factor)
        if not factor < 1.0:
            raise ConfigError(
                "LRControl does not support factor >= 1.0. Received "
                f"factor={self.factor!r}. Use a factor in (0, 1), e.g. 0.5.")
        if not factor > 0.0:
            raise ConfigError(
                "LRControl factor must be in the range (0, 1). Received "
                f"factor={self.factor!r}.")
        min_lr = number("min_lr", self.min_lr)
        if not (math.isfinite(min_lr) and min_lr > 0.0):
            raise ConfigError(
                "LRControl min_lr must be a finite number > 0. Received "
                f"min_lr={self.min_lr!r}.")
        for name in ("patience", "cooldown", "max_rollbacks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or (
                    value < 0):
                raise ConfigError(
                    f"LRControl {name} must be an int >= 0. Received "
                    f"{name}={value!r}.")
        if not isinstance(self.rollback, bool):
            raise ConfigError(
                "LRControl rollback must be True or False. Received "
                f"rollback={self.rollback!r}.")
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ConfigError(
                "LRControl monitor must be a curve name such as 'val_loss'. "
                f"Received monitor={self.monitor!r}.")
        min_delta = number("min_delta", self.min_delta)
        if not (math.isfinite(min_delta) and min_delta >= 0.0):
            raise ConfigError(
                "LRControl min_delta must be a finite number >= 0. Received "
                f"min_delta={self.min_delta!r}.")
        object.__setattr__(self, "factor", factor)
        object.__setattr__(self, "min_lr", min_lr)
        object.__setattr__(self, "min_delta", min_delta)

    def get_config(self):
        """Returns the settings as a dict; `LRControl(**config)` reverses
        it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def init(self):
        """Returns the initial `ControlState`."""
        return ControlState()

    def lowered(self, lr, power=1):
        """The rate after `power` reductions from `lr`, or None if it cannot
        go lower (at `min_lr`, or `lr` not finite and positive)."""
        if not (math.isfinite(lr) and lr > self.min_lr):
            return None
        new = max(lr * self.factor ** power, self.min_lr)
        return new if math.isfinite(new) and 0.0 < new < lr else None

    def propose(self, state, stats):
        """Decides what to do at the end of one epoch.

        Args:
            state: `ControlState`.
            stats: `EpochStats`.

        Returns:
            `(Decision, ControlState)`. `state` itself is not modified.
        """
        lr = float(stats.learning_rate)
        if state.stopped:
            return Decision(old_lr=lr), state
        trigger = self._rollback_trigger(state, stats)
        if trigger is not None:
            return self._rollback(state, stats, *trigger)
        best_loss, best_monitor = state.best_loss, state.best_monitor
        if math.isfinite(stats.loss) and not stats.loss >= best_loss:
            best_loss = float(stats.loss)
        if (math.isfinite(stats.monitor_value)
                and not stats.monitor_value >= best_monitor):
            best_monitor = float(stats.monitor_value)
        best, best_epoch, wait = state.best, state.best_epoch, state.wait
        # The smoother revises past points as data comes in; the revised
        # value at the best epoch is a fairer reference than a lucky low.
        revised = dict(stats.smoothed).get(best_epoch, math.nan)
        if math.isfinite(revised):
            best = revised
        band = self.min_delta
        if math.isfinite(stats.noise):
            band = max(band, NOISE_BAND_SIGMAS * stats.noise)
        evidence = {"level": stats.level, "best": best, "noise_band": band}
        if math.isfinite(stats.level):
            if not math.isfinite(best) or stats.level < best - band:
                best, best_epoch, wait = float(stats.level), stats.epoch, 0
            elif (math.isfinite(stats.noise) and stats.level
                  > best + RISING_NOISE_SIGMAS * stats.noise):
                wait += 2
            else:
                wait += 1
        cooling = state.cooldown_left > 0
        state = state._replace(
            best=best, best_epoch=int(best_epoch),
            wait=0 if cooling else wait, best_loss=best_loss,
            best_monitor=best_monitor,
            cooldown_left=max(state.cooldown_left - 1, 0))
        if cooling:
            return Decision(old_lr=lr), state
        for code, severity, cause in stats.findings:
            if code in LR_FINDINGS and cause == "learning_rate":
                power = CRITICAL_FACTOR_POWER if severity == "critical" else 1
                new = self.lowered(lr, power)
                if new is not None:
                    return self._reduce(
                        state, stats, new, code, evidence,
                        f"{code} with the learning rate as its most likely "
                        "cause")
        if state.wait >= self.patience:
            new = self.lowered(lr)
            if new is not None:
                evidence["epochs_without_improvement"] = float(state.wait)
                return self._reduce(
                    state, stats, new, "plateau", evidence,
                    f"no improvement beyond the noise band ({band:.3g}) for "
                    f"{state.wait} epochs")
        return Decision(old_lr=lr, evidence=evidence), state

    def _reduce(self, state, stats, new, reason, evidence, why):
        lr = float(stats.learning_rate)
        state = state._replace(
            wait=0, cooldown_left=self.cooldown,
            n_reductions=state.n_reductions + 1,
            last_change_epoch=int(stats.epoch))
        message = (f"Epoch {stats.epoch}: {why}; learning rate lowered from "
                   f"{lr:.3g} to {new:.3g}.")
        return Decision(REDUCE, lr, new, reason, evidence, message), state

    def _rollback_trigger(self, state, stats):
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

    def _rollback(self, state, stats, reason, evidence, why):
        lr = float(stats.learning_rate)
        evidence = dict(evidence, n_rollbacks=float(state.n_rollbacks))
        if not self.rollback or state.n_rollbacks >= self.max_rollbacks:
            limit = ("rollback is off" if not self.rollback else
                     f"after {state.n_rollbacks} rollbacks "
                     f"(max_rollbacks={self.max_rollbacks})")
            message = (f"Epoch {stats.epoch}: {why} {limit}; training "
                       "stopped" + (" at the best weights." if self.rollback
                                    else "."))
            return (Decision(STOP, lr, None, reason, evidence, message),
                    state._replace(stopped=True))
        new = self.lowered(lr, CRITICAL_FACTOR_POWER)
        state = state._replace(
            wait=0, cooldown_left=self.cooldown,
            n_rollbacks=state.n_rollbacks + 1,
            n_reductions=state.n_reductions + (new is not None),
            last_change_epoch=int(stats.epoch))
        after = (f"learning rate lowered from {lr:.3g} to {new:.3g}"
                 if new is not None else f"learning rate kept at {lr:.3g}")
        message = (f"Epoch {stats.epoch}: {why}; rolled back to the best "
                   f"weights and optimizer state, {after}.")
        return Decision(ROLLBACK, lr, new, reason, evidence, message), state
