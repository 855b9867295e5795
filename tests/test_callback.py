"""Tests of the live `CurveWatch` callback, on real `fit` runs.

Run under each backend, in separate processes:
`KERAS_BACKEND=jax python3 -m pytest tests/test_callback.py`.
"""

import csv
import json
import logging
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch.engine.batch_stats import VAL_SAMPLES  # noqa: E402
from keras_curvewatch.live import loss_tap  # noqa: E402
from keras_curvewatch.live import warning_types  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
from keras_curvewatch.errors import ConfigError  # noqa: E402
from keras_curvewatch.engine.findings import CODES  # noqa: E402
from keras_curvewatch.engine.findings import Finding  # noqa: E402
from keras_curvewatch.live.warning_types import CurveWarning  # noqa: E402
from keras_curvewatch.live.warning_types import CurvewatchDisabledWarning  # noqa
from keras_curvewatch.live.warning_types import Notifier  # noqa: E402
from keras_curvewatch.live.warning_types import OverparameterizedWarning  # noqa
from keras_curvewatch.live.warning_types import SmallBatchWarning  # noqa: E402

# Run again under KERAS_BACKEND=jax and torch by .ci/run.
pytestmark = pytest.mark.backend

BATCH_STAT_KEYS = ("loss_batch_std", "loss_flip_rate", "loss_batch_min",
                   "loss_batch_max")


def _data(n=40, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]
         + 0.3 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def _model(width=8, seed=0, optimizer="adam", depth=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((6,))]
        + [keras.layers.Dense(width, activation="tanh") for _ in range(depth)]
        + [keras.layers.Dense(1)]
    )
    model.compile(optimizer, "mse")
    return model


def _fit(model, watch, epochs=3, batch_size=4, extra=(), **kwargs):
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs,
                            validation_split=0.25, shuffle=False, verbose=0,
                            callbacks=[watch, *extra], **kwargs)
    return history, [w for w in caught
                     if issubclass(w.category, (CurveWarning,
                                                CurvewatchDisabledWarning))]


def test_small_batch_and_overparameterized_warn_with_no_arguments():
    watch = CurveWatch()
    # 67,841 trainable parameters for 30 training samples.
    _, caught = _fit(_model(width=256, depth=2), watch, epochs=2)
    categories = [w.category for w in caught]
    assert SmallBatchWarning in categories
    assert OverparameterizedWarning in categories
    # Each code once: nothing new in epoch 2 raises again.
    assert len(categories) == len(set(categories))
    text = str(caught[categories.index(SmallBatchWarning)].message)
    assert "Batch size 4" in text and "try:" in text and "cause 1:" in text
    context = watch.report.context
    assert context["batch_size"] == 4  # measured on the device
    assert context["n_train"] == 30  # 40 samples, validation_split=0.25
    assert context["n_val"] == 10  # counted by Keras's loss tracker
    assert context["n_params"] == watch.model.count_params()


@pytest.mark.parametrize("in_step", [False, True])
def test_the_validation_size_is_measured_with_or_without_the_test_step(
        in_step):
    # By default the test step is left untapped and the size comes from
    # Keras's loss tracker, read once; the tap's own count (kept under
    # tf.distribute with several replicas) gives the same, from the first
    # epoch that validated (validation_freq=2: epochs 2 and 4).
    model = _model()
    accumulator = loss_tap.install(model, count_validation=in_step or None)
    assert accumulator.counts_validation is in_step
    assert loss_tap.validation_counter(model) is not None
    watch = CurveWatch()
    _fit(model, watch, epochs=4, validation_freq=2)
    assert watch._session.measured["n_val"] == 10
    assert watch.report.context["n_val"] == 10
    assert watch.report.context["n_train"] == 30
    # The test step wrote the count only when asked to.
    counted = accumulator.read_slice(VAL_SAMPLES, 1)[0]
    assert bool(counted > 0) is in_step
    # Another fit on the same model measures its own validation set.
    again = CurveWatch()
    model.fit(*_data(), batch_size=4, epochs=1, verbose=0,
              validation_data=_data(n=7, seed=3), callbacks=[again])
    assert again.report.context["n_val"] == 7


class _GuideTestStep(keras.Sequential):
    # A test step written as Keras's guide does: the loss tracker gets the
    # loss unweighted, so its count is the number of batches.
    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        self._loss_tracker.update_state(loss)
        return {"loss": self._loss_tracker.result()}


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="JAX's test_step is stateless: (state, data)")
def test_a_test_step_of_the_models_own_is_counted_by_the_tap():
    keras.utils.set_random_seed(0)
    model = _GuideTestStep([keras.Input((6,)), keras.layers.Dense(1)],
                           name="guide")
    model.compile("adam", "mse")
    assert loss_tap.validation_counter(model) is None
    watch = CurveWatch()
    _fit(model, watch, epochs=2)
    assert loss_tap.installed_accumulator(model).counts_validation
    # 10 samples in 3 batches of at most 4: the tracker's count says 3.
    assert float(keras.ops.convert_to_numpy(model._loss_tracker.count)) == 3
    assert watch.report.context["n_val"] == 10


def test_batch_statistics_go_into_history_and_csv_logger(tmp_path):
    watch = CurveWatch(log_batch_stats=True)
    path = str(tmp_path / "log.csv")
    history, _ = _fit(_model(), watch, epochs=3,
                      extra=[keras.callbacks.CSVLogger(path)])
    steps = 30 // 4 + 1
    losses = np.array(watch.report.batch["batch_losses"])
    assert len(losses) == 3 * steps
    for epoch in range(3):
        chunk = losses[epoch * steps:(epoch + 1) * steps]
        logged = {k: history.history[k][epoch] for k in BATCH_STAT_KEYS}
        np.testing.assert_allclose(logged["loss_batch_std"],
                                   chunk.std(ddof=1), rtol=1e-4)
        assert logged["loss_batch_min"] == pytest.approx(chunk.min())
        assert logged["loss_batch_max"] == pytest.approx(chunk.max())
        assert 0.0 <= logged["loss_flip_rate"] <= 1.0
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    np.testing.assert_allclose(
        [float(r["loss_batch_std"]) for r in rows],
        history.history["loss_batch_std"], rtol=1e-6)
    assert watch.history["loss"] == pytest.approx(history.history["loss"])


def test_per_batch_off_falls_back_to_epoch_logs():
    watch = CurveWatch(per_batch=False, batch_size=4)
    history, caught = _fit(_model(), watch, epochs=2)
    assert not set(BATCH_STAT_KEYS) & set(watch.history)
    assert any("Per-batch statistics are off" in n for n in watch.report.notes)
    assert watch.report.has("small_batch")  # from the argument
    assert not watch.disabled


def test_warn_logging_and_callable(caplog):
    with caplog.at_level(logging.INFO, logger="keras_curvewatch"):
        _, caught = _fit(_model(), CurveWatch(warn="logging"), epochs=1)
    assert not caught
    records = [r for r in caplog.records if r.name == "keras_curvewatch"]
    assert any("small_batch" in r.getMessage() and r.levelno == logging.WARNING
               for r in records)
    seen = []
    _, caught = _fit(_model(), CurveWatch(warn=seen.append), epochs=1)
    assert not caught
    assert "small_batch" in [f.code for f in seen]
    assert all(isinstance(f, Finding) for f in seen)
    with pytest.raises(ConfigError, match="warn must be one of"):
        CurveWatch(warn="print")


def test_each_code_warns_once_and_again_only_when_severity_rises():
    def finding(severity):
        return Finding(code="small_batch", severity=severity, message="m")

    notifier = Notifier(warn="warnings")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(notifier.notify([finding("info")])) == 1
        assert notifier.notify([finding("info")]) == []
        assert len(notifier.notify([finding("warning")])) == 1
        assert notifier.notify([finding("info"), finding("warning")]) == []
        assert len(notifier.notify([finding("critical")])) == 1
    assert [w.category for w in caught] == [SmallBatchWarning] * 3
    restored = Notifier()
    restored.set_state(json.loads(json.dumps(notifier.get_state())))
    assert restored.notify([finding("critical")]) == []


def test_one_warning_class_per_code():
    for code in CODES:
        category = warning_types.warning_class(code)
        assert issubclass(category, CurveWarning)
        assert issubclass(category, UserWarning)
        name = "".join(p.capitalize() for p in code.split("_")) + "Warning"
        assert category.__name__ == name
    assert len({warning_types.warning_class(c) for c in CODES}) == len(CODES)


class _FaultAtEpoch(CurveWatch):
    def __init__(self, fault_epoch, **kwargs):
        super().__init__(**kwargs)
        self.fault_epoch = fault_epoch

    # The epoch-end work, which runs every epoch whatever the diagnosis
    # cadence (live/cadence.py) decides.
    def _epoch_end(self, epoch, logs):
        if len(self._epochs) == self.fault_epoch:
            raise RuntimeError("injected fault")
        return super()._epoch_end(epoch, logs)


def test_an_internal_error_disables_the_callback_and_training_goes_on():
    watch = _FaultAtEpoch(fault_epoch=1)
    history, caught = _fit(_model(), watch, epochs=4)
    assert len(history.history["loss"]) == 4
    disabled = [w for w in caught if w.category is CurvewatchDisabledWarning]
    assert len(disabled) == 1
    assert "injected fault" in str(disabled[0].message)
    assert watch.disabled and watch.report.n_epochs == 1
    # Even with every warning turned into an error, training goes on.
    watch = _FaultAtEpoch(fault_epoch=0)
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = _model().fit(x, y, batch_size=4, epochs=2, verbose=0,
                               callbacks=[watch])
    assert len(history.history["loss"]) == 2 and watch.disabled


def test_a_fault_in_the_device_tap_leaves_the_loss_untouched():
    x, y = _data()
    reference = _model()
    reference.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    model = _model()
    accumulator = loss_tap.install(model)

    def broken(*args, **kwargs):
        raise ValueError("injected tap fault")

    # Whichever path this backend takes (graph, fused or eager).
    accumulator.update_state = accumulator.add_graph = broken
    accumulator.add_eager = broken
    watch = CurveWatch()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                  callbacks=[watch])
    disabled = [w for w in caught if w.category is CurvewatchDisabledWarning]
    assert len(disabled) == 1
    assert "injected tap fault" in str(disabled[0].message)
    for a, b in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_one_instance_is_reused_across_fit_calls():
    watch = CurveWatch()
    model = _model()
    _fit(model, watch, epochs=3)
    first_losses = list(watch.report.batch["batch_losses"])
    history, caught = _fit(model, watch, epochs=2)
    assert watch.report.n_epochs == 2
    assert len(watch.history["loss"]) == 2
    assert len(watch.report.batch["batch_losses"]) == 2 * 8
    assert watch.report.batch["batch_losses"] != first_losses[:16]
    assert len(watch.history["loss_batch_std"]) == 2
    # State was reset: the small-batch warning is raised again.
    assert SmallBatchWarning in [w.category for w in caught]
    # A recompiled model keeps its tap: the new train function traces it.
    model.compile("sgd", "mse")
    history, _ = _fit(model, watch, epochs=1)
    assert len(watch.report.batch["batch_losses"]) == 8
    assert np.isfinite(watch.history["loss_batch_std"][0])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="a TensorFlow-style custom train_step")
def test_a_train_step_without_compute_loss_turns_per_batch_off():
    class OwnStep(keras.Sequential):
        def train_step(self, data):
            import tensorflow as tf

            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((self(x, training=True) - y) ** 2)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(grads, self.trainable_variables)
            return {"loss": loss}

    keras.utils.set_random_seed(0)
    model = OwnStep([keras.Input((6,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    watch = CurveWatch(batch_size=4)
    history, caught = _fit(model, watch, epochs=2)
    assert len(history.history["loss"]) == 2 and not watch.disabled
    assert not set(BATCH_STAT_KEYS) & set(watch.history)
    assert any("never called model.compute_loss" in n
               for n in watch.report.notes)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated preemption")


def _comparable(report):
    data = report.to_dict()
    return {
        "codes": [(f["code"], f["severity"]) for f in data["findings"]],
        "best_epoch": data["best_epoch"],
        "n_epochs": data["n_epochs"],
        "loss": data["series"]["loss"]["values"],
        "val_loss": data["series"]["val_loss"]["values"],
        "batch_losses": data["batch"]["batch_losses"],
    }


def test_resume_with_backup_and_restore_gives_the_same_report(tmp_path):
    epochs = 5
    straight_dir = str(tmp_path / "straight")
    watch = CurveWatch(backup_dir=straight_dir)
    _fit(_model(), watch, epochs=epochs,
         extra=[keras.callbacks.BackupAndRestore(straight_dir)])
    expected = _comparable(watch.report)

    backup_dir = str(tmp_path / "backup")
    first = CurveWatch(backup_dir=keras.callbacks.BackupAndRestore(backup_dir))
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), first, epochs=epochs,
             extra=[keras.callbacks.BackupAndRestore(backup_dir),
                    _Interrupt(epoch=2)])
    state_path = os.path.join(backup_dir, "curvewatch_state.json")
    with open(state_path) as f:
        assert len(json.load(f)["epochs"]) == 3
    assert not [p for p in os.listdir(backup_dir) if p.startswith(".")]

    resumed = CurveWatch(backup_dir=backup_dir)
    _, caught = _fit(_model(), resumed, epochs=epochs,
                     extra=[keras.callbacks.BackupAndRestore(backup_dir)])
    assert resumed.resumed_at == 3
    got = _comparable(resumed.report)
    assert got["codes"] == expected["codes"]
    assert got["best_epoch"] == expected["best_epoch"]
    assert got["n_epochs"] == expected["n_epochs"] == epochs
    for key in ("loss", "val_loss", "batch_losses"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5)
    # Warnings already raised before the interruption are not raised again.
    assert SmallBatchWarning not in [w.category for w in caught]


def test_state_round_trips_through_json():
    watch = CurveWatch()
    _fit(_model(), watch, epochs=2)
    state = json.loads(json.dumps(watch.get_state()))
    other = CurveWatch()
    other.set_state(state)
    assert other.get_state() == watch.get_state()
    with pytest.raises(ConfigError, match="state version"):
        other.set_state(dict(state, version=99))


def test_invalid_arguments_are_rejected():
    with pytest.raises(ConfigError, match="batch_size"):
        CurveWatch(batch_size=0)
    with pytest.raises(ConfigError, match="n_val"):
        CurveWatch(n_val=2.5)
    with pytest.raises(ConfigError, match="backup_dir"):
        CurveWatch(backup_dir=3)


def test_lint_findings_of_the_model_appear_in_the_live_report():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3, activation="relu"),
        keras.layers.Softmax(),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 64)
    seen = []
    watch = CurveWatch(warn=seen.append, display=False)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[watch])
    assert not watch.disabled, watch.error
    assert watch.report.has("relu_before_softmax")
    assert [f.code for f in seen].count("relu_before_softmax") == 1


def test_not_converged_is_raised_at_train_end_only():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    # A slow rate: the loss falls steadily through every epoch.
    model.compile(keras.optimizers.SGD(0.002), "mse")
    seen = []

    class EpochMark(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch))

    watch = CurveWatch(warn=lambda f: seen.append(("finding", f.code)),
                       display=False)
    model.fit(x, y, validation_split=0.25, batch_size=32, epochs=12,
              verbose=0, callbacks=[watch, EpochMark()])
    assert watch.report.has("not_converged"), str(watch.report)
    position = seen.index(("finding", "not_converged"))
    assert ("epoch", 11) in seen[:position]
