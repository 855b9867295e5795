"""Property-based misuse of the public arguments: `analyze`, `CurveWatch`
and `lint`, and `Report` round-trips.

Each case gives a result, or a documented error (`ConfigError` for an
argument, `InputError` for the history itself) whose message names the
argument and the value and says what was expected. Nothing else escapes.
"""

import math
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402
from keras_curvewatch.errors import ConfigError  # noqa: E402
from keras_curvewatch.errors import InputError  # noqa: E402
from keras_curvewatch.engine.report import Report  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

# Long integers make long example reprs; that is the point of them.
pytestmark = pytest.mark.filterwarnings(
    "ignore::hypothesis.errors.HypothesisWarning")

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

HISTORY = {"loss": [1.0, 0.8, 0.7, 0.6, 0.5, 0.45, 0.42, 0.4],
           "val_loss": [1.1, 0.9, 0.8, 0.75, 0.7, 0.7, 0.71, 0.72]}

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-10 ** 400, max_value=10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.binary(max_size=4),
    st.sampled_from([np.int64(7), np.float32(2.5), np.bool_(True),
                     np.float64("nan")]),
)
garbage = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.tuples(inner, inner),
        st.frozensets(st.integers(0, 5), max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=12,
)


def _named(error, name):
    """The message names the argument and says what was expected."""
    message = str(error)
    assert name in message, message
    assert "expected" in message.lower(), message


ANALYZE_ARGS = ("batch_size", "n_train", "n_val", "n_params",
                "steps_per_epoch", "layers", "batch_losses", "model")


@FUZZ
@given(name=st.sampled_from(ANALYZE_ARGS), value=garbage)
def test_analyze_arguments(name, value):
    try:
        report = kcw.analyze(HISTORY, **{name: value})
    except ConfigError as error:
        _named(error, name)
    else:
        assert isinstance(report, Report)


history_values = st.lists(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10 ** 400, max_value=10 ** 400),
    st.booleans(), st.none(), st.text(max_size=4),
    st.frozensets(st.integers(0, 3), max_size=2)), min_size=1, max_size=8)


@FUZZ
@given(loss=history_values, epochs=st.one_of(st.none(), history_values))
def test_analyze_history_dict_values(loss, epochs):
    source = {"loss": loss}
    if epochs is not None:
        source["epoch"] = epochs
    try:
        report = kcw.analyze(source)
    except InputError as error:
        assert "expected" in str(error).lower(), str(error)
        assert "'loss'" in str(error) or "epoch" in str(error) or (
            "dict" in str(error)), str(error)
    else:
        assert isinstance(report, Report)


@FUZZ
@given(source=st.dictionaries(
    st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy",
                     "epoch", "lr", "val_acc"]),
    st.one_of(history_values, garbage), min_size=1, max_size=5))
def test_analyze_history_dicts_of_any_shape(source):
    try:
        report = kcw.analyze(source)
    except InputError as error:
        assert "expected" in str(error).lower(), str(error)
    else:
        assert isinstance(report, Report)


CURVEWATCH_ARGS = ("batch_size", "n_train", "n_val", "warn", "per_batch",
                   "backup_dir", "display", "lr_control", "log_batch_stats")


@FUZZ
@given(name=st.sampled_from(CURVEWATCH_ARGS), value=garbage)
def test_curvewatch_arguments(name, value):
    try:
        watch = CurveWatch(**{name: value})
    except ConfigError as error:
        assert name in str(error), str(error)
    else:
        assert isinstance(watch, keras.callbacks.Callback)


@pytest.fixture(scope="module")
def classifier():
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


arrays = st.one_of(
    garbage,
    st.integers(0, 12).map(lambda n: np.zeros((n, 3), "float32")),
    st.integers(0, 12).map(lambda n: np.full((n, 3), np.nan)),
    st.integers(0, 12).map(lambda n: np.arange(n) % 2),
    st.integers(0, 12).map(lambda n: np.zeros(n, int)),
)
LINT_ARGS = ("x", "y", "batch_size", "validation_split", "shuffle")


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(LINT_ARGS + ("model",)),
       value=arrays, other=arrays)
def test_lint_arguments(classifier, name, value, other):
    kwargs = {name: value}
    if name == "x":
        kwargs["y"] = other
    model = kwargs.pop("model", classifier)
    try:
        findings = kcw.lint(model, **kwargs)
    except ConfigError as error:
        message = str(error)
        assert "expected" in message.lower(), message
        assert name in message or "x has" in message, message
    else:
        assert all(f.code in kcw.CODES for f in findings)


names = st.text(max_size=10) | st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "__str__", "nan"])
curve = st.lists(st.floats(allow_nan=True, allow_infinity=True,
                           width=64), min_size=1, max_size=12)


@FUZZ
@given(loss=curve, val=st.one_of(st.none(), curve),
       layers=st.lists(names, max_size=4))
def test_report_round_trips(loss, val, layers):
    source = {"loss": loss}
    if val is not None and len(val) == len(loss):
        source["val_loss"] = val
    report = kcw.analyze(source, layers=layers)
    assert Report.from_dict(report.to_dict()) == report
    again = Report.from_json(report.to_json())
    assert again == report
    assert list(again.context["layers"]) == list(report.context["layers"])
    assert all(isinstance(name, str) for name in again.context["layers"])
    finite = [v for v in loss if math.isfinite(v)]
    if len(loss) >= 5 and finite:
        assert report.n_epochs == len(loss)
