"""What the learning-rate policy sees at an epoch end: `EpochStats`, built
from the engine's reports and the epoch logs.

This module imports neither keras nor tensorflow.
"""

import dataclasses
import math

from keras_curvewatch.engine.floats import to_float


@dataclasses.dataclass(frozen=True)
class EpochStats:
    """What the policy sees at the end of one epoch.

    Args:
        epoch: int. The epoch that just ended.
        learning_rate: float. The current rate of the (first) optimizer.
        findings: tuple of `(code, severity, top_cause)` triples, from the
            engine's report on the epochs since the last change.
        level: float. The smoothed monitored value at this epoch.
        smoothed: tuple of `(epoch, value)` pairs. The whole smoothed
            monitored curve, as revised with this epoch's data; the value
            at the best epoch is the reference an improvement must beat.
        noise: float. The monitored curve's noise (NaN when unknown).
        loss: float. This epoch's training loss.
        monitor_value: float. This epoch's raw monitored value.
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
    findings = tuple((f.code, f.severity, f.top_cause)
                     for f in segment.findings)
    return EpochStats(
        epoch=int(epoch),
        learning_rate=float(learning_rate),
        findings=findings,
        level=level,
        noise=float(noise),
        loss=loss,
        nonfinite=any(not math.isfinite(v) for v in values),
        smoothed=pairs,
        monitor_value=value,
    )
