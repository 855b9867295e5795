"""`fit(validation_freq=k)`: validation epochs that were not measured are
gaps with their own epoch list, never NaN and never `nan_loss`."""

import math
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402
from keras_curvewatch.engine.curves import Curves  # noqa: E402
from keras_curvewatch.engine.curves import pad_validation  # noqa: E402
from keras_curvewatch.engine.curves import validation_gaps  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
import tiny_regression  # noqa: E402

NAN = math.nan
LOSS = [1.0, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.42, 0.4, 0.38]
# Measured after epochs 1, 3, 5, 7, 9: Keras's (epoch + 1) % 2 == 0.
VAL = [1.1, 0.9, 0.8, 0.75, 0.7]


def test_history_with_short_val_lists_is_analysed_without_padding():
    report = kcw.analyze({"loss": LOSS, "val_loss": VAL})
    assert not report.has("nan_loss")
    assert report.series["val_loss"].epochs == [1, 3, 5, 7, 9]
    assert report.series["val_loss"].values == VAL
    assert report.series["loss"].epochs == list(range(10))
    assert report.monitor == "val_loss" and report.best_epoch in (7, 9)
    assert any("validation_freq=2" in note for note in report.notes)


def test_padded_unmeasured_epochs_are_gaps_not_nan():
    padded = [NAN, 1.1, NAN, 0.9, NAN, 0.8, NAN, 0.75, NAN, 0.7]
    report = kcw.analyze({"loss": LOSS, "val_loss": padded})
    assert not report.has("nan_loss")
    assert report.series["val_loss"].epochs == [1, 3, 5, 7, 9]
    assert any("validation_freq=2" in note for note in report.notes)


def test_a_measured_val_nan_is_still_critical():
    # Epoch 9 should have been measured (validation_freq=2): a real NaN.
    broken = [NAN, 1.1, NAN, 0.9, NAN, 0.8, NAN, 0.75, NAN, NAN]
    report = kcw.analyze({"loss": LOSS, "val_loss": broken})
    assert report.get("nan_loss").severity == "critical"
    # And NaN in every epoch after the start is no validation_freq pattern.
    report = kcw.analyze({"loss": LOSS, "val_loss": [0.9] + [NAN] * 9})
    assert report.has("nan_loss", "critical")


def test_gap_inference_follows_keras_rule_on_epoch_labels():
    curves = Curves({"loss": [1.0] * 9, "val_loss": [NAN, NAN, 2.0] * 3})
    gaps, freq = validation_gaps(curves)
    assert freq == 3
    np.testing.assert_array_equal(gaps["val_loss"], [1, 1, 0] * 3)
    # A resumed run labels its rows from 4: (4 + 1) % 5 == 0.
    resumed = Curves({"loss": [1.0] * 5, "val_loss": [2.0] + [NAN] * 4},
                     epochs=[4, 5, 6, 7, 8])
    assert validation_gaps(resumed)[1] == 5
    padded, gaps, freq = pad_validation(
        {"loss": [1.0] * 6, "val_loss": [2.0, 3.0, 4.0]},
        epochs=[4, 5, 6, 7, 8, 9])
    assert freq == 2
    assert padded["val_loss"] == [None, 2.0, None, 3.0, None, 4.0]


def _fit(lr_control, callbacks_after=(), epochs=6):
    x, y = tiny_regression.data(64)
    model = tiny_regression.build_model(keras)
    watch = CurveWatch(lr_control=lr_control, display=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=epochs, batch_size=8,
                            validation_split=0.25, validation_freq=2,
                            verbose=0, callbacks=[watch, *callbacks_after])
    return watch, history, caught


@pytest.mark.parametrize("lr_control", [False, True])
def test_fit_with_validation_freq_gives_no_false_nan_loss(lr_control):
    watch, history, caught = _fit(lr_control)
    assert not watch.disabled
    assert not watch.report.has("nan_loss")
    assert not any(issubclass(w.category, kcw.NanLossWarning)
                   for w in caught)
    assert watch.report.series["val_loss"].epochs == [1, 3, 5]
    assert watch.report.series["loss"].epochs == list(range(6))
    offline = kcw.analyze(history)
    assert not offline.has("nan_loss")
    assert offline.series["val_loss"].values == pytest.approx(
        history.history["val_loss"])


def test_gaps_survive_the_saved_state():
    watch, _, _ = _fit(False, epochs=4)
    restored = CurveWatch(display=False)
    restored.set_state(watch.get_state(), n_epochs=3)
    assert restored._session.gaps == {"val_loss": [0, 2]}
