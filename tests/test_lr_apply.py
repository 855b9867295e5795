"""Integration tests of the live learning-rate control on real fits.

Every test here is marked `backend`: CI runs them again under
`KERAS_BACKEND=jax` and `torch` (`pytest -m backend`).
"""

import math
import warnings

import keras
import numpy as np
import pytest

import keras_curvewatch as kcw
from keras_curvewatch.live import callback as kcw_callback
from keras_curvewatch.control import apply as lr_apply
from keras_curvewatch.control.policy import CRITICAL_FACTOR_POWER
from keras_curvewatch.control.policy import LRControl
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.control.apply import ScaledSchedule
from keras_curvewatch.control.controller import LRController

pytestmark = pytest.mark.backend

N = 64
BATCH = 16


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    return x, y


def model_with(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                              keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


class Drive(keras.callbacks.Callback):
    """Runs `LRController` on the engine's report each epoch, as CurveWatch
    does."""

    def __init__(self, control):
        super().__init__()
        self.controller = LRController(control)
        self.results = []

    def on_train_begin(self, logs=None):
        self.history = {}
        self.controller.on_train_begin(self.model)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        report = kcw.analyze(self.history, model=self.model)
        result = self.controller.on_epoch_end(self.model, epoch, logs,
                                              report)
        self.results.append(result)
        logs.update(result["logs"])

    def on_train_end(self, logs=None):
        self.controller.on_train_end(self.model)


class CutRate(keras.callbacks.Callback):
    """After epoch 0, divides every rate by 1e9 through `lr_apply` and
    records the weights, so epoch 1 shows whether the compiled step saw
    it."""

    def on_train_begin(self, logs=None):
        self.tracked = lr_apply.prepare(self.model)
        self.weights = []
        self.train_function = None

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])
        if epoch == 0:
            self.changes = lr_apply.scale_learning_rate(self.model, 1e-9,
                                                        1e-12)
            self.train_function = self.model.train_function
        elif epoch == 1:
            self.same_function = self.model.train_function is (
                self.train_function)

    def on_train_end(self, logs=None):
        lr_apply.release(self.tracked)


def moved(before, after):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(before, after))


@pytest.mark.parametrize("kind", ["float", "schedule", "scaled",
                                  "loss_scale"])
def test_rate_change_takes_effect_without_recompiling(kind):
    rate = 0.05
    if kind == "float":
        optimizer = keras.optimizers.SGD(rate)
    elif kind == "schedule":
        optimizer = keras.optimizers.SGD(
            keras.optimizers.schedules.ExponentialDecay(rate, 100, 0.9))
    elif kind == "scaled":
        optimizer = keras.optimizers.SGD(ScaledSchedule(
            keras.optimizers.schedules.ExponentialDecay(rate, 100, 0.9)))
    else:
        optimizer = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(rate))
    model = model_with(optimizer)
    x, y = data()
    cut = CutRate()
    model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[cut])
    (old, new), = cut.changes
    assert old == pytest.approx(rate, rel=0.1)
    assert new == pytest.approx(old * 1e-9, rel=1e-3)
    assert cut.same_function
    first_epoch = moved([w * 0 for w in cut.weights[0]], cut.weights[0])
    assert first_epoch > 0
    # Epoch 1 ran at ~1e-11: the weights stayed where epoch 0 left them.
    assert moved(cut.weights[0], cut.weights[1]) < 1e-6
    # The user's optimizer is left as built: no extra saved variable.
    inner = lr_apply._inner(model.optimizer)
    if kind in ("schedule", "scaled"):
        assert isinstance(inner._learning_rate, ScaledSchedule)
        assert not any(v is inner._learning_rate.scale
                       for v in inner.variables)


class Poisoned(keras.utils.PyDataset):
    """Batches whose inputs are NaN during the epochs in `bad_epochs`; its
    `callback` tells it which epoch is running."""

    def __init__(self, bad_epochs):
        super().__init__()
        self.x, self.y = data()
        self.bad_epochs = set(bad_epochs)
        self.epoch = 0
        dataset = self

        class Epoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                dataset.epoch = epoch

        self.callback = Epoch()

    def __len__(self):
        return N // BATCH

    def __getitem__(self, index):
        sl = slice(index * BATCH, (index + 1) * BATCH)
        x = self.x[sl].copy()
        if self.epoch in self.bad_epochs:
            x[:] = np.nan
        return x, self.y[sl]


def test_rollback_restores_weights_and_lowers_the_rate():
    model = model_with(keras.optimizers.Adam(0.01))
    drive = Drive(LRControl(factor=0.5))
    poisoned = Poisoned({3})
    history = model.fit(poisoned, epochs=6, verbose=0,
                        callbacks=[poisoned.callback, drive])
    losses = history.history["loss"]
    assert not math.isfinite(losses[3])
    assert all(math.isfinite(v) for v in losses[4:])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    action = drive.controller.actions[0]
    assert action["action"] == "rollback" and action["epoch"] == 3
    assert action["reason"] == "nan_loss"
    assert action["new"] == pytest.approx(
        action["old"] * 0.5 ** CRITICAL_FACTOR_POWER)
    assert history.history["learning_rate"][4] == pytest.approx(
        action["new"])


def test_rollback_restores_the_best_snapshot_exactly():
    model = model_with(keras.optimizers.SGD(0.01))
    drive = Drive(LRControl())
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[drive])
    saved = [np.array(w) for w in drive.controller._snapshot["weights"]]
    for variable in model.trainable_variables:
        variable.assign(np.full(variable.shape, np.nan, dtype="float32"))
    assert lr_apply.restore_snapshot(model, drive.controller._snapshot)
    for restored, expected in zip(model.get_weights(), saved):
        np.testing.assert_array_equal(restored, expected)


def test_stops_cleanly_after_max_rollbacks():
    model = model_with(keras.optimizers.Adam(0.01))
    drive = Drive(LRControl(max_rollbacks=1))
    poisoned = Poisoned(range(2, 10))
    history = model.fit(poisoned, epochs=8, verbose=0,
                        callbacks=[poisoned.callback, drive])
    assert len(history.history["loss"]) == 4
    assert [a["action"] for a in drive.controller.actions] == [
        "rollback", "stop"]
    finding = drive.results[-1]["finding"]
    assert finding.severity == "critical" and finding.code == "nan_loss"
    assert drive.results[-1]["stop"]
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_lowers_a_rate_that_is_far_too_high_and_logs_it():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))
         + 0.5 * rng.normal(size=(200, 1))).astype("float32")
    model = model_with(keras.optimizers.SGD(0.2, momentum=0.9))
    drive = Drive(LRControl())
    history = model.fit(x, y, validation_split=0.25, epochs=14,
                        batch_size=8, verbose=0, callbacks=[drive])
    rates = history.history["learning_rate"]
    assert rates[0] == pytest.approx(0.2)
    assert rates[-1] < rates[0]
    assert all(b <= a for a, b in zip(rates, rates[1:]))
    assert drive.controller.actions
    for action in drive.controller.actions:
        assert set(action) >= {"epoch", "old", "new", "reason", "evidence"}
        if action["action"] == "stop":
            assert action["new"] == action["old"]
        else:
            assert 0 < action["new"] < action["old"]


def test_callable_rate_fails_at_train_begin_with_advice():
    model = model_with(keras.optimizers.SGD(learning_rate=lambda: 0.01))
    x, y = data()
    with pytest.raises(ConfigError, match="Pass a float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[Drive(True)])


def test_several_optimizers_are_all_scaled():
    model = model_with(keras.optimizers.SGD(0.1))
    model.aux_optimizer = keras.optimizers.Adam(0.01)
    assert len(lr_apply.optimizers_of(model)) == 2
    changes = lr_apply.scale_learning_rate(model, 0.5, min_lr=0.02)
    assert [new for _, new in changes] == [pytest.approx(0.05),
                                           pytest.approx(0.01)]
    assert lr_apply.get_learning_rate(model) == pytest.approx(0.05)


def test_scaled_schedule_round_trips(tmp_path):
    schedule = ScaledSchedule(
        keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), 0.25)
    again = ScaledSchedule.from_config(schedule.get_config())
    for step in (0, 10, 35):
        assert float(again(step)) == pytest.approx(float(schedule(step)))
    assert float(schedule(10)) == pytest.approx(0.1 * 0.5 * 0.25)
    model = model_with(keras.optimizers.SGD(schedule))
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    rate = loaded.optimizer._learning_rate
    assert isinstance(rate, ScaledSchedule)
    assert float(rate.scale.numpy()) == pytest.approx(0.25)


def test_scaled_schedule_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="LearningRateSchedule"):
        ScaledSchedule(0.1)
    with pytest.raises(ConfigError, match="scale=0.0"):
        ScaledSchedule(
            keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), 0.0)


# CurveWatch(lr_control=...) itself: the integration under test.
ControlledWatch = kcw_callback.CurveWatch


def test_curvewatch_integration_rescues_nan_and_records_actions():
    model = model_with(keras.optimizers.Adam(0.01))
    poisoned = Poisoned({3})
    watch = ControlledWatch(lr_control=LRControl(), warn=lambda f: None,
                            display=False)
    history = model.fit(poisoned, epochs=6, verbose=0,
                        callbacks=[poisoned.callback, watch])
    assert not watch.disabled, watch.error
    assert all(math.isfinite(v) for v in history.history["loss"][4:])
    rates = history.history["learning_rate"]
    assert rates[4] < rates[3] == pytest.approx(0.01)
    actions = watch.report.actions
    assert actions and actions[0]["reason"] == "nan_loss"
    assert {"epoch", "old", "new", "reason", "evidence"} <= set(actions[0])
    again = kcw.Report.from_json(watch.report.to_json())
    assert again.actions[0]["new"] == pytest.approx(actions[0]["new"])


def test_curvewatch_with_lr_control_reports_one_nan_loss():
    """The engine's nan_loss and the controller's stop finding go through
    the session's one merge point: one finding, not two."""
    model = model_with(keras.optimizers.Adam(0.01))
    poisoned = Poisoned(range(2, 10))
    watch = ControlledWatch(lr_control=LRControl(max_rollbacks=1),
                            warn=lambda f: None, display=False)
    model.fit(poisoned, epochs=8, verbose=0,
              callbacks=[poisoned.callback, watch])
    assert not watch.disabled, watch.error
    assert [a["action"] for a in watch.report.actions] == ["rollback", "stop"]
    assert watch.report.codes.count("nan_loss") == 1
    assert watch.report.get("nan_loss").severity == "critical"


@pytest.mark.parametrize("monitor,validate,warned", [
    ("val_los", True, True),  # a typo: validation ran, the name is wrong
    ("val_loss", False, True),  # no validation at all
    ("val_loss", True, False),
    ("loss", False, False),
])
def test_a_missing_monitor_warns_and_lists_the_metrics(monitor, validate,
                                                       warned):
    model = model_with(keras.optimizers.Adam(0.01))
    x, y = data()
    watch = ControlledWatch(lr_control=LRControl(monitor=monitor),
                            warn=lambda f: None, display=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=BATCH, verbose=0,
                  validation_split=0.25 if validate else 0.0,
                  callbacks=[watch])
    assert not watch.disabled, watch.error
    messages = [str(w.message) for w in caught
                if "LRControl is conditioned" in str(w.message)]
    assert len(messages) == int(warned), messages
    if warned:
        assert f"`{monitor}`" in messages[0]
        expected = "loss, val_loss" if validate else "loss."
        assert f"Available metrics are: {expected}" in messages[0]
