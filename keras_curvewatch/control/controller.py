"""`LRController`: applies the `LRControl` policy to a model at each epoch
end. `CurveWatch(lr_control=...)` drives it; it holds the policy state, the
host snapshots for rollback and undo, the actions taken and its own
findings.

It never runs the diagnosis itself: the caller passes the engine's report
on the run so far and, when `segment_since()` asks for one, its report on
the epochs after the last change (`inputs.segment_curves` builds its
input).
"""

import math
import os

from keras_curvewatch.control import apply as lr_apply
from keras_curvewatch.control.inputs import epoch_stats_from_report
from keras_curvewatch.control.policy import ControlState
from keras_curvewatch.control.policy import LRControl
from keras_curvewatch.control.policy import NONE
from keras_curvewatch.control.policy import RAISE
from keras_curvewatch.control.policy import REDUCE
from keras_curvewatch.control.policy import ROLLBACK
from keras_curvewatch.control.policy import STOP
from keras_curvewatch.control.policy import UNDO
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float
from keras_curvewatch.engine.report import Report
from keras_curvewatch.errors import ConfigError

# After a change the findings are taken from the epochs since it only, once
# there are enough of them for the engine's noise estimate
# (`stats.MIN_POINTS_NOISE`): the old rate's oscillation must not lower the
# new rate again.
MIN_SEGMENT_EPOCHS = 5


def as_control(lr_control):
    """`True` -> default `LRControl()`, `False`/`None` -> None, an
    `LRControl` as is; anything else is a `ConfigError`."""
    if lr_control is None or lr_control is False:
        return None
    if lr_control is True:
        return LRControl()
    if isinstance(lr_control, LRControl):
        return lr_control
    raise ConfigError(
        "lr_control must be True, False or a keras_curvewatch.LRControl. "
        f"Received lr_control={lr_control!r}.")


class LRController:
    """Applies `LRControl` decisions to a model, epoch by epoch.

    Args:
        control: `LRControl`, `True` (defaults) or `False`.

    Attributes:
        actions: list of dict. Every change and verdict, for
            `report.actions`.
        findings: list of `Finding`. The controller's own findings (a
            critical one when it stops training), for the caller to merge
            into its report.

    Example:

    ```python
    controller = LRController(LRControl(factor=0.5))
    controller.on_train_begin(model)
    controller.on_epoch_begin(0)
    # at each epoch end, with the engine's report on the logs so far:
    result = controller.on_epoch_end(epoch, logs, report, segment)
    ```
    """

    def __init__(self, control=True):
        self.control = as_control(control) or LRControl()
        self.model = None
        self._tracked = []
        self.reset()

    def reset(self):
        self.state = self.control.init()
        self.actions = []
        self.findings = []
        self.snapshots = {"best": None, "trial": None}
        self.snapshots_changed = False
        self._best = math.nan
        self._pending = None
        # (epoch, snapshot name) of the latest restore of the weights.
        self._restored = None

    def on_train_begin(self, model, resume=None):
        """Checks that the rate can be changed live.

        Args:
            model: the compiled `keras.Model`.
            resume: `(state, snapshots[, backup_weights_path])` saved by
                an interrupted run, or None. Applied at the first
                `on_epoch_begin`, after a `BackupAndRestore` placed
                anywhere in the callbacks has restored the weights.

        Raises:
            ConfigError: if a rate cannot be changed live; the message says
                what to pass instead.
        """
        self.reset()
        self.model = model
        self._tracked = lr_apply.prepare(model)
        self._pending = resume if resume is not None else ({}, {})

    def on_epoch_begin(self, epoch):
        """At the first epoch of a fit: restores a resumed run's state and
        rates, or takes the first rollback snapshot."""
        if self._pending is None:
            return
        data, snapshots, weights = (tuple(self._pending) + (None,))[:3]
        self._pending = None
        if data and self._tracked and weights and os.path.exists(weights):
            # Under JAX the multiplier is an optimizer variable: a
            # BackupAndRestore placed before CurveWatch loaded the backup
            # before it was tracked, and skipped the optimizer's state.
            self.model.load_weights(weights)
        self.snapshots.update({k: v for k, v in (snapshots or {}).items()
                               if k in self.snapshots})
        if data:
            self._set_state(data)
            if self._restored is not None and self._restored[0] == (
                    epoch - 1):
                # A BackupAndRestore before CurveWatch in the callbacks
                # saved that epoch's weights before the rollback: redo it.
                self._restore(self._restored[1])
            lr_apply.set_multipliers(self.model, data.get("rates", []))
        if self.control.rollback and self.snapshots["best"] is None:
            self.snapshots["best"] = lr_apply.take_snapshot(self.model)
            self.snapshots_changed = True

    def epoch_logs(self):
        """`{"learning_rate": rate}`: the rate the epoch ran at, to add to
        its logs before the diagnosis (call before `on_epoch_end`)."""
        return {"learning_rate": lr_apply.get_learning_rate(self.model)}

    def segment_since(self):
        """The epoch after which `on_epoch_end` wants a segment report (the
        last change), or None when the whole run's report is enough."""
        since = self.state.last_change_epoch
        return since if since >= 0 else None

    def get_state(self):
        """The policy state, actions, findings and the rates it set, as a
        JSON-ready dict (the weight snapshots are in `snapshots`)."""
        return {"state": {k: encode_float(v) if isinstance(v, float) else v
                          for k, v in self.state._asdict().items()},
                "actions": [dict(a) for a in self.actions],
                "findings": [f.to_dict() for f in self.findings],
                "best": encode_float(self._best),
                "restored": self._restored,
                "rates": (lr_apply.get_multipliers(self.model)
                          if self.model is not None else [])}

    def set_state(self, data):
        """Restores `get_state()` output (not the rates: those are set by
        `on_train_begin(model, resume=...)`)."""
        self._set_state(data)

    def _set_state(self, data):
        fields = ControlState._fields
        self.state = ControlState(**{
            k: decode_float(v) if isinstance(v, str) and k not in (
                "trial_kind", "trial_reason") else v
            for k, v in data["state"].items() if k in fields})
        self.actions = [dict(a) for a in data.get("actions", [])]
        self.findings = [Finding.from_dict(f)
                         for f in data.get("findings", [])]
        self._best = decode_float(data.get("best", "NaN"))
        restored = data.get("restored")
        self._restored = (int(restored[0]), str(restored[1])) if (
            restored) else None

    def on_train_end(self):
        lr_apply.release(self._tracked)
        self._tracked = []

    def on_epoch_end(self, epoch, logs, report, segment=None):
        """Decides and applies the learning-rate change for one epoch.

        Args:
            epoch: int. The epoch that just ended.
            logs: dict. Its logs (not modified).
            report: `Report` from the engine on the epochs so far.
            segment: `Report` or None. The engine's report on the epochs
                after `segment_since()`; None when it asked for none.

        Returns:
            dict with `"action"` (the dict added to `actions`, or None),
            `"logs"` (`{"learning_rate": rate}`), `"stop"` (bool) and
            `"message"` (str or None).
        """
        model, logs = self.model, logs or {}
        lr = lr_apply.get_learning_rate(model)
        stats = epoch_stats_from_report(
            report, epoch, lr, logs, monitor=self.control.monitor,
            segment=self._segment(report, segment))
        decision, self.state = self.control.propose(self.state, stats)
        result = {"action": None, "logs": {"learning_rate": float(lr)},
                  "stop": False, "message": decision.message or None}
        if decision.action in (REDUCE, RAISE) and self.control.rollback:
            self.snapshots["trial"] = lr_apply.take_snapshot(model)
            self.snapshots_changed = True
        if decision.action not in (ROLLBACK, STOP, UNDO):
            self._maybe_snapshot(logs)
        if decision.action in (ROLLBACK, STOP):
            self._restore("best", epoch)
        elif decision.action == UNDO and decision.evidence.get(
                "restore_weights"):
            self._restore("trial", epoch)
        if decision.action == STOP:
            model.stop_training = True
            result["stop"] = True
            self.findings.append(_stop_finding(epoch, decision))
        if decision.new_lr is not None:
            lr_apply.scale_learning_rate(model, decision.new_lr / lr,
                                         self.control.min_lr)
        if decision.action != NONE:
            result["action"] = {
                "epoch": int(epoch), "old": float(lr),
                "new": float(lr_apply.get_learning_rate(model)),
                "reason": decision.reason, "action": decision.action,
                "evidence": dict(decision.evidence)}
            self.actions.append(result["action"])
        return result

    def _segment(self, report, segment):
        """The findings source: the segment report once it has enough
        epochs, a report without findings before that, or the whole run's
        when there has been no change."""
        if self.segment_since() is None:
            return None
        if segment is None or segment.n_epochs < MIN_SEGMENT_EPOCHS:
            return Report(findings=[], series=report.series)
        return segment

    def _maybe_snapshot(self, logs):
        if not self.control.rollback:
            return
        name = self.control.monitor if self.control.monitor in logs else (
            "loss")
        try:
            value = float(logs.get(name, math.nan))
        except (TypeError, ValueError):
            return
        if math.isfinite(value) and not value >= self._best:
            self._best = value
            self.snapshots["best"] = lr_apply.take_snapshot(self.model)
            self.snapshots_changed = True

    def _restore(self, which, epoch=None):
        """Restores a snapshot but keeps the current rates."""
        snapshot = self.snapshots.get(which)
        if snapshot is None:
            return
        if epoch is not None:
            self._restored = (int(epoch), which)
        rates = lr_apply.rates_of(self.model)
        lr_apply.restore_snapshot(self.model, snapshot)
        lr_apply.set_rates(self.model, rates)


def _stop_finding(epoch, decision):
    return Finding(
        code=decision.reason, severity=CRITICAL, message=decision.message,
        series="loss", epoch=epoch, evidence=dict(decision.evidence),
        causes=(("learning_rate", "the loss broke again after lowering the "
                 "rate and rolling back."),
                ("data_quality", "NaN/inf or extreme values in a batch break "
                 "any rate.")),
        suggestion=("Check the data with np.isfinite(x).all(), clip "
                    "gradients (clipnorm=1.0) and start from a 10x lower "
                    "learning rate."))
