"""`Report`: the findings and metrics that `analyze()` returns.

This module imports neither keras nor tensorflow.
"""

import dataclasses
import json

from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import SEVERITY_RANK
from keras_curvewatch.engine.findings import sort_findings
from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float

REPORT_FORMAT_VERSION = 1


@dataclasses.dataclass
class SeriesStats:
    """Fluctuation and trend metrics of one curve.

    Args:
        name: str. The curve, e.g. `"val_loss"`.
        direction: str. `"min"` when lower is better, `"max"` otherwise.
        n_epochs: int. Number of points, NaN included.
        n_finite: int. Number of finite points.
        first: float. First finite value.
        last: float. Last finite value.
        best: float. Best raw value (min or max by `direction`).
        raw_best_epoch: int or None. Epoch label of the best raw value.
        smoothed_best: float. Best value of the robust smoothed curve.
        smoothed_best_epoch: int or None. Epoch label of `smoothed_best`.
        noise: float. Robust standard deviation of the residual left after
            the robust smoother (NaN when there are fewer than 5 points).
        relative_noise: float. `noise` divided by the curve's typical level
            (losses) or `noise` itself (bounded metrics such as accuracy).
        flip_rate: float. Share of sign changes between consecutive first
            differences: about 2/3 for white noise, 0 for a monotone curve.
        trend_slope: float. Theil-Sen slope per epoch over the tail.
        trend_tau: float. Kendall's tau over the tail.
        trend_p: float. Two-sided p-value of `trend_tau`.
        tail_start_epoch: int or None. First epoch label of the tail.
        spikes: list of int. Epoch labels of spikes.
        max_spike_score: float. Largest robust z-score of a point against
            its running median, in units of `noise`.
        smoothed: list of float. The robust smoothed curve.
        values: list of float. The raw curve (NaN where missing).
        epochs: list of int. The epoch label of each point.
    """

    name: str
    direction: str = "min"
    n_epochs: int = 0
    n_finite: int = 0
    first: float = float("nan")
    last: float = float("nan")
    best: float = float("nan")
    raw_best_epoch: int = None
    smoothed_best: float = float("nan")
    smoothed_best_epoch: int = None
    noise: float = float("nan")
    relative_noise: float = float("nan")
    flip_rate: float = float("nan")
    trend_slope: float = float("nan")
    trend_tau: float = float("nan")
    trend_p: float = float("nan")
    tail_start_epoch: int = None
    spikes: list = dataclasses.field(default_factory=list)
    max_spike_score: float = float("nan")
    smoothed: list = dataclasses.field(default_factory=list)
    values: list = dataclasses.field(default_factory=list)
    epochs: list = dataclasses.field(default_factory=list)

    _FLOAT_FIELDS = (
        "first",
        "last",
        "best",
        "smoothed_best",
        "noise",
        "relative_noise",
        "flip_rate",
        "trend_slope",
        "trend_tau",
        "trend_p",
        "max_spike_score",
    )

    def to_dict(self):
        data = dataclasses.asdict(self)
        for key in self._FLOAT_FIELDS:
            data[key] = encode_float(data[key])
        data["smoothed"] = [encode_float(v) for v in self.smoothed]
        data["values"] = [encode_float(v) for v in self.values]
        data["epochs"] = [int(e) for e in self.epochs]
        return data

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        for key in cls._FLOAT_FIELDS:
            if key in data:
                data[key] = decode_float(data[key])
        data["smoothed"] = [decode_float(v) for v in data.get("smoothed", [])]
        data["values"] = [decode_float(v) for v in data.get("values", [])]
        data["epochs"] = [int(e) for e in data.get("epochs", [])]
        data["spikes"] = [int(e) for e in data.get("spikes", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclasses.dataclass
class Report:
    """What curvewatch found in one training run.

    Args:
        findings: list of `Finding`, most severe first.
        series: dict of str to `SeriesStats`, one per analysed curve.
        best_epoch: int or None. The recommended epoch, chosen on the
            smoothed monitored curve.
        raw_best_epoch: int or None. The epoch of the best raw value of the
            monitored curve.
        monitor: str or None. The curve used for `best_epoch`.
        n_epochs: int. Number of epochs analysed.
        context: dict. The run context used (`batch_size`, `n_train`,
            `n_val`, `n_params`, `layers`, `steps_per_epoch`, ...).
        notes: list of str. What the analysis had to assume.
        source: str. Where the curves came from.
        actions: list of dict. Changes made during training (e.g. by the
            learning-rate control): `epoch`, `old`, `new`, `reason`,
            `evidence`.
        batch: dict. Per-batch statistics, when per-batch losses were seen.
        stopped: dict or None. Why `CurveWatch(stop_on=...)` stopped the
            run: `epoch`, `reason`, `code`, `severity`, `message`,
            `restored_epoch`. None when it was not stopped.
    """

    findings: list = dataclasses.field(default_factory=list)
    series: dict = dataclasses.field(default_factory=dict)
    best_epoch: int = None
    raw_best_epoch: int = None
    monitor: str = None
    n_epochs: int = 0
    context: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    source: str = ""
    actions: list = dataclasses.field(default_factory=list)
    batch: dict = dataclasses.field(default_factory=dict)
    stopped: dict = None

    def __post_init__(self):
        self.findings = sort_findings(self.findings)

    @property
    def codes(self):
        """list of str. The finding codes, most severe first."""
        return [f.code for f in self.findings]

    def has(self, code, min_severity="info"):
        """Returns True if a finding with `code` at `min_severity` or above
        is in the report."""
        floor = SEVERITY_RANK[min_severity]
        return any(f.code == code and f.rank >= floor for f in self.findings)

    def get(self, code):
        """Returns the first finding with `code`, or None."""
        for finding in self.findings:
            if finding.code == code:
                return finding
        return None

    @property
    def worst_severity(self):
        """str or None. The highest severity among the findings."""
        if not self.findings:
            return None
        return self.findings[0].severity

    def to_dict(self):
        """Returns a JSON-ready dict; `Report.from_dict` reverses it."""
        return {
            "format_version": REPORT_FORMAT_VERSION,
            "source": self.source,
            "n_epochs": self.n_epochs,
            "monitor": self.monitor,
            "best_epoch": self.best_epoch,
            "raw_best_epoch": self.raw_best_epoch,
            "findings": [f.to_dict() for f in self.findings],
            "series": {k: s.to_dict() for k, s in self.series.items()},
            "context": _jsonable(self.context),
            "notes": list(self.notes),
            "actions": _jsonable(self.actions),
            "batch": _jsonable(self.batch),
            "stopped": _jsonable(self.stopped),
        }

    @classmethod
    def from_dict(cls, data):
        """Builds a `Report` from the output of `to_dict`.

        Args:
            data: dict. As returned by `Report.to_dict()`.

        Returns:
            A `Report`.

        Raises:
            InputError: if `data` is not a report dict.
        """
        from keras_curvewatch.errors import InputError

        if not isinstance(data, dict) or "findings" not in data:
            raise InputError(
                "Report.from_dict expects the dict returned by "
                f"Report.to_dict(); received {type(data).__name__} without "
                "a 'findings' key."
            )
        return cls(
            findings=[Finding.from_dict(f) for f in data["findings"]],
            series={
                k: SeriesStats.from_dict(s)
                for k, s in data.get("series", {}).items()
            },
            best_epoch=data.get("best_epoch"),
            raw_best_epoch=data.get("raw_best_epoch"),
            monitor=data.get("monitor"),
            n_epochs=data.get("n_epochs", 0),
            context=_unjsonable(data.get("context", {})),
            notes=list(data.get("notes", [])),
            source=data.get("source", ""),
            actions=_unjsonable(data.get("actions", [])),
            batch=_unjsonable(data.get("batch", {})),
            stopped=_unjsonable(data.get("stopped")),
        )

    def to_json(self, indent=2):
        """Returns the report as strict JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text):
        """Builds a `Report` from the output of `to_json`."""
        return cls.from_dict(json.loads(text))

    def __str__(self):
        from keras_curvewatch.render.text import render_text

        return render_text(self)

    def _repr_html_(self):
        """The report as HTML cards, shown by Jupyter for a bare `report`."""
        from keras_curvewatch.render.html import render_html

        return render_html(self)

    def plot(self, ax=None):
        """Plots the curves with the findings on them.

        Args:
            ax: matplotlib `Axes` or None. Draw the main panel on it.
                Defaults to `None`: a new figure with all panels.

        Returns:
            matplotlib `Figure`.

        Raises:
            MissingExtraError: if matplotlib is not installed.
        """
        from keras_curvewatch.render.plot import plot_report

        return plot_report(self, ax=ax)


def _jsonable(value):
    """Makes nested context values strict-JSON safe (floats encoded)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and not isinstance(value, float):
        return int(number)
    return encode_float(number)


def _unjsonable(value):
    if isinstance(value, dict):
        return {k: _unjsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjsonable(v) for v in value]
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value)
    return value
