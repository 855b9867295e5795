"""`Report` round-trips keep strings that spell non-finite floats, and
report equality treats NaN in the same place as equal."""

import math

import keras_curvewatch as kcw
from keras_curvewatch.engine.report import Report

NAN = math.nan


def _report():
    return kcw.analyze(
        {"loss": [1.0, NAN, 0.6, 0.5, 0.45, 0.4],
         "val_loss": [1.1, 0.9, math.inf, 0.8, 0.75, 0.74]},
        layers=["NaN", "Infinity", "-Infinity", "Dense"], batch_size=8)


def test_layer_names_that_spell_floats_stay_strings():
    report = _report()
    again = Report.from_dict(report.to_dict())
    assert again.context["layers"] == ["NaN", "Infinity", "-Infinity",
                                       "Dense"]
    assert all(isinstance(name, str) for name in again.context["layers"])
    assert Report.from_json(report.to_json()).context["layers"] == (
        again.context["layers"])


def test_report_equality_is_nan_aware():
    report = _report()
    assert math.isnan(report.series["loss"].values[1])
    assert report == Report.from_dict(report.to_dict())
    assert report == Report.from_json(report.to_json())
    other = Report.from_dict(report.to_dict())
    other.series["loss"].values[1] = 0.7
    assert report != other
    assert report != "not a report"
