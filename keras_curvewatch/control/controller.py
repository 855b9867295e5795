"""`LRController`: applies the `LRControl` policy to a model at each epoch
end. `CurveWatch(lr_control=...)` drives it; it holds the policy state, the
host snapshot for rollback and the list of actions taken.
"""

import dataclasses
import math

from keras_curvewatch.control import apply as lr_apply
from keras_curvewatch.engine.analysis import diagnose
from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.control.policy import NONE
from keras_curvewatch.control.policy import ControlState
from keras_curvewatch.control.policy import LRControl
from keras_curvewatch.control.policy import REDUCE
from keras_curvewatch.control.policy import ROLLBACK
from keras_curvewatch.control.policy import STOP
from keras_curvewatch.control.inputs import epoch_stats_from_report
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float
from keras_curvewatch.engine.report import Report

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

    Example:

    ```python
    controller = LRController(LRControl(factor=0.5))
    controller.on_train_begin(model)
    # at each epoch end, with the engine's report on the logs so far:
    result = controller.on_epoch_end(model, epoch, logs, report)
    ```
    """

    def __init__(self, control=True):
        self.control = as_control(control) or LRControl()
        self.reset()

    def reset(self):
        self.state = self.control.init()
        self.actions = []
        self._snapshot = None
        self._best = math.nan
        self._tracked = []

    def on_train_begin(self, model):
        """Checks that the rate can be changed live and takes the first
        snapshot.

        Raises:
            ConfigError: if a rate cannot be changed live; the message says
                what to pass instead.
        """
        self.reset()
        self._tracked = lr_apply.prepare(model)
        if self.control.rollback:
            self._snapshot = lr_apply.take_snapshot(model)

    def epoch_logs(self, model):
        """`{"learning_rate": rate}`: the rate the epoch ran at, to add to
        its logs before the diagnosis (call before `on_epoch_end`)."""
        return {"learning_rate": lr_apply.get_learning_rate(model)}

    def get_state(self):
        """The policy state and actions as a JSON-ready dict (the weight
        snapshot is not included)."""
        return {"state": {k: encode_float(v) if isinstance(v, float) else v
                          for k, v in self.state._asdict().items()},
                "actions": [dict(a) for a in self.actions]}

    def set_state(self, data):
        """Restores `get_state()` output."""
        fields = ControlState._fields
        self.state = ControlState(**{
            k: decode_float(v) if isinstance(v, str) else v
            for k, v in data["state"].items() if k in fields})
        self.actions = [dict(a) for a in data.get("actions", [])]

    def on_train_end(self, model):
        lr_apply.release(self._tracked)
        self._tracked = []

    def on_epoch_end(self, model, epoch, logs, report):
        """Decides and applies the learning-rate change for one epoch.

        Args:
            model: the `keras.Model` being trained.
            epoch: int. The epoch that just ended.
            logs: dict. Its logs (not modified).
            report: `Report` from the engine on the epochs so far.

        Returns:
            dict with `"action"` (a dict `epoch`, `old`, `new`, `reason`,
            `evidence`, or None), `"logs"` (`{"learning_rate": rate}`, to
            add to the epoch logs), `"stop"` (bool), `"message"` (str or
            None) and `"finding"` (a critical `Finding` when training
            stops, else None).
        """
        logs = logs or {}
        lr = lr_apply.get_learning_rate(model)
        stats = epoch_stats_from_report(
            report, epoch, lr, logs, monitor=self.control.monitor,
            segment=self._segment(report))
        decision, self.state = self.control.propose(self.state, stats)
        result = {"action": None, "logs": {}, "stop": False,
                  "message": decision.message or None, "finding": None}
        if decision.action in (NONE, REDUCE):
            self._maybe_snapshot(model, logs)
        if decision.action == REDUCE:
            self._scale(model, decision)
        elif decision.action == ROLLBACK:
            self._rollback(model, decision)
        elif decision.action == STOP:
            self._restore(model)
            model.stop_training = True
            result["stop"] = True
            result["finding"] = Finding(
                code=decision.reason, severity=CRITICAL,
                message=decision.message, series="loss", epoch=epoch,
                evidence=decision.evidence,
                causes=(("learning_rate", "the loss broke again after "
                         "lowering the rate and rolling back."),
                        ("data_quality", "NaN/inf or extreme values in a "
                         "batch break any rate.")),
                suggestion=("Check the data with np.isfinite(x).all(), clip "
                            "gradients (clipnorm=1.0) and start from a 10x "
                            "lower learning rate."))
        if decision.action != NONE:
            new = lr_apply.get_learning_rate(model)
            result["action"] = {
                "epoch": int(epoch), "old": float(lr), "new": float(new),
                "reason": decision.reason, "action": decision.action,
                "evidence": dict(decision.evidence)}
            self.actions.append(result["action"])
        result["logs"] = {"learning_rate": float(lr)}
        return result

    def _segment(self, report):
        """The engine's report on the epochs after the last change, or None
        when there has been no change or too few epochs since."""
        since = self.state.last_change_epoch
        if since < 0:
            return None
        monitor = report.series.get(report.monitor or "loss")
        if monitor is None:
            return None
        epochs = list(monitor.epochs)
        keep = [i for i, e in enumerate(epochs) if e > since]
        if len(keep) < MIN_SEGMENT_EPOCHS:
            return _without_findings(report)
        values = {name: [s.values[i] for i in keep]
                  for name, s in report.series.items()
                  if len(s.values) == len(epochs)}
        curves = Curves(values=values, epochs=[epochs[i] for i in keep],
                        source="LRController")
        context = dict(report.context)
        context["layers"] = tuple(context.get("layers") or ())
        fields = {f.name for f in dataclasses.fields(RunContext)}
        known = {k: v for k, v in context.items() if k in fields}
        return diagnose(curves, RunContext(**known))

    def _maybe_snapshot(self, model, logs):
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
            self._snapshot = lr_apply.take_snapshot(model)

    def _scale(self, model, decision):
        if decision.new_lr is None:
            return
        ratio = decision.new_lr / decision.old_lr
        lr_apply.scale_learning_rate(model, ratio, self.control.min_lr)

    def _restore(self, model):
        """Restores the snapshot but keeps the current rates."""
        if self._snapshot is None:
            return
        rates = lr_apply.rates_of(model)
        lr_apply.restore_snapshot(model, self._snapshot)
        lr_apply.set_rates(model, rates)

    def _rollback(self, model, decision):
        self._restore(model)
        self._scale(model, decision)



def _without_findings(report):
    """A report with no findings but the whole run's series, so the policy
    keeps the noise band while the new segment is too short."""
    return Report(findings=[], series=report.series)
