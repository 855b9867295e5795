"""What the learning-rate policy sees at an epoch end: `EpochStats`, built
from the engine's reports and the epoch logs.

This module imports neither keras nor tensorflow.
"""

import dataclasses
import math

from keras_curvewatch.control import evidence
from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.engine.floats import to_float


@dataclasses.dataclass(frozen=True)
class EpochStats:
    """What the policy sees at the end of one epoch.

    Args:
        epoch: int. The epoch that just ended.
        learning_rate: float. The current rate of the (first) optimizer.
        findings: tuple of `evidence.FindingView` (or `(code, severity,
            top_cause)` triples): the engine's findings on the epochs since
            the last change, plus the whole run's findings about noise
            (`evidence.NOISE_FINDINGS` other than `LR_FINDINGS`).
        level: float. The smoothed monitored value at this epoch.
        smoothed: tuple of `(epoch, value)` pairs. The whole smoothed
            monitored curve, as revised with this epoch's data; the value
            at the best epoch is the reference an improvement must beat.
        noise: float. The monitored curve's noise (NaN when unknown).
        loss: float. This epoch's training loss.
        monitor_value: float. This epoch's raw monitored value.
        values: tuple of `(epoch, value)` pairs. The raw monitored curve.
        losses: tuple of `(epoch, value)` pairs. The raw training loss.
        nonfinite: bool. A loss of this epoch is NaN or infinite.
    """

    epoch: int
    learning_rate: float
    findings: tuple = ()
    level: float = math.nan
    noise: float = math.nan
    loss: float = math.nan
    nonfinite: bool = False
    smoothed: tuple = ()
    monitor_value: float = math.nan
    values: tuple = ()
    losses: tuple = ()


def epoch_stats_from_report(report, epoch, learning_rate, logs=None,
                            monitor="val_loss", segment=None):
    """Builds `EpochStats` from the engine's reports and the epoch logs.

    Args:
        report: `Report` on the whole run so far.
        epoch: int. The epoch that just ended.
        learning_rate: float. The current learning rate.
        logs: dict or None. This epoch's logs. Defaults to `None`.
        monitor: str. Curve for the plateau test; `"loss"` is used when it
            is missing. Defaults to `"val_loss"`.
        segment: `Report` or None. Report on the epochs since the last
            change; its findings and noise are used. Defaults to `None`
            (the whole run's).

    Returns:
        `EpochStats`.
    """
    logs = logs or {}
    segment = segment or report
    name = monitor if monitor in report.series else "loss"
    level = noise = math.nan
    pairs = ()
    if name in report.series:
        smoothed = report.series[name].smoothed
        level = float(smoothed[-1]) if smoothed else math.nan
        pairs = tuple(zip((int(e) for e in report.series[name].epochs),
                          (float(v) for v in smoothed)))
        noise = segment.series[name].noise if name in segment.series else (
            math.nan)
        if not math.isfinite(noise):
            noise = report.series[name].noise
    values = [to_float(logs[key]) for key in ("loss", monitor)
              if key in logs]
    loss, value = (to_float(logs.get(key, math.nan))
                   for key in ("loss", name))
    findings = [evidence.view(f) for f in segment.findings]
    codes = {f.code for f in findings}
    findings += [evidence.view(f) for f in report.findings
                 if f.code in evidence.NOISE_FINDINGS
                 and f.code not in evidence.LR_FINDINGS
                 and f.code not in codes]
    return EpochStats(
        epoch=int(epoch),
        learning_rate=float(learning_rate),
        findings=tuple(findings),
        level=level,
        noise=float(noise),
        loss=loss,
        nonfinite=any(not math.isfinite(v) for v in values),
        smoothed=pairs,
        monitor_value=value,
        values=_pairs(report, name),
        losses=_pairs(report, "loss"),
    )


def _pairs(report, name):
    series = report.series.get(name)
    if series is None:
        return ()
    return tuple((int(e), float(v)) for e, v in zip(series.epochs,
                                                    series.values))


def segment_curves(report, since):
    """The input of the engine's report on the epochs after `since`.

    Args:
        report: `Report` on the whole run so far.
        since: int. The last change's epoch (`LRController.segment_since`).

    Returns:
        `(Curves, RunContext)` to pass to `engine.analysis.diagnose`, or
        None when fewer than two epochs follow `since`.
    """
    monitor = report.series.get(report.monitor or "loss")
    if monitor is None:
        return None
    epochs = list(monitor.epochs)
    keep = [i for i, e in enumerate(epochs) if e > since]
    if len(keep) < 2:
        return None
    values = {name: [s.values[i] for i in keep]
              for name, s in report.series.items()
              if len(s.values) == len(epochs)}
    curves = Curves(values=values, epochs=[epochs[i] for i in keep],
                    source="LRController")
    context = dict(report.context)
    context["layers"] = tuple(context.get("layers") or ())
    fields = {f.name for f in dataclasses.fields(RunContext)}
    return curves, RunContext(**{k: v for k, v in context.items()
                                 if k in fields})
