"""Tests of `keras_curvewatch.live.loss_tracker.PackedMean`, the one-variable
loss tracker the tap puts in the place of Keras's on JAX, on real `fit`
runs: the same logs, bit for bit, as Keras's own tracker.

Run under each backend by .ci/run; only JAX packs the tracker.
"""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch import CurveWatch  # noqa: E402
from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live.loss_tracker import PackedMean  # noqa: E402

import tiny_regression  # noqa: E402

pytestmark = pytest.mark.backend

JAX = keras.backend.backend() == "jax"


def _model():
    return tiny_regression.build_model(keras)


def _fit(model, callbacks, epochs=4, **kwargs):
    x, y = tiny_regression.data(98)
    return model.fit(x, y, batch_size=4, epochs=epochs, verbose=0,
                     validation_split=0.2, callbacks=callbacks,
                     **kwargs).history


def test_curvewatch_logs_keras_own_losses_bit_for_bit():
    bare = _model()
    expected = _fit(bare, [])
    watched = _model()
    watch = CurveWatch(display=False, warn=lambda finding: None)
    got = _fit(watched, [watch])
    assert isinstance(watched._loss_tracker, PackedMean) is JAX
    assert isinstance(watched._loss_tracker, keras.metrics.Mean)
    assert not isinstance(bare._loss_tracker, PackedMean)
    for key in ("loss", "val_loss"):
        assert got[key] == expected[key], key  # floats, compared exactly
    for a, b in zip(bare.get_weights(), watched.get_weights()):
        np.testing.assert_array_equal(a, b)
    # evaluate() and the validation size read from the packed count.
    x, y = tiny_regression.data(40)
    assert (watched.evaluate(x, y, batch_size=4, verbose=0)
            == bare.evaluate(x, y, batch_size=4, verbose=0))
    assert watch.report.context["n_val"] == 20  # 98 * 0.2, the last 20


@pytest.mark.skipif(not JAX, reason="only JAX packs the loss tracker")
def test_packed_mean_matches_keras_mean_on_edge_values():
    packed, mean = PackedMean(), keras.metrics.Mean(name="loss")
    # Empty: divide_no_nan gives 0.
    assert float(packed.result()) == float(mean.result()) == 0.0
    batches = [(1.5, 4), (np.float32(3.25), 2), (np.inf, 4), (np.nan, 1)]
    for value, weight in batches:
        for metric in (packed, mean):
            metric.update_state(keras.ops.convert_to_tensor(value,
                                                            "float32"),
                                sample_weight=weight)
        a, b = float(packed.result()), float(mean.result())
        assert a == b or (np.isnan(a) and np.isnan(b)), (value, a, b)
    assert packed.read_count() == float(mean.count.value) == 11.0
    packed.reset_state()
    mean.reset_state()
    assert float(packed.result()) == float(mean.result()) == 0.0
    # A vector of losses without weights counts its samples.
    values = keras.ops.convert_to_tensor([0.5, 0.25, 2.0], "float32")
    packed.update_state(values)
    mean.update_state(values)
    assert float(packed.result()) == float(mean.result())
    assert packed.read_count() == 3.0


@pytest.mark.skipif(not JAX, reason="only JAX packs the loss tracker")
def test_compile_again_is_packed_again_and_saving_ignores_it(tmp_path):
    model = _model()
    watch = CurveWatch(display=False, warn=lambda finding: None)
    first = _fit(model, [watch], epochs=2)
    assert isinstance(model._loss_tracker, PackedMean)
    assert [m.name for m in model.metrics][0] == "loss"
    assert model._loss_tracker not in model._metrics  # not tracked twice
    model.compile(keras.optimizers.SGD(0.05), "mse")
    assert type(model._loss_tracker) is keras.metrics.Mean
    again = _fit(model, [watch], epochs=2)
    assert isinstance(model._loss_tracker, PackedMean)
    assert len(again["loss"]) == 2 and np.isfinite(again["val_loss"]).all()
    assert loss_tap.validation_counter(model)() == 20.0
    path = str(tmp_path / "model.keras")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no variable-count mismatch
        restored = keras.models.load_model(path)
    assert type(restored._loss_tracker) is keras.metrics.Mean
    x, y = tiny_regression.data(40)
    np.testing.assert_allclose(
        restored.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
        rtol=1e-6)
    assert len(first["loss"]) == 2


@pytest.mark.skipif(not JAX, reason="only JAX packs the loss tracker")
def test_a_custom_loss_tracker_is_left_alone():
    model = _model()
    custom = keras.metrics.Mean(name="loss", dtype="float64")
    object.__setattr__(model, "_loss_tracker", custom)
    _fit(model, [CurveWatch(display=False, warn=lambda finding: None)],
         epochs=1)
    assert model._loss_tracker is custom
