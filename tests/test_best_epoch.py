"""The recommended epoch (keras_curvewatch/engine/best_epoch.py): never a
local raw peak of the monitored curve, never an epoch whose validation
metric is clearly below later epochs; on generated histories and on every
real log in ../shared/real_logs."""

import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_curvewatch as kcw
from keras_curvewatch.engine.best_epoch import is_raw_peak
from keras_curvewatch.engine.best_epoch import metric_tolerance
from keras_curvewatch.engine.best_epoch import paired_metric
from keras_curvewatch.engine.best_epoch import sample_count
from keras_curvewatch.engine.series import pick_curves

REAL_LOGS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "real_logs"
FILES = sorted(REAL_LOGS.glob("*.csv")) if REAL_LOGS.is_dir() else []

EPOCHS = np.arange(30)


def _zigzag_valley(bottom):
    """A U-shaped val_loss with an alternating +/-0.03 zigzag, so the
    smoothed minimum can land on a raw peak."""
    return 0.3 + 0.002 * (EPOCHS - bottom) ** 2 + 0.03 * (-1.0) ** EPOCHS


def _peak_neighbours_ok(report):
    """The invariant: the recommended epoch's raw value on the curve it was
    chosen on is not worse than every finite neighbour's."""
    stats = report.series[report.best_epoch_curve]
    index = stats.epochs.index(report.best_epoch)
    raw = np.asarray(stats.values)
    sign = 1.0 if stats.direction == "min" else -1.0
    neighbours = [raw[j] for j in (index - 1, index + 1)
                  if 0 <= j < len(raw) and np.isfinite(raw[j])]
    return not neighbours or any(sign * (raw[index] - v) <= 0
                                 for v in neighbours)


def _metric_gap(report):
    """How far the paired metric's smoothed curve rises after the
    recommended epoch (above its raw or smoothed value there, the lower),
    and the gap allowed (the larger of 2 points, 3 noise
    sigmas and 2 standard errors of an accuracy); (0, 1) without a
    metric."""
    names = list(report.series)
    metric = paired_metric(report.best_epoch_curve, *pick_curves(names))
    if metric is None or report.series[metric].n_finite == 0:
        return 0.0, 1.0
    stats = report.series[metric]
    index = stats.epochs.index(report.best_epoch)
    sign = 1.0 if stats.direction == "max" else -1.0
    smooth = sign * np.asarray(stats.smoothed, dtype=float)
    raw = sign * np.asarray(stats.values, dtype=float)
    later = smooth[index + 1:]
    later = later[np.isfinite(later)]
    if len(later) == 0:
        return 0.0, 1.0
    here = min(smooth[index], raw[index]) if np.isfinite(raw[index]) else (
        smooth[index])
    return float(later.max() - here), metric_tolerance(stats)


@pytest.mark.parametrize("bottom", [14, 15, 16])
def test_smoothed_minimum_on_a_raw_peak_is_not_recommended(bottom):
    loss = np.exp(-EPOCHS / 8) + 0.1
    report = kcw.analyze({"loss": loss, "val_loss": _zigzag_valley(bottom)})
    stats = report.series["val_loss"]
    # The pattern is there: the smoothed minimum is an unlucky evaluation.
    assert is_raw_peak(stats, stats.smoothed_best_epoch)
    assert _peak_neighbours_ok(report)
    assert abs(report.best_epoch - stats.smoothed_best_epoch) == 1
    assert report.best_epoch_curve == "val_loss"
    assert "local peak" in report.best_epoch_reason
    assert f"epoch {stats.smoothed_best_epoch}" in report.best_epoch_reason


def test_epoch_zero_is_not_kept_while_val_accuracy_rises_later():
    rng = np.random.default_rng(1)
    val_loss = 1.0 + 0.02 * EPOCHS + rng.normal(0, 0.01, 30)
    val_accuracy = (0.41 + 0.22 * (1 - np.exp(-EPOCHS / 5))
                    + rng.normal(0, 0.005, 30))
    loss = np.exp(-EPOCHS / 8) + 0.1
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": 1 - loss / 3,
                          "val_accuracy": val_accuracy})
    # The pattern: the smoothed val_loss is lowest at epoch 0.
    assert report.series["val_loss"].smoothed_best_epoch == 0
    assert report.best_epoch > 0
    assert val_accuracy[report.best_epoch] >= val_accuracy.max() - 0.05
    gap, allowed = _metric_gap(report)
    assert gap <= allowed
    assert report.best_epoch_curve == "val_loss"
    assert "val_accuracy" in report.best_epoch_reason
    assert f"{val_accuracy[0]:.3g}" in report.best_epoch_reason
    # Every suggestion that names an epoch to keep names this one.
    overfitting = report.get("overfitting")
    if overfitting is not None:
        assert f"epoch {report.best_epoch}" in overfitting.suggestion
        assert "epoch 0 " not in overfitting.suggestion


def test_agreeing_curves_keep_the_smoothed_minimum():
    rng = np.random.default_rng(2)
    loss = np.exp(-EPOCHS / 6) + 0.1
    val_loss = 0.4 + 0.002 * (EPOCHS - 18.0) ** 2 + rng.normal(0, 0.002, 30)
    val_accuracy = 0.9 - 0.0005 * (EPOCHS - 18.0) ** 2
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": 1 - loss / 3,
                          "val_accuracy": val_accuracy})
    assert report.best_epoch == report.series["val_loss"].smoothed_best_epoch
    assert report.best_epoch_reason == "lowest smoothed val_loss"


def test_without_validation_loss_the_metric_is_maximised():
    rng = np.random.default_rng(3)
    val_accuracy = 0.9 - 0.0005 * (EPOCHS - 20.0) ** 2 + rng.normal(
        0, 0.01, 30)
    report = kcw.analyze({"accuracy": 0.5 + EPOCHS / 70,
                          "val_accuracy": val_accuracy})
    assert report.best_epoch_curve == "val_accuracy"
    assert report.best_epoch_reason.startswith("highest smoothed")
    assert _peak_neighbours_ok(report)


def test_one_sample_on_a_small_validation_set_is_not_clearly_better():
    # 40 validation samples: accuracy moves in steps of 0.025; one more
    # correct sample later is chance, not a better epoch.
    rng = np.random.default_rng(4)
    val_loss = 0.5 + 0.01 * EPOCHS + rng.normal(0, 0.005, 30)
    correct = 31 + (EPOCHS > 10)
    correct[5] = 30
    val_accuracy = correct / 40
    loss = np.exp(-EPOCHS / 8) + 0.1
    history = {"loss": loss, "val_loss": val_loss, "accuracy": 1 - loss / 3,
               "val_accuracy": val_accuracy}
    assert sample_count(val_accuracy) == 40
    assert kcw.analyze(history).best_epoch == 0
    assert kcw.analyze(history, n_val=40).best_epoch == 0
    # Measured on 100,000 samples the same 2.5 points would be real.
    assert kcw.analyze(history, n_val=100_000).best_epoch > 10


def test_sample_count_reads_the_accuracy_steps():
    assert sample_count(np.array([3, 5, 6, 9, 12]) / 13) == 13
    # No two epochs one sample apart: the step seen is 2 samples.
    assert sample_count(np.array([10, 12, 16, 20]) / 25) == 25
    assert sample_count(np.random.default_rng(0).random(30)) is None


def test_best_epoch_fields_round_trip_and_render():
    report = kcw.analyze({"loss": np.exp(-EPOCHS / 8) + 0.1,
                          "val_loss": _zigzag_valley(16)})
    again = kcw.Report.from_json(report.to_json())
    assert again.best_epoch_curve == report.best_epoch_curve == "val_loss"
    assert again.best_epoch_reason == report.best_epoch_reason
    assert report.best_epoch_reason in " ".join(str(report).split())
    assert kcw.Report.from_dict(
        {"findings": [], "monitor": "val_loss"}).best_epoch_curve == (
        "val_loss")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 10.0), min_size=2, max_size=40),
    st.lists(st.integers(0, 50), min_size=40, max_size=40),
    st.sets(st.integers(0, 39), max_size=5),
)
def test_any_history_keeps_the_invariant(val_loss, correct, missing):
    n = len(val_loss)
    val_loss = np.asarray(val_loss)
    val_loss[[i for i in missing if 0 < i < n]] = np.nan
    history = {"loss": np.linspace(1.0, 0.1, n), "val_loss": val_loss,
               "accuracy": np.linspace(0.5, 0.9, n),
               "val_accuracy": np.asarray(correct[:n]) / 50}
    report = kcw.analyze(history)
    assert report.best_epoch is not None
    assert _peak_neighbours_ok(report)
    gap, allowed = _metric_gap(report)
    assert gap <= allowed


@pytest.mark.skipif(not FILES, reason="../shared/real_logs is not present")
def test_real_logs_never_get_a_raw_peak_or_a_clearly_worse_metric():
    checked = 0
    for path in FILES:
        report = kcw.analyze(str(path))
        if report.best_epoch is None:
            continue
        checked += 1
        assert _peak_neighbours_ok(report), (path.name, report.best_epoch)
        gap, allowed = _metric_gap(report)
        assert gap <= allowed, (path.name, report.best_epoch, gap)
        assert report.best_epoch_reason
    assert checked >= len(FILES) - 2
