"""The plot of a run whose loss is NaN in every epoch says so."""

import math

import pytest

import keras_curvewatch as kcw

pytest.importorskip("matplotlib")


def test_an_all_nan_loss_gets_a_labelled_panel():
    report = kcw.analyze({"loss": [math.nan] * 6,
                          "val_loss": [1.0, 0.9, 0.8, 0.8, 0.7, 0.7]})
    figure = report.plot()
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any("loss is NaN/inf in every epoch" in t for t in texts)
    assert not any("val_loss is NaN/inf" in t for t in texts)
