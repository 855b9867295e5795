"""Each rule on curves whose problem is planted by construction."""

import math

import numpy as np
import pytest

import keras_curvewatch as kcw
from keras_curvewatch.engine.rules import RULES
from keras_curvewatch.engine.rules import context_findings
from keras_curvewatch.engine.context import RunContext

rng_seed = 0


def _decay(n, start=1.2, end=0.1, tau=None):
    t = np.arange(n, dtype=float)
    tau = tau or n / 4.0
    return end + (start - end) * np.exp(-t / tau)


def _noisy(values, rel, seed):
    rng = np.random.default_rng(seed)
    return values * np.exp(rng.normal(0.0, rel, len(values)))


def _healthy(n=40, seed=0):
    # Converged: the decay constant is a seventh of the run.
    loss = _noisy(_decay(n, 1.2, 0.15, n / 7), 0.01, seed)
    val_loss = _noisy(_decay(n, 1.25, 0.22, n / 7), 0.02, seed + 1)
    acc = 1 - 0.5 * loss / 1.2
    val_acc = 1 - 0.5 * val_loss / 1.25
    return {"loss": loss, "val_loss": val_loss, "accuracy": acc,
            "val_accuracy": val_acc}


@pytest.mark.parametrize("seed", range(5))
def test_healthy_curves_have_no_warning(seed):
    report = kcw.analyze(_healthy(seed=seed), batch_size=32, n_train=2000,
                         n_val=500)
    assert not [f for f in report.findings if f.rank >= 1], report.codes
    assert report.best_epoch >= 30


def test_overfitting_onset_and_best_epoch():
    n = 40
    t = np.arange(n)
    loss = _noisy(_decay(n, 1.2, 0.02), 0.01, 1)
    val = 0.5 + 0.002 * (t - 12.0) ** 2
    val = _noisy(val, 0.02, 2)
    report = kcw.analyze({"loss": loss, "val_loss": val})
    finding = report.get("overfitting")
    assert finding is not None and finding.severity in ("warning", "critical")
    assert abs(finding.epoch - 12) <= 3
    assert abs(report.best_epoch - 12) <= 3
    assert finding.evidence["relative_rise"] > 0.5


def test_overfitting_with_many_params_per_sample_ranks_capacity_first():
    n = 40
    t = np.arange(n)
    loss = _noisy(_decay(n, 1.2, 0.02), 0.01, 1)
    val = _noisy(0.5 + 0.002 * (t - 12.0) ** 2, 0.02, 2)
    report = kcw.analyze({"loss": loss, "val_loss": val}, n_params=200_000,
                         n_train=100, layers=["Dense", "Dense"])
    assert report.get("overfitting").top_cause == "model_capacity"
    assert report.has("overparameterized", "warning")


def test_rise_inside_noise_is_not_overfitting():
    # The training loss levels off too (13 % lower): the gap does not
    # widen, and the flat, noisy validation loss never rises beyond noise.
    n = 40
    loss = _noisy(_decay(n, 0.55, 0.48), 0.01, 3)
    val = _noisy(np.full(n, 0.5), 0.06, 4)
    report = kcw.analyze({"loss": loss, "val_loss": val})
    assert not report.has("overfitting")


def test_flat_validation_loss_with_falling_training_loss_is_overfitting():
    # LABELLING.md: a validation loss lying flat while the training loss
    # keeps falling is overfitting (the gap keeps widening), even though
    # it never rises above its minimum.
    n = 40
    loss = _noisy(_decay(n, 1.2, 0.1), 0.01, 3)
    val = _noisy(np.full(n, 0.5), 0.06, 4)
    report = kcw.analyze({"loss": loss, "val_loss": val})
    finding = report.get("overfitting")
    assert finding is not None
    assert finding.evidence.get("form_flat") == 1.0


def test_nan_loss_is_critical_at_first_bad_epoch():
    loss = list(_decay(20))
    loss[7:] = [float("nan")] * 13
    report = kcw.analyze({"loss": loss})
    finding = report.findings[0]
    assert finding.code == "nan_loss" and finding.severity == "critical"
    assert finding.epoch == 7
    assert finding.evidence["nonfinite_epochs"] == 13


def test_nan_from_first_epoch_blames_data():
    report = kcw.analyze({"loss": [float("nan")] * 10})
    assert report.get("nan_loss").top_cause == "data_quality"


def test_diverging_loss():
    t = np.arange(30.0)
    loss = np.where(t < 8, 1.0 - 0.05 * t, 0.6 + 0.08 * (t - 8))
    report = kcw.analyze({"loss": _noisy(loss, 0.01, 5)})
    finding = report.get("diverging")
    assert finding is not None and finding.severity == "critical"
    assert abs(finding.epoch - 8) <= 2
    assert finding.top_cause == "learning_rate"


def test_not_learning_at_chance_level():
    loss = _noisy(np.full(30, math.log(3)), 0.002, 6)
    acc = 1 / 3 + np.random.default_rng(7).normal(0, 0.01, 30)
    report = kcw.analyze({"loss": loss, "accuracy": acc})
    finding = report.get("not_learning")
    assert finding is not None and finding.severity == "critical"
    assert finding.evidence["chance_level_classes"] == 3
    assert finding.top_cause == "output_activation"


def test_not_converged_when_still_falling():
    t = np.arange(20.0)
    loss = _noisy(1.0 - 0.03 * t, 0.005, 8)
    val = _noisy(1.05 - 0.03 * t, 0.005, 9)
    report = kcw.analyze({"loss": loss, "val_loss": val})
    finding = report.get("not_converged")
    assert finding is not None
    assert finding.top_cause == "training_length"
    assert report.best_epoch == 19


def test_plateau_then_drop_with_lr_change():
    loss = np.concatenate([np.full(10, 1.0), np.full(10, 0.5)])
    loss = _noisy(loss, 0.003, 10)
    lr = np.concatenate([np.full(10, 1e-2), np.full(10, 1e-3)])
    report = kcw.analyze({"loss": loss, "lr": lr})
    finding = report.get("plateau_then_drop")
    assert finding is not None and finding.epoch == 10
    assert finding.top_cause == "learning_rate"
    assert finding.evidence["plateau_epochs"] >= 5


def _oscillating(seed=11):
    return {"loss": _noisy(_decay(40, 1.0, 0.4), 0.15, seed)}


def test_train_oscillation_small_batch_ranks_batch_size_first():
    report = kcw.analyze(_oscillating(), batch_size=2)
    finding = report.get("train_oscillation")
    assert finding is not None
    assert finding.top_cause == "batch_size"


def test_train_oscillation_large_batch_high_sgd_rate_ranks_lr_first():
    curves = _oscillating()
    curves["learning_rate"] = np.full(40, 0.5)
    report = kcw.analyze(curves, batch_size=256)
    assert report.get("train_oscillation").top_cause == "learning_rate"


def test_val_fluctuation_without_n_val_compares_with_training():
    curves = _healthy(seed=12)
    curves["val_loss"] = _noisy(_decay(40, 1.25, 0.3), 0.2, 13)
    del curves["val_accuracy"]
    report = kcw.analyze(curves)
    finding = report.get("val_fluctuation")
    assert finding is not None
    assert "n_val" in finding.message
    assert finding.evidence["val_to_train_noise_ratio"] > 2


def _binomial_val_accuracy(n_val, p=0.8, n=40, seed=14):
    rng = np.random.default_rng(seed)
    return rng.binomial(n_val, p, n) / n_val


def test_val_noise_explained_by_small_n_val_is_small_validation_set():
    curves = _healthy(seed=15)
    curves["val_accuracy"] = _binomial_val_accuracy(40)
    report = kcw.analyze(curves, n_val=40, batch_size=32, n_train=2000)
    assert report.has("small_validation_set")
    assert not report.has("val_fluctuation")
    assert report.get("small_validation_set").top_cause == "validation_size"


def test_val_noise_beyond_large_n_val_is_val_fluctuation():
    curves = _healthy(seed=16)
    rng = np.random.default_rng(17)
    curves["val_accuracy"] = np.clip(0.8 + rng.normal(0, 0.05, 40), 0, 1)
    report = kcw.analyze(curves, n_val=5000, batch_size=32, n_train=20000)
    finding = report.get("val_fluctuation")
    assert finding is not None
    assert finding.evidence["noise_ratio"] > 5
    assert not report.has("small_validation_set")


def test_loss_spike_is_found_and_located():
    loss = _noisy(_decay(30, 1.0, 0.2), 0.01, 18)
    loss[15] *= 3.0
    report = kcw.analyze({"loss": loss})
    finding = report.get("loss_spike")
    assert finding is not None and finding.epoch == 15
    assert report.series["loss"].spikes == [15]


def test_rising_val_loss_with_rising_val_accuracy_is_overfitting_only():
    # Under LABELLING.md a validation loss that rises after its minimum
    # while the training loss falls is overfitting, whatever the
    # validation accuracy does (0.9 against a training accuracy of 0.99);
    # metric_loss_mismatch is kept for its three forms (test_rules_stories).
    n = 40
    t = np.arange(n)
    loss = _noisy(_decay(n, 1.0, 0.02), 0.01, 19)
    val_loss = _noisy(0.5 + 0.0015 * (t - 10.0) ** 2 * (t > 10), 0.01, 20)
    val_acc = 0.6 + 0.3 * (1 - np.exp(-t / 12.0))
    report = kcw.analyze({"loss": loss, "val_loss": val_loss,
                          "accuracy": 1 - loss / 2, "val_accuracy": val_acc})
    assert not report.has("metric_loss_mismatch")
    assert report.has("overfitting")


def test_noisy_best_epoch_recommends_smoothed_minimum():
    n = 40
    t = np.arange(n)
    val = _noisy(0.5 + 0.0008 * (t - 25.0) ** 2, 0.02, 21)
    # A lucky dip, well below its own trend but inside the noise band of
    # the real minimum at epoch 25.
    val[17] = 0.475
    loss = _noisy(_decay(n, 1.0, 0.3), 0.01, 22)
    report = kcw.analyze({"loss": loss, "val_loss": val})
    assert report.raw_best_epoch == 17
    assert abs(report.best_epoch - 25) <= 4
    finding = report.get("noisy_best_epoch")
    assert finding is not None and finding.severity == "info"
    assert finding.evidence["recommended_epoch"] == report.best_epoch


def _batch_losses(n_epochs, steps, profile, seed):
    rng = np.random.default_rng(seed)
    out = []
    for epoch in range(n_epochs):
        level = 1.0 / (1 + epoch + np.arange(steps) / steps)
        out.extend(level * (1 + profile + rng.normal(0, 0.05, steps)))
    return out


def test_unshuffled_sawtooth_is_a_warning_about_shuffling():
    steps = 25
    losses = _batch_losses(8, steps, np.linspace(-0.6, 0.6, steps), 23)
    report = kcw.analyze({"loss": _decay(8)}, batch_losses=losses,
                         steps_per_epoch=steps)
    finding = report.get("unshuffled_data")
    assert finding is not None
    assert finding.severity in ("warning", "critical")
    assert finding.top_cause == "data_shuffling"
    assert "saw-tooth" in finding.message


def test_repeated_random_order_is_info():
    steps = 25
    profile = np.random.default_rng(24).normal(0, 0.4, steps)
    losses = _batch_losses(8, steps, profile, 25)
    report = kcw.analyze({"loss": _decay(8)}, batch_losses=losses,
                         steps_per_epoch=steps)
    finding = report.get("unshuffled_data")
    assert finding is not None and finding.severity == "info"
    assert "same order every epoch" in finding.message


def test_shuffled_batches_are_not_flagged():
    steps = 25
    losses = _batch_losses(8, steps, 0.0, 26)
    report = kcw.analyze({"loss": _decay(8)}, batch_losses=losses,
                         steps_per_epoch=steps)
    assert not report.has("unshuffled_data")
    assert report.batch["batch_cv"] > 0


@pytest.mark.parametrize(
    "ctx, codes",
    [
        (RunContext(batch_size=32, n_train=5000, n_params=10_000,
                    n_val=1000), set()),
        (RunContext(batch_size=2), {"small_batch"}),
        (RunContext(n_params=200_000, n_train=98, layers=("LSTM", "Dense")),
         {"overparameterized"}),
        (RunContext(n_val=10), {"small_validation_set"}),
        (RunContext(validation_split=0.02, n_train=980),
         {"small_validation_set"}),
    ],
)
def test_context_findings(ctx, codes):
    assert {f.code for f in context_findings(ctx)} == codes


def test_seed_lstm_batch_sizes():
    """The seed: ~200k-parameter LSTM on 98 sequences, batch 32, 4, 2."""
    def codes(batch):
        return {f.code: f.severity for f in context_findings(RunContext(
            batch_size=batch, n_train=98, n_params=200_000,
            layers=("LSTM", "Dense")))}
    assert "small_batch" not in codes(32)
    assert codes(4)["small_batch"] == "warning"
    assert codes(2)["small_batch"] == "warning"
    assert codes(32)["overparameterized"] == "warning"


def test_every_rule_survives_degenerate_curves():
    cases = [
        {"loss": []}, {"loss": [1.0]}, {"loss": [1.0, 2.0]},
        {"loss": [0.0] * 10}, {"loss": [float("inf")] * 5},
        {"loss": [1.0] * 10, "val_loss": [float("nan")] * 10},
        {"val_accuracy": [0.5] * 12}, {"loss": [-5.0, -6.0, -7.0] * 4},
    ]
    for curves in cases:
        report = kcw.analyze(curves) if curves["loss" if "loss" in curves
                                               else "val_accuracy"] else None
        if report is not None:
            assert isinstance(report, kcw.Report)
    assert len(RULES) >= 13
