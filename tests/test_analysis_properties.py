"""analyze() on random histories: a report or a clear error, never a
crash and never a non-JSON report."""

import math
import warnings

import numpy as np
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_curvewatch as kcw

_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e308, max_value=1e308),
    st.floats(min_value=0.0, max_value=5.0),
    st.just(0.0),
)
_keys = st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy",
                         "lr", "mae", "val_dice_coef", "output_1_loss"])


@st.composite
def histories(draw):
    n = draw(st.integers(0, 40))
    keys = draw(st.lists(_keys, min_size=1, max_size=5, unique=True))
    shape = draw(st.sampled_from(["random", "constant", "decay"]))
    out = {}
    for key in keys:
        length = n if draw(st.integers(0, 9)) else draw(st.integers(0, 40))
        if shape == "constant":
            values = [draw(_value)] * length
        elif shape == "decay":
            scale = draw(st.floats(min_value=1e-6, max_value=1e6))
            values = list(scale * np.exp(-np.arange(length) / 5.0))
            if length and draw(st.booleans()):
                values[draw(st.integers(0, length - 1))] = draw(_value)
        else:
            values = draw(st.lists(_value, min_size=length,
                                   max_size=length))
        out[key] = values
    return out


@settings(max_examples=120, deadline=None)
@given(histories(), st.one_of(st.none(), st.integers(1, 512)),
       st.one_of(st.none(), st.integers(1, 100000)))
def test_analyze_gives_a_report_or_a_clear_error(history, batch, n_val):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning leaks out
        try:
            report = kcw.analyze(history, batch_size=batch, n_val=n_val,
                                 n_train=1000, n_params=5000)
        except kcw.InputError as error:
            assert str(error).startswith("dict"), error  # names the source
            return
    # Ragged lists must raise, except val_* lists shorter than the rest,
    # which fit(validation_freq=k) writes: those are read as gaps.
    lengths = {len(v) for k, v in history.items()
               if not k.startswith("val_")}
    assert len(lengths) <= 1, "ragged lists must raise InputError"
    if lengths:
        longest = max(lengths)
        assert all(len(v) <= longest for k, v in history.items()
                   if k.startswith("val_")), "ragged lists must raise"
    again = kcw.Report.from_json(report.to_json())
    assert again.codes == report.codes
    assert str(report)
    if report.best_epoch is not None:
        values = report.series[report.monitor].values
        assert any(math.isfinite(v) for v in values)
