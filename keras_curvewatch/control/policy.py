"""Learning-rate control policy: a pure function over an immutable state.

`LRControl.propose(state, epoch_stats) -> (Decision, new_state)`, in the
optax style. Its input, `EpochStats`, comes from
`keras_curvewatch.control.inputs`; the reading of the engine's causes is in
`keras_curvewatch.control.evidence`, the check of each change in
`keras_curvewatch.control.verify`, rollbacks in
`keras_curvewatch.control.rollback`; applying a decision to a model is the job
of `keras_curvewatch.control.apply` and `keras_curvewatch.control.controller`.
This module imports neither keras nor tensorflow.
"""

import dataclasses
import math

from keras_curvewatch.control import evidence as ev
from keras_curvewatch.control import verify
from keras_curvewatch.control.config import check_config
from keras_curvewatch.control.evidence import LR_FINDINGS  # noqa: F401
from keras_curvewatch.control.rollback import ROLLBACK_LOSS_RATIO  # noqa
from keras_curvewatch.control.rollback import ROLLBACK_MONITOR_RATIO  # noqa
from keras_curvewatch.control.rollback import ROLLBACK_MONITOR_SIGMAS  # noqa
from keras_curvewatch.control.rollback import rollback
from keras_curvewatch.control.rollback import rollback_trigger
from keras_curvewatch.control.types import ControlState  # noqa: F401
from keras_curvewatch.control.types import Decision
from keras_curvewatch.control.types import KEEP
from keras_curvewatch.control.types import NONE  # noqa: F401
from keras_curvewatch.control.types import RAISE
from keras_curvewatch.control.types import REDUCE
from keras_curvewatch.control.types import ROLLBACK  # noqa: F401
from keras_curvewatch.control.types import STOP  # noqa: F401
from keras_curvewatch.control.types import UNDO

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

@dataclasses.dataclass(frozen=True)
class LRControl:
    """Settings of the live learning-rate control.

    Cuts the rate only on evidence that the rate is the cause: oscillation,
    a climb or spikes that the engine ranks the learning rate first for, or
    a plateau beyond the noise band while no finding blames the batch, the
    validation set or the classes for the noise. Every cut and warm-up is
    verified: after `verify_epochs` the mean monitored value is compared
    with the trend projected from before the change; the change is kept
    only if the curve ran below the projection beyond the noise band (or,
    for a cut on oscillation or spikes, the saw-tooth shrank). Otherwise the
    old rate comes back, the weights from the change too if they got worse,
    and the same move waits `retry_after` epochs. After a cut, a slow
    straight decline far above the noise is an over-cut: the rate goes back
    up one step. NaN/inf or an exploded loss roll back to the best weights.

    Args:
        factor: float. Multiplies the rate at each cut, in (0, 1); a
            warm-up divides by it. Defaults to `0.5`.
        critical_factor: float or None. Multiplies the rate on a critical
            finding (e.g. oscillation at 20 % noise) and on a rollback.
            Defaults to `None`: `factor ** 2`, two cuts at once (0.5 takes
            0.05 to 0.0125).
        patience: int. Epochs without an improvement beyond the noise band
            before a plateau cut. Defaults to `5`.
        cooldown: int. Epochs after a change before the next cut. Defaults
            to `0`: a change is verified for `verify_epochs` anyway.
        min_lr: float. The rate is never set below it. Defaults to `1e-6`.
        max_lr: float or None. A warm-up never sets the rate above it.
            Defaults to `None`: never above the rate without control (the
            starting rate, or the schedule's own value).
        verify_epochs: int >= 1. Epochs after a cut or warm-up before its
            verdict. Defaults to `3`.
        retry_after: int. Epochs before a move that did not help is tried
            again. Defaults to `10`.
        warmup: bool. Raise the rate again after an over-cut. Defaults to
            `True`.
        rollback: bool. Keep the best weights and optimizer state on the
            host and restore them on NaN/inf or an exploded loss; turn off
            for huge models (an undo then keeps the weights). Defaults to
            `True`.
        max_rollbacks: int. Rollbacks before training stops. Defaults to
            `3`.
        monitor: str. The curve judged. Defaults to `"val_loss"` (`"loss"`
            when there is no validation).
        min_delta: float. Smallest change that counts, besides the noise
            band. Defaults to `0.0`.

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
    critical_factor: float = None
    max_lr: float = None
    verify_epochs: int = 3
    retry_after: int = 10
    warmup: bool = True

    def __post_init__(self):
        for name, value in check_config(self).items():
            object.__setattr__(self, name, value)

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

    @property
    def critical(self):
        """The factor used on critical findings and rollbacks."""
        return (self.factor ** 2 if self.critical_factor is None
                else self.critical_factor)

    def lowered(self, lr, factor=None):
        """The rate after a cut by `factor` (default `self.factor`) from
        `lr`, or None if it cannot go lower."""
        if not (math.isfinite(lr) and lr > self.min_lr):
            return None
        new = max(lr * (self.factor if factor is None else factor),
                  self.min_lr)
        return new if math.isfinite(new) and 0.0 < new < lr else None

    def raised(self, lr, scale):
        """The rate one warm-up step above `lr`, within `max_lr` (default:
        the rate without control, `lr / scale`), or None."""
        if not (math.isfinite(lr) and lr > 0 and scale > 0):
            return None
        top = lr / scale if self.max_lr is None else self.max_lr
        new = min(lr / self.factor, top)
        return new if math.isfinite(new) and new > lr * (1 + 1e-6) else None

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
        trigger = rollback_trigger(state, stats)
        if trigger is not None:
            return rollback(self, state, stats, *trigger)
        state, evidence = self._track(state, stats)
        if state.trial_epoch >= 0:
            if stats.epoch < state.trial_epoch + self.verify_epochs:
                return Decision(old_lr=lr, evidence=evidence), state
            return self._verdict(state, stats)
        if state.cooldown_left > 0:
            return Decision(old_lr=lr), state._replace(
                wait=0, cooldown_left=state.cooldown_left - 1)
        findings = [ev.view(f) for f in stats.findings]
        may_cut = stats.epoch >= state.no_cut_until
        for finding in ev.rate_findings(findings) if may_cut else ():
            critical = finding.severity == "critical"
            new = self.lowered(lr, self.critical if critical else None)
            if new is not None:
                return self._change(
                    state, stats, "cut", new, finding.code, evidence,
                    f"{finding.code} with the learning rate as its most "
                    "likely cause" + (" (critical: cut by "
                                      f"{self.critical:.3g})"
                                      if critical else ""))
        # A level far above the best is signal, whatever the noise's
        # source; a flat stretch inside the band is noise when a finding
        # blames the batch, the validation set or the classes for it.
        rising = evidence["level"] > evidence["best"] + (
            RISING_NOISE_SIGMAS * stats.noise)
        noisy = ev.batch_noise(findings) if not rising else None
        if state.wait >= self.patience and noisy is not None:
            evidence["held_back_by_batch_noise"] = 1.0
        elif state.wait >= self.patience and may_cut:
            new = self.lowered(lr)
            if new is not None:
                evidence["epochs_without_improvement"] = float(state.wait)
                return self._change(
                    state, stats, "cut", new, "plateau", evidence,
                    "no improvement beyond the noise band "
                    f"({evidence['noise_band']:.3g}) for {state.wait} "
                    "epochs")
        if self.warmup and stats.epoch >= state.no_warmup_until:
            slow = verify.overcut(state, stats)
            new = self.raised(lr, state.scale) if slow else None
            if new is not None:
                return self._change(
                    state, stats, "warmup", new, "overcut",
                    dict(evidence, **slow),
                    f"a straight decline of {slow['fall']:.3g} over "
                    f"{verify.TREND_WINDOW} epochs, "
                    f"{slow['fall_in_noise_sigmas']:.1f} noise sigmas: the "
                    "last cut went too far")
        return Decision(old_lr=lr, evidence=evidence), state

    def _track(self, state, stats):
        """Updates the bests and the plateau wait."""
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
        return state._replace(best=best, best_epoch=int(best_epoch),
                              wait=wait, best_loss=best_loss,
                              best_monitor=best_monitor), evidence

    def _change(self, state, stats, kind, new, reason, evidence, why):
        """A cut or a warm-up, put on trial."""
        lr = float(stats.learning_rate)
        level, slope = verify.baseline(stats, state.last_change_epoch)
        before = verify.sawtooth(stats.losses,
                                 stats.epoch - verify.TREND_WINDOW,
                                 stats.epoch)
        evidence = dict(evidence, level_at_change=level,
                        slope_before=slope)
        cut = kind == "cut"
        state = state._replace(
            wait=0, cooldown_left=self.cooldown if cut else 0,
            n_reductions=state.n_reductions + cut,
            n_raises=state.n_raises + (not cut),
            last_change_epoch=int(stats.epoch), scale=state.scale * new / lr,
            trial_epoch=int(stats.epoch), trial_kind=kind,
            trial_reason=reason, trial_old_lr=lr, trial_new_lr=float(new),
            trial_level=level, trial_slope=slope,
            trial_noise=float(stats.noise), trial_sawtooth=before)
        verb = "lowered" if cut else "raised"
        message = (f"Epoch {stats.epoch}: {why}; learning rate {verb} from "
                   f"{lr:.3g} to {new:.3g}, to be checked after "
                   f"{self.verify_epochs} epochs.")
        action = REDUCE if cut else RAISE
        return Decision(action, lr, new, reason, evidence, message), state

    def _verdict(self, state, stats):
        lr = float(stats.learning_rate)
        verdict, numbers = verify.judge(state, stats, self.min_delta)
        numbers.update(change_epoch=float(state.trial_epoch),
                       old_lr=state.trial_old_lr, new_lr=state.trial_new_lr)
        kind = "cut" if state.trial_kind == "cut" else "warm-up"
        cleared = state._replace(trial_epoch=-1, trial_kind="",
                                 trial_reason="")
        summary = (f"mean {numbers.get('mean_since', math.nan):.4g} since "
                   f"epoch {state.trial_epoch} against "
                   f"{numbers.get('projected', math.nan):.4g} projected")
        if verdict == "helped":
            message = (f"Epoch {stats.epoch}: the {kind} at epoch "
                       f"{state.trial_epoch} helped ({summary}); kept.")
            return Decision(KEEP, lr, None, verdict, numbers,
                            message), cleared
        new = lr * state.trial_old_lr / state.trial_new_lr
        if not (math.isfinite(new) and new > 0):
            return Decision(old_lr=lr, evidence=numbers), cleared
        new = max(new, self.min_lr)
        restore = verdict == "worse" and self.rollback
        numbers["restore_weights"] = float(restore)
        ban = stats.epoch + self.retry_after
        state = cleared._replace(
            wait=0, last_change_epoch=int(stats.epoch),
            n_undone=state.n_undone + 1,
            scale=state.scale * new / lr,
            **({"no_cut_until": ban} if kind == "cut"
               else {"no_warmup_until": ban}))
        message = (f"Epoch {stats.epoch}: the {kind} at epoch "
                   f"{numbers['change_epoch']:.0f} did not help "
                   f"({summary}); learning rate set back to {new:.3g}"
                   + (" and the weights from before it restored"
                      if restore else "")
                   + f"; not tried again before epoch {ban}.")
        return Decision(UNDO, lr, new, verdict, numbers, message), state
