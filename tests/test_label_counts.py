"""Tests of the live label counts and the `split_mismatch` finding: real
fits on class-sorted arrays with `validation_split`, under each backend.

Run under each backend: `KERAS_BACKEND=jax python3 -m pytest
tests/test_label_counts.py`.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch.engine.findings import CURVE_CODES  # noqa: E402
from keras_curvewatch.engine.rules.split import blame_split  # noqa: E402
from keras_curvewatch.engine.rules.split import split_mismatch  # noqa: E402
from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
from keras_curvewatch.live.label_counts import label_kind  # noqa: E402

# Run again under KERAS_BACKEND=jax and torch by .ci/run.
pytestmark = pytest.mark.backend

N = 300


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 8)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    return x, y


def _sorted(x, y):
    order = np.argsort(y, kind="stable")
    return x[order], y[order]


def _model(units=3, loss="sparse_categorical_crossentropy",
           activation="softmax"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(units, activation=activation),
    ])
    model.compile("adam", loss, metrics=["accuracy"])
    return model


def _fit(model, x, y, epochs=6):
    watch = CurveWatch(display=False, warn=lambda finding: None)
    model.fit(x, y, validation_split=0.2, epochs=epochs, batch_size=32,
              verbose=0, callbacks=[watch])
    assert not watch.disabled, watch.error
    return watch


def test_class_sorted_split_raises_split_mismatch_at_epoch_0():
    x, y = _sorted(*_data())
    watch = _fit(_model(), x, y)
    split_at = int(N * 0.8)
    expected_train = np.bincount(y[:split_at], minlength=3)
    assert watch.report.context["class_counts"] == list(expected_train)
    finding = watch.report.get("split_mismatch")
    assert finding is not None and finding.severity == "critical"
    assert finding.epoch == 0
    # The counts of both sides are in the message, with Keras's behaviour
    # and the fix.
    expected_val = np.bincount(y[split_at:], minlength=3)
    for c in range(3):
        assert (f"class {c}: {expected_train[c]} / {expected_val[c]}"
                in finding.message)
    assert "LAST samples" in finding.message
    assert "before any shuffling" in finding.message
    assert "validation_data" in finding.suggestion
    assert "permutation" in finding.suggestion
    # Later curve findings name it as their first cause.
    curve = [f for f in watch.report.findings if f.code in CURVE_CODES]
    for f in curve:
        assert f.causes[0][0] == "data_shuffling", f


def test_shuffled_control_has_no_split_mismatch():
    x, y = _data()
    watch = _fit(_model(), x, y)
    assert watch.report.get("split_mismatch") is None
    assert sum(watch.report.context["class_counts"]) == int(N * 0.8)


def test_one_hot_labels_are_counted():
    x, y = _sorted(*_data())
    model = _model(loss="categorical_crossentropy")
    watch = _fit(model, x, keras.utils.to_categorical(y, 3), epochs=2)
    assert watch.report.context["class_counts"] == list(
        np.bincount(y[:int(N * 0.8)], minlength=3))
    assert watch.report.has("split_mismatch", "critical")


def test_binary_labels_are_counted():
    x, y = _data()
    y = (y > 0).astype("float32")
    order = np.argsort(y, kind="stable")
    model = _model(units=1, loss="binary_crossentropy", activation="sigmoid")
    watch = _fit(model, x[order], y[order], epochs=2)
    train = y[order][:int(N * 0.8)]
    assert watch.report.context["class_counts"] == [int((train == 0).sum()),
                                   int((train == 1).sum())]
    assert watch.report.has("split_mismatch")


def test_regression_labels_are_not_counted():
    x, y = _data()
    model = _model(units=1, loss="mse", activation=None)
    assert label_kind(model)[0] is None
    watch = _fit(model, x, y.astype("float32"), epochs=2)
    assert watch.report.context["class_counts"] is None
    assert loss_tap.installed_accumulator(model).labels is None


def test_counts_are_cleared_for_a_second_fit():
    x, y = _data()
    model = _model()
    _fit(model, x, y, epochs=2)
    watch = _fit(model, x, y, epochs=1)
    assert sum(watch.report.context["class_counts"]) == int(N * 0.8)


def test_split_mismatch_pure():
    assert split_mismatch([100, 100, 100], [25, 25, 25]) == []
    # A random split of a balanced set: no finding.
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=2000)
    side = rng.random(2000) < 0.2
    assert split_mismatch(np.bincount(labels[~side], minlength=4),
                          np.bincount(labels[side], minlength=4)) == []
    # A large shift without a missing class: a warning.
    found = split_mismatch([400, 400], [40, 160])
    assert found and found[0].severity == "warning"
    # A small class missing from validation by chance is not a finding.
    assert split_mismatch([1000, 20], [250, 0]) == []
    assert split_mismatch([0, 0], [1, 2]) == []


def test_blame_split_puts_data_shuffling_first():
    split = split_mismatch([100, 100, 0], [0, 20, 40])
    from keras_curvewatch.engine.findings import Finding

    overfit = Finding(code="overfitting", severity="warning", message="m",
                      causes=(("model_capacity", "a"),
                              ("data_shuffling", "b")))
    out = blame_split([overfit], split)
    assert [f.code for f in out] == ["overfitting", "split_mismatch"]
    assert [c for c, _ in out[0].causes] == ["data_shuffling",
                                             "model_capacity"]
    assert blame_split([overfit], []) == [overfit]


class _ReadCounts(keras.callbacks.Callback):
    """Clears the accumulator each epoch and reads its counts and batch
    statistics at the end."""

    def __init__(self, capacity=None):
        super().__init__()
        self.capacity = capacity

    def on_train_begin(self, logs=None):
        self.accumulator = loss_tap.install(
            self.model, capacity=self.capacity, steps=self.params["steps"],
            count_validation=True)
        self.counts, self.stats = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.accumulator.clear()

    def on_epoch_end(self, epoch, logs=None):
        self.counts.append(self.accumulator.labels.read())
        self.stats.append((self.accumulator.read(), logs["loss"]))


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("capacity", [None, 4])
def test_counts_share_the_accumulator_without_touching_the_losses(
        jit_compile, capacity):
    # The counts live after the ring in the accumulator's one variable:
    # both sides are exact every epoch, and the batch losses beside them
    # still average to the logged loss, whether the ring holds the epoch
    # or the step folds it (4 slots for 8 batches).
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("XLA is not used on torch")
    x, y = _data()
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    read = _ReadCounts(capacity)
    model.fit(x, y, validation_split=0.2, epochs=3, batch_size=32,
              verbose=0, callbacks=[read])
    split_at = int(N * 0.8)
    for (train, val), (stats, logged) in zip(read.counts, read.stats):
        np.testing.assert_array_equal(train, np.bincount(y[:split_at],
                                                         minlength=3))
        np.testing.assert_array_equal(val, np.bincount(y[split_at:],
                                                       minlength=3))
        assert stats.n_batches == 8 and stats.val_samples == N - split_at
        np.testing.assert_allclose(stats.weighted_mean, logged, rtol=1e-4)
