"""Arguments are checked before they are converted: a wrong value gives a
`ConfigError` (or, for the history itself, an `InputError`) that names the
argument, the value received and what was expected."""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402
from keras_curvewatch.engine import arguments  # noqa: E402
from keras_curvewatch.errors import ConfigError  # noqa: E402
from keras_curvewatch.errors import InputError  # noqa: E402
import tiny_regression  # noqa: E402

HISTORY = {"loss": [1.0, 0.8, 0.7, 0.6, 0.5, 0.45],
           "val_loss": [1.1, 0.9, 0.8, 0.75, 0.7, 0.7]}


@pytest.mark.parametrize("kwargs, shown", [
    (dict(batch_size="abc"), "batch_size='abc'"),
    (dict(n_train="100x"), "n_train='100x'"),
    (dict(batch_size=math.inf), "batch_size=inf"),
    (dict(n_train=math.inf), "n_train=inf"),
    (dict(n_params=math.inf), "n_params=inf"),
    (dict(n_val=0), "n_val=0"),
    (dict(batch_size=True), "batch_size=True"),
    (dict(steps_per_epoch=2.5), "steps_per_epoch=2.5"),
    (dict(layers=123), "layers=123"),
    (dict(layers="LSTM"), "layers='LSTM'"),
    (dict(layers=["LSTM", 3]), "layers[1]=3"),
    (dict(batch_losses="abc"), "batch_losses='abc'"),
    (dict(batch_losses=[1.0, "x"]), "batch_losses[1]='x'"),
    (dict(batch_losses=[[1.0, 2.0], [3.0]]), "ragged"),
    (dict(batch_losses=5), "batch_losses=5"),
    (dict(batch_losses=[1.0, True]), "batch_losses[1]=True"),
    (dict(model="not a model"), "model='not a model'"),
])
def test_analyze_rejects_bad_arguments_by_name(kwargs, shown):
    with pytest.raises(ConfigError) as info:
        kcw.analyze(HISTORY, **kwargs)
    message = str(info.value)
    assert shown in message and "expected" in message


def test_analyze_accepts_whole_floats_and_numpy_numbers():
    report = kcw.analyze(HISTORY, batch_size=np.int64(32), n_train=3200.0,
                         batch_losses=np.linspace(1.0, 0.5, 12))
    assert report.context["batch_size"] == 32
    assert report.context["n_train"] == 3200
    assert len(report.batch["batch_losses"]) == 12


def test_analyze_rejects_a_history_passed_as_model():
    x, y = tiny_regression.data(16)
    model = tiny_regression.build_model(keras)
    history = model.fit(x, y, epochs=2, verbose=0)
    with pytest.raises(ConfigError, match="History.*history.model"):
        kcw.analyze(history.history, model=history)
    assert kcw.analyze(history, model=history.model).context["n_params"] == 21


@pytest.mark.parametrize("source, shown", [
    ({"loss": [True, False, True]}, "found True (bool)"),
    ({"loss": {1.0, 0.5}}, "(set)"),
    ({"loss": [10 ** 400, 1.0]}, "integer of 401 digits"),
    ({"loss": [1.0, 0.5], "epoch": [0, 1e20]}, "epoch 1e+20"),
    ({"loss": [1.0, 0.5], "epoch": [0, 1e300]}, "epoch 1e+300"),
    ({"loss": [1.0, 0.5], "epoch": [0, 10 ** 30]}, "epoch"),
])
def test_extreme_or_wrong_values_in_a_dict_are_input_errors(source, shown):
    with pytest.raises(InputError) as info:
        kcw.analyze(source)
    assert shown in str(info.value) and "expected" in str(info.value)


def test_validation_split_errors_name_validation_split():
    x, y = tiny_regression.data(16)
    model = tiny_regression.build_model(keras)
    for value in ("abc", 1.5, -0.1, math.nan):
        with pytest.raises(ConfigError,
                           match=r"lint received validation_split="):
            kcw.lint(model, x, y, validation_split=value)


def test_lint_rejects_a_history_and_mismatched_lengths():
    x, y = tiny_regression.data(16)
    model = tiny_regression.build_model(keras)
    history = model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ConfigError, match="History"):
        kcw.lint(history, x, y)
    with pytest.raises(ConfigError, match="x has 4, y has 5"):
        kcw.lint(model, x[:4], y[:5])


def _classifier():
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_lint_finds_nan_in_x_and_a_single_class_in_y():
    x, _ = tiny_regression.data(32)
    labels = np.arange(32) % 2
    assert kcw.lint(_classifier(), x, labels) == []
    broken = x.copy()
    broken[5, 1] = np.nan
    finding = kcw.lint(_classifier(), broken, labels)[0]
    assert finding.code == "nonfinite_inputs"
    assert finding.severity == "critical" and "x has 1 of 96" in (
        finding.message)
    finding = kcw.lint(_classifier(), x, np.zeros(32, int))[0]
    assert finding.code == "single_class" and "all 0" in finding.message
    one_hot = np.eye(2)[np.ones(32, int)]
    assert kcw.lint(None, y=one_hot)[0].code == "single_class"
    assert issubclass(kcw.SingleClassWarning, kcw.CurveWarning)
    assert issubclass(kcw.NonfiniteInputsWarning, kcw.CurveWarning)


def test_count_check_is_shared_and_plain():
    assert arguments.count(None, "n", "f") is None
    assert arguments.count(np.float32(8.0), "n", "f") == 8
    with pytest.raises(ConfigError, match=r"f received n=1e\+20"):
        arguments.count(1e20, "n", "f")
    with pytest.raises(ConfigError, match="n=-1"):
        arguments.count(-1, "n", "f", minimum=0)
