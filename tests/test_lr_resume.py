"""Resuming a run with `BackupAndRestore` and `CurveWatch(lr_control=...)`:
callback order x a float rate or a schedule x an interruption at an epoch
end or mid-epoch. Each resumed run must end with the same report codes,
rate history, actions and weights as the uninterrupted run.

The data has NaN inputs at epochs 2, 4 and 6, so the control rolls back
before, at and after the interruption (during or at the end of epoch 4),
and shifted targets at epoch 5, so the best weights stay those from before
the interruption: the rollback after it must restore them, at the same
lowered rate.
"""

import math
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch.control import apply as lr_apply  # noqa: E402
from keras_curvewatch.control.policy import LRControl  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
from keras_curvewatch.live.warning_types import (  # noqa: E402
    CurvewatchDisabledWarning)

pytestmark = pytest.mark.backend

N, BATCH, EPOCHS = 48, 8, 8
BAD_EPOCHS = (2, 4, 6)
SHIFTED_EPOCH = 5
INTERRUPT_EPOCH = 4


class Poisoned(keras.utils.PyDataset):
    """Batches in a fixed order whose inputs are NaN in `BAD_EPOCHS` and
    whose targets are shifted in `SHIFTED_EPOCH`."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(N, 4)).astype("float32")
        self.y = (self.x @ rng.normal(size=(4, 1))).astype("float32")
        self.epoch = 0

    def __len__(self):
        return N // BATCH

    def __getitem__(self, index):
        rows = slice(index * BATCH, (index + 1) * BATCH)
        x = self.x[rows].copy()
        if self.epoch in BAD_EPOCHS:
            x[:] = np.nan
        shift = 1.0 if self.epoch == SHIFTED_EPOCH else 0.0
        return x, self.y[rows] + shift


class Track(keras.callbacks.Callback):
    """Tells the dataset the epoch; raises KeyboardInterrupt at the end of
    `at_epoch`, or after its second batch when `mid_epoch`."""

    def __init__(self, dataset, at_epoch=None, mid_epoch=False):
        super().__init__()
        self.dataset, self.at_epoch, self.mid_epoch = (dataset, at_epoch,
                                                       mid_epoch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.epoch = self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.mid_epoch and self.epoch == self.at_epoch and batch == 1:
            raise KeyboardInterrupt("simulated preemption mid-epoch")

    def on_epoch_end(self, epoch, logs=None):
        if not self.mid_epoch and epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated preemption")


def _model(rate):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                              keras.layers.Dense(1)])
    if rate == "schedule":
        rate = keras.optimizers.schedules.ExponentialDecay(
            0.02, decay_steps=6, decay_rate=0.9)
    else:
        rate = 0.02
    model.compile(optimizer=keras.optimizers.SGD(rate, momentum=0.5),
                  loss="mse")
    return model


def _fit(model, backup_dir, order, at_epoch=None, mid_epoch=False):
    dataset = Poisoned()
    watch = CurveWatch(backup_dir=backup_dir, lr_control=LRControl(),
                       warn=lambda finding: None, display=False)
    backup = keras.callbacks.BackupAndRestore(backup_dir)
    pair = [watch, backup] if order == "watch_first" else [backup, watch]
    track = Track(dataset, at_epoch, mid_epoch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurvewatchDisabledWarning)
        model.fit(dataset, epochs=EPOCHS, verbose=0, shuffle=False,
                  callbacks=pair + [track])
    return watch


def _outcome(watch, model):
    report = watch.report
    return {
        "codes": sorted((f.code, f.severity) for f in report.findings),
        "rates": [float(v) for v in watch.history["learning_rate"]],
        "actions": [(a["epoch"], a["action"], a["reason"], a["old"],
                     a["new"]) for a in report.actions],
        "weights": [np.array(w) for w in model.get_weights()],
        "n_epochs": report.n_epochs,
    }


_UNINTERRUPTED = {}


def _uninterrupted(tmp_path_factory, order, rate):
    key = order, rate
    if key not in _UNINTERRUPTED:
        model = _model(rate)
        directory = str(tmp_path_factory.mktemp("straight"))
        _UNINTERRUPTED[key] = _outcome(_fit(model, directory, order), model)
    return _UNINTERRUPTED[key]


@pytest.mark.parametrize("mid_epoch", [False, True],
                         ids=["epoch_end", "mid_epoch"])
@pytest.mark.parametrize("rate", ["float", "schedule"])
@pytest.mark.parametrize("order", ["watch_first", "backup_first"])
def test_resumed_run_matches_the_uninterrupted_one(tmp_path,
                                                   tmp_path_factory, order,
                                                   rate, mid_epoch):
    expected = _uninterrupted(tmp_path_factory, order, rate)
    # The run under test rolls back on both sides of the interruption.
    rollbacks = [a[0] for a in expected["actions"] if a[1] == "rollback"]
    assert min(rollbacks) < INTERRUPT_EPOCH < max(rollbacks)

    backup_dir = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(rate), backup_dir, order, at_epoch=INTERRUPT_EPOCH,
             mid_epoch=mid_epoch)
    model = _model(rate)
    resumed = _fit(model, backup_dir, order)
    assert resumed.resumed_at == (INTERRUPT_EPOCH if mid_epoch
                                  else INTERRUPT_EPOCH + 1)
    got = _outcome(resumed, model)
    assert got["codes"] == expected["codes"]
    assert got["n_epochs"] == expected["n_epochs"]
    np.testing.assert_allclose(got["rates"], expected["rates"], rtol=1e-6)
    assert [a[:3] for a in got["actions"]] == [
        a[:3] for a in expected["actions"]]
    np.testing.assert_allclose([a[3:] for a in got["actions"]],
                               [a[3:] for a in expected["actions"]],
                               rtol=1e-6)
    for mine, theirs in zip(got["weights"], expected["weights"]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
    assert all(np.isfinite(w).all() for w in got["weights"])


def test_error_in_the_controllers_train_begin_disables_not_stops(
        monkeypatch):
    def broken(model):
        raise RuntimeError("broken optimizer introspection")

    monkeypatch.setattr(lr_apply, "prepare", broken)
    model = _model("float")
    dataset = Poisoned()
    dataset.epoch = 0
    watch = CurveWatch(lr_control=True, warn=lambda f: None, display=False)
    with pytest.warns(CurvewatchDisabledWarning, match="broken optimizer"):
        history = model.fit(dataset, epochs=2, verbose=0, callbacks=[watch])
    assert len(history.history["loss"]) == 2
    assert watch.disabled and isinstance(watch.error, RuntimeError)
    assert math.isfinite(history.history["loss"][-1])


def test_snapshots_round_trip_atomically(tmp_path):
    from keras_curvewatch.live import state as callback_state

    rng = np.random.default_rng(0)
    snapshots = {
        "best": {"weights": [rng.normal(size=(4, 8)).astype("float32"),
                             np.zeros(8, "float32")],
                 "optimizers": [[np.array(7, "int64"),
                                 np.float32(0.02)], []]},
        "trial": None}
    callback_state.save_snapshots(str(tmp_path), snapshots)
    loaded = callback_state.load_snapshots(str(tmp_path))
    assert set(loaded) == {"best"}
    for got, want in zip(loaded["best"]["weights"],
                         snapshots["best"]["weights"]):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert [len(v) for v in loaded["best"]["optimizers"]] == [2, 0]
    assert int(loaded["best"]["optimizers"][0][0]) == 7
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert callback_state.load_snapshots(str(tmp_path / "none")) == {}
