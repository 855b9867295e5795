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
from keras_curvewatch.engine.series_stats import SeriesStats

REPORT_FORMAT_VERSION = 1


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
        cleared: list of dict. Findings warned while training ran that
            the final diagnosis no longer holds: `code`, `severity`,
            `warned_epoch`, `cleared_epoch` (the first epoch whose
            diagnosis no longer found it) and `reason`.
        best_epoch_curve: str or None. The curve `best_epoch` was chosen
            on (its raw best is `raw_best_epoch`); usually `monitor`.
        best_epoch_reason: str. How `best_epoch` was chosen, e.g. "lowest
            smoothed val_loss", and which epoch it avoided and why.

    The bottom line of the report, `report.headline`, is derived from the
    findings (see `keras_curvewatch.engine.summary`).
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
    cleared: list = dataclasses.field(default_factory=list)
    best_epoch_curve: str = None
    best_epoch_reason: str = ""

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
    def headline(self):
        """str. One or two sentences: the main problem, with its numbers,
        and the first thing to change (or why the run looks healthy)."""
        from keras_curvewatch.engine.summary import report_headline

        return report_headline(self)

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
            "best_epoch_curve": self.best_epoch_curve,
            "best_epoch_reason": self.best_epoch_reason,
            "headline": self.headline,
            "findings": [f.to_dict() for f in self.findings],
            "series": {k: s.to_dict() for k, s in self.series.items()},
            "context": _jsonable(self.context),
            "notes": list(self.notes),
            "actions": _jsonable(self.actions),
            "batch": _jsonable(self.batch),
            "stopped": _jsonable(self.stopped),
            "cleared": _jsonable(self.cleared),
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
            cleared=[dict(c) for c in data.get("cleared", [])],
            best_epoch_curve=data.get("best_epoch_curve",
                                      data.get("monitor")),
            best_epoch_reason=data.get("best_epoch_reason", ""),
        )

    def __eq__(self, other):
        """NaN-aware: two reports are equal when their `to_dict()` are, so
        a NaN in a curve equals a NaN in the same place."""
        if not isinstance(other, Report):
            return NotImplemented
        return self.to_dict() == other.to_dict()

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


# How strict JSON spells the non-finite floats (see floats.encode_float).
_FLOAT_TOKENS = ("NaN", "Infinity", "-Infinity")
# A string equal to one of those tokens is written as {_STRING_TAG: text}.
_STRING_TAG = "__str__"


def _jsonable(value):
    """Makes nested context values strict-JSON safe (floats encoded)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str) and value in _FLOAT_TOKENS:
        # A name such as a layer called "NaN" must not decode as a float.
        return {_STRING_TAG: value}
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
    if isinstance(value, dict) and set(value) == {_STRING_TAG}:
        return value[_STRING_TAG]
    if isinstance(value, dict):
        return {k: _unjsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjsonable(v) for v in value]
    if isinstance(value, str) and value in _FLOAT_TOKENS:
        return float(value)
    return value
