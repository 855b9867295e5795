"""`Comparison`: what `compare()` returns, and its serialisation.

Imports neither keras nor tensorflow.
"""

import dataclasses
import json

from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float
from keras_curvewatch.engine.report import Report

COMPARISON_FORMAT_VERSION = 1


@dataclasses.dataclass(repr=False)
class Comparison:
    """Several runs side by side, with what differs beyond noise.

    Args:
        names: list of str. One name per run, in the order given.
        rows: list of dict. One row per run: noise level (`loss_noise`,
            `val_loss_noise`, a share of the level for losses) and flip rate
            of `loss` and `val_loss`, `best_epoch` and `best_value` (raw),
            `recommended_epoch` and `recommended_value` (smoothed),
            `final_gap` (smoothed `val_loss` minus `loss` at the end),
            `codes` (finding codes, most severe first).
        pairs: list of dict. For each pair of runs and curve: `noisier`,
            `steadier`, `ratio` of their noise, its 95 % interval (`low`,
            `high`), `beyond_noise` (True, False, or None without an
            interval) and a `sentence`.
        verdict: dict. `keep` (a run name), `monitor` and `reason`.
        reports: dict of run name to `Report`.
    """

    names: list
    rows: list
    pairs: list
    verdict: dict
    reports: dict = dataclasses.field(default_factory=dict)

    @property
    def keep(self):
        """str or None. The name of the run to keep."""
        return self.verdict.get("keep")

    def pair(self, a, b, series="val_loss"):
        """Returns the pair dict for runs `a` and `b` on `series`, or None."""
        for pair in self.pairs:
            if pair["series"] == series and {a, b} == {pair["noisier"],
                                                       pair["steadier"]}:
                return pair
        return None

    def to_dict(self):
        """Returns a JSON-ready dict; `Comparison.from_dict` reverses it."""
        return {
            "format_version": COMPARISON_FORMAT_VERSION,
            "names": list(self.names),
            "rows": [_encode(row) for row in self.rows],
            "pairs": [_encode(pair) for pair in self.pairs],
            "verdict": dict(self.verdict),
            "reports": {k: r.to_dict() for k, r in self.reports.items()},
        }

    @classmethod
    def from_dict(cls, data):
        """Builds a `Comparison` from the output of `to_dict`."""
        from keras_curvewatch.errors import InputError

        if not isinstance(data, dict) or "rows" not in data:
            raise InputError(
                "Comparison.from_dict expects the dict returned by "
                f"Comparison.to_dict(); received {type(data).__name__} "
                "without a 'rows' key.")
        return cls(
            names=list(data["names"]),
            rows=[_decode(row) for row in data["rows"]],
            pairs=[_decode(pair) for pair in data.get("pairs", [])],
            verdict=dict(data.get("verdict", {})),
            reports={k: Report.from_dict(r)
                     for k, r in data.get("reports", {}).items()},
        )

    def to_json(self, indent=2):
        """Returns the comparison as strict JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def __repr__(self):
        # Short: the reports behind it hold every curve.
        return (f"Comparison(names={self.names!r}, "
                f"keep={self.keep!r})")

    def __str__(self):
        from keras_curvewatch.render.compare import render_compare_text

        return render_compare_text(self)

    def _repr_html_(self):
        from keras_curvewatch.render.compare import render_compare_html

        return render_compare_html(self)

    def plot(self, ax=None):
        """Overlays the runs' smoothed curves with their noise bands.

        Args:
            ax: matplotlib `Axes` or None. Draw `val_loss` (or `loss`) on
                it. Defaults to `None`: a new figure, one panel per curve.

        Returns:
            matplotlib `Figure`.

        Raises:
            MissingExtraError: if matplotlib is not installed.
        """
        from keras_curvewatch.render.compare import plot_comparison

        return plot_comparison(self, ax=ax)


def _encode(row):
    return {k: encode_float(v) if isinstance(v, float) else v
            for k, v in row.items()}


def _decode(row):
    return {k: decode_float(v) if v in ("NaN", "Infinity", "-Infinity")
            else v for k, v in row.items()}
