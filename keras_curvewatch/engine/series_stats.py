"""`SeriesStats`: the fluctuation and trend metrics of one curve, as
computed by `keras_curvewatch.engine.series` and held by a `Report`.

This module imports neither keras nor tensorflow.
"""

import dataclasses

from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float


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
        noise: float. Standard deviation of the noise around the trend:
            the MAD of leave-one-out local-cubic residuals, scaled for their
            variance inflation (`stats.noise_level`; NaN when there are too
            few points).
        relative_noise: float. `noise` divided by the curve's typical level
            (losses) or `noise` itself (bounded metrics such as accuracy).
        flip_rate: float. Share of sign changes between consecutive first
            differences: about 2/3 for white noise, 0 for a monotone curve.
        trend_slope: float. Theil-Sen slope per epoch over the tail.
        trend_tau: float. Kendall's tau over the tail.
        trend_p: float. Two-sided p-value of `trend_tau`.
        tail_start_epoch: int or None. First epoch label of the tail.
        spikes: list of int. Epoch labels of spikes.
        max_spike_score: float. Largest excess of a point over the worse
            of its two neighbours (`stats.spike_scores`), in units of
            `noise`, or of `relative_noise` on the log scale for positive
            losses.
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
