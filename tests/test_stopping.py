"""Tests of `CurveWatch(stop_on=..., restore_best=...)` on real fits, and of
the stop conditions as pure functions."""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch.engine.report import Report  # noqa: E402
from keras_curvewatch.errors import ConfigError  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
from keras_curvewatch.live import stopping  # noqa: E402

EPOCHS = 12


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = ((x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.5).astype(int)
         + (x[:, 2] > 0).astype(int))
    return x, y


def _model(rate, optimizer="sgd"):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(keras.optimizers.get(
        {"class_name": optimizer, "config": {"learning_rate": rate}}),
        "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(model, watch, epochs=EPOCHS):
    x, y = _data()
    return model.fit(x, y, validation_split=0.2, epochs=epochs,
                     batch_size=32, verbose=0, callbacks=[watch])


def _watch(**kwargs):
    return CurveWatch(display=False, warn=lambda finding: None, **kwargs)


def test_parse_stop_on_expands_the_preset_and_keeps_codes():
    assert stopping.parse_stop_on("hopeless") == (
        "nan_loss", "diverging", "not_learning", "chance_level")
    assert stopping.parse_stop_on(["overfitting", "nan_loss", "nan_loss"]) == (
        "overfitting", "nan_loss")
    assert stopping.parse_stop_on(()) == ()


@pytest.mark.parametrize("bad", ["nan", ["nan_loss", "typo_code"], 3, [None]])
def test_unknown_stop_on_lists_the_valid_codes(bad):
    with pytest.raises(ConfigError) as error:
        CurveWatch(stop_on=bad)
    text = str(error.value)
    assert "stop_on" in text
    if not isinstance(bad, int):
        assert "nan_loss" in text and "hopeless" in text


def test_restore_best_must_be_a_bool():
    with pytest.raises(ConfigError, match="restore_best"):
        CurveWatch(stop_on="nan_loss", restore_best="yes")


def test_chance_collapse_needs_a_constant_loss_at_chance():
    ln3 = math.log(3)

    def collapse(losses, train=None):
        return stopping.chance_collapse({"loss": losses}, {"train": train})

    assert collapse([2.0, 1.5] + [ln3] * 4) is not None
    # Still moving: not collapsed.
    assert collapse([ln3 * (1 - 0.01 * i) for i in range(6)]) is None
    # Constant, but not at chance for the 3 known classes (ln 28).
    assert collapse([math.log(28)] * 4, train=[50, 50, 50]) is None
    # At the entropy of an imbalanced prior.
    counts = [80, 15, 5]
    shares = np.asarray(counts) / 100
    prior = float(-np.sum(shares * np.log(shares)))
    hit = collapse([prior] * 5, train=counts)
    assert hit is not None and hit["chance_loss"] == pytest.approx(prior)
    assert collapse([ln3] * 3) is None  # too short


def test_chance_collapse_sees_a_constant_prediction():
    val = [50, 30, 20]
    history = {"loss": [9.0, 3.1, 2.7, 3.3, 2.9],
               "val_accuracy": [0.41, 0.5, 0.2, 0.5, 0.3]}
    hit = stopping.chance_collapse(history, {"val": val})
    assert hit["kind"] == "constant_prediction"
    # Still learning: the loss falls every epoch of the stretch.
    falling = dict(history, loss=[9.0, 3.1, 2.9, 2.8, 2.7])
    assert stopping.chance_collapse(falling, {"val": val}) is None
    history["val_accuracy"][-1] = 0.61  # one epoch off a class share
    assert stopping.chance_collapse(history, {"val": val}) is None
    assert stopping.chance_collapse(history, None) is None


@pytest.mark.backend
def test_nan_run_is_stopped_and_best_weights_restored():
    # A rate schedule that jumps to 1e4 at epoch 4 sends the loss to NaN
    # on every backend, after finite epochs whose weights can be restored.
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    jump = keras.callbacks.LearningRateScheduler(
        lambda epoch, rate: 0.01 if epoch < 4 else 1e4)
    watch = _watch(stop_on="hopeless", restore_best=True)
    x, y = _data()
    history = model.fit(x, y.astype("float32"), validation_split=0.2,
                        epochs=EPOCHS, batch_size=32, verbose=0,
                        callbacks=[jump, watch])
    ran = len(history.history["loss"])
    assert ran < EPOCHS
    stopped = watch.report.stopped
    assert stopped["reason"] == "nan_loss" and stopped["epoch"] == ran - 1
    assert stopped["severity"] == "critical"
    assert any("stopped training" in note for note in watch.report.notes)
    # The weights of a finite epoch are back.
    assert stopped["restored_epoch"] is not None
    assert stopped["restored_epoch"] < 4
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    x_val, y_val = x[-52:], y[-52:].astype("float32")
    assert np.isfinite(model.evaluate(x_val, y_val, verbose=0))
    again = Report.from_dict(watch.report.to_dict())
    assert again.stopped == stopped
    assert Report.from_json(watch.report.to_json()).stopped == stopped


@pytest.mark.backend
def test_healthy_run_is_not_stopped():
    model = _model(1e-2, optimizer="adam")
    watch = _watch(stop_on="hopeless", restore_best=True)
    history = _fit(model, watch)
    assert len(history.history["loss"]) == EPOCHS
    assert watch.report.stopped is None
    assert Report.from_dict(watch.report.to_dict()).stopped is None


def test_default_never_stops_a_nan_run():
    watch = _watch()
    history = _fit(_model(30.0), watch)
    assert len(history.history["loss"]) == EPOCHS
    assert watch.report.has("nan_loss", "critical")
    assert watch.report.stopped is None


def test_restore_best_puts_back_the_weights_of_the_recommended_epoch():
    # SGD at 12 learns for a few epochs, then collapses to a constant
    # loss: the weights put back are those of the recommended epoch.
    model = _model(12.0)
    kept = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            kept[epoch] = [w.copy() for w in model.get_weights()]

    watch = _watch(stop_on="hopeless", restore_best=True)
    x, y = _data()
    history = model.fit(x, y, validation_split=0.2, epochs=20, batch_size=32,
                        verbose=0, callbacks=[Snapshot(), watch])
    stopped = watch.report.stopped
    assert stopped is not None, history.history["loss"]
    restored = stopped["restored_epoch"]
    assert restored is not None
    for now, then in zip(model.get_weights(), kept[restored]):
        np.testing.assert_array_equal(now, then)


_TUNER_RUNS = []  # (learning rate, epochs run), filled by _CountEpochs


class _CountEpochs(keras.callbacks.Callback):
    """Records each trial's epochs; the tuner deep-copies callbacks, so
    the record goes to a module-level list."""

    def on_train_begin(self, logs=None):
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_end(self, logs=None):
        rate = float(keras.ops.convert_to_numpy(
            self.model.optimizer.learning_rate))
        _TUNER_RUNS.append((rate, self.epochs))


def test_stop_on_works_with_keras_tuner(tmp_path):
    keras_tuner = pytest.importorskip("keras_tuner")

    def build(hp):
        return _model(hp.Choice("learning_rate", [300.0, 1e-2]))

    tuner = keras_tuner.RandomSearch(
        build, objective="val_loss", max_trials=2, seed=0,
        directory=str(tmp_path), project_name="stop_on", overwrite=True)
    x, y = _data()
    _TUNER_RUNS.clear()
    tuner.search(x, y, validation_split=0.2, epochs=EPOCHS, batch_size=32,
                 verbose=0,
                 callbacks=[_watch(stop_on="hopeless"), _CountEpochs()])
    epochs = {round(rate, 6): n for rate, n in _TUNER_RUNS}
    assert set(epochs) == {300.0, 0.01}, _TUNER_RUNS
    assert epochs[0.01] == EPOCHS
    assert epochs[300.0] < EPOCHS
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.hyperparameters.get("learning_rate") == 1e-2
