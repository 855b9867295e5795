"""The bottom line (keras_curvewatch/engine/summary.py): the main problem,
with its numbers, and the first thing to change; on hand-made findings, on
reports of generated histories and in `str(watch.report)` after a real
`fit`."""

import numpy as np
import pytest

import keras_curvewatch as kcw
from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.summary import arrange
from keras_curvewatch.engine.summary import headline
from keras_curvewatch.engine.summary import main_problem

EPOCHS = np.arange(40)


def _finding(code, severity="warning", series=None, epoch=None, causes=(),
             **evidence):
    return Finding(code, severity, f"{code} message.", series=series,
                   epoch=epoch, evidence=evidence,
                   causes=[(c, f"{c} sentence.") for c in causes],
                   suggestion=f"Fix {code}.")


# ---------------------------------------------------------- hand-made findings


def test_capacity_explains_overfitting_and_small_validation_set_follows():
    context = RunContext(n_train=98, n_val=25, n_params=197_764,
                         layers=("LSTM", "Dense"))
    overfitting = _finding("overfitting", "critical", "val_loss", 12,
                           ("regularization", "model_capacity"),
                           relative_rise=0.35)
    capacity = _finding("overparameterized", "warning", n_params=197_764,
                        n_train=98, params_per_sample=2018.0)
    small_val = _finding("small_validation_set", "critical", n_val=25)
    findings = [small_val, overfitting, capacity]
    text = headline(findings, context, n_epochs=40, best_epoch=12)
    assert text.startswith("2,018 parameters per sample on 98 samples: the "
                           "model memorises from epoch 12")
    assert "35%" in text
    assert "First shrink the model or regularise it" in text
    assert "keep epoch 12" in text
    assert text.endswith("The validation set (25) is too small to judge by, "
                         "so use k-fold cross-validation or hold out more "
                         "data.")
    order = arrange(findings)
    assert [(f.code, note) for f, note in order] == [
        ("overfitting", None),
        ("overparameterized", "explains overfitting"),
        ("small_validation_set", None),
    ]


def test_context_reason_leads_when_the_curves_only_show_validation_chance():
    spike = _finding("loss_spike", "warning", "val_loss", 4,
                     ("learning_rate",), n_spikes=1)
    capacity = _finding("overparameterized", "warning",
                        params_per_sample=2018.0, n_train=98)
    small_val = _finding("small_validation_set", "critical", n_val=25)
    batch = _finding("small_batch", "warning", batch_size=4)
    main, _ = main_problem([small_val, batch, capacity, spike])
    assert main is capacity
    text = headline([small_val, batch, capacity, spike], {"n_val": 25})
    assert text.startswith("2,018 parameters per sample on 98 samples: the "
                           "model can memorise the data. First shrink")
    assert "validation set (25)" in text


def test_an_observed_problem_beats_an_unrelated_risk_of_equal_severity():
    overfitting = _finding("overfitting", "warning", "val_loss", 9,
                           ("regularization",), relative_rise=0.2)
    batch = _finding("small_batch", "warning", batch_size=4)
    main, related = main_problem([batch, overfitting])
    assert main is overfitting and related == []
    capacity = _finding("overparameterized", "critical",
                        params_per_sample=20_000.0, n_train=10)
    slow = _finding("not_converged", "warning", "val_loss", None,
                    ("training_length",))
    assert main_problem([capacity, slow])[0] is capacity


def test_shared_cause_picks_the_first_change():
    # Both findings name the learning rate; the oscillation's own top
    # cause is the batch size, but the rate explains both.
    oscillation = _finding("train_oscillation", "warning", "loss", 5,
                           ("batch_size", "learning_rate"),
                           relative_noise=0.16)
    spike = _finding("loss_spike", "warning", "loss", 9,
                     ("learning_rate", "data_quality"))
    text = headline([oscillation, spike], {}, n_epochs=30)
    assert text.startswith("The training loss oscillates from epoch to "
                           "epoch (noise 16% of its level).")
    assert "First lower the learning rate" in text


def test_nan_beats_everything_else():
    nan = _finding("nan_loss", "critical", "loss", 7, ("learning_rate",),
                   nonfinite_epochs=23)
    capacity = _finding("overparameterized", "critical",
                        params_per_sample=20000.0, n_train=10)
    text = headline([capacity, nan], {}, n_epochs=30)
    assert text.startswith("The training loss is NaN or infinite from epoch "
                           "7 (23 of 30 epochs).")
    assert "First lower the learning rate 10x and add gradient clipping" in (
        text)


def test_healthy_and_short_runs():
    assert headline([], {}, n_epochs=30) == (
        "Healthy: no problem found in the curves.")
    assert headline([], {}) == "No problem found."
    short = headline([], {}, n_epochs=3)
    assert short.startswith("Only 3 epochs: too few to judge")
    note = _finding("small_batch", "info", batch_size=8)
    assert headline([note], {}, n_epochs=30, best_epoch=29).endswith(
        "keep epoch 29. 1 minor note below.")


def test_unknown_evidence_gives_a_shorter_phrase_not_an_error():
    bare = _finding("overfitting", "warning", "val_loss", None)
    # No numbers and no causes: the finding's own suggestion.
    assert headline([bare], None) == "The model memorises. Fix overfitting."


# ------------------------------------------------- reports of generated runs


def _overfitting_history(rng):
    loss = 1.2 * np.exp(-EPOCHS / 6) + 0.02 + rng.normal(0, 0.005, 40)
    val_loss = (0.5 + 0.9 * np.exp(-EPOCHS / 4)
                + 0.012 * np.maximum(EPOCHS - 12, 0)
                + rng.normal(0, 0.01, 40))
    return {"loss": loss, "val_loss": val_loss}


def test_overfitting_report_names_capacity_change_and_numbers():
    report = kcw.analyze(_overfitting_history(np.random.default_rng(0)),
                         batch_size=32, n_train=98, n_val=25,
                         n_params=197_783, layers=["LSTM", "Dense"])
    assert report.has("overfitting") and report.has("overparameterized")
    text = report.headline
    assert text.startswith("2,018 parameters per sample on 98 samples: the "
                           "model memorises from epoch "
                           f"{report.get('overfitting').epoch}")
    assert "First shrink the model or regularise it" in text
    assert f"keep epoch {report.best_epoch}" in text
    assert "validation set (25) is too small" in text
    # The bottom line opens every rendering.
    body = str(report).splitlines()
    assert " ".join(body[2:6]).startswith("2,018 parameters per sample")
    html = report._repr_html_()
    assert html.index("curvewatch-headline") < html.index(
        "curvewatch-finding")
    assert kcw.Report.from_json(report.to_json()).headline == text
    assert report.to_dict()["headline"] == text


def test_nan_report_headline():
    loss = np.r_[np.exp(-EPOCHS[:15] / 5) + 0.1, [np.nan] * 25]
    report = kcw.analyze({"loss": loss, "val_loss": loss * 1.1})
    assert report.has("nan_loss")
    assert report.headline.startswith(
        "The training loss is NaN or infinite from epoch 15 (25 of 40 "
        "epochs).")
    assert "First" in report.headline


def test_healthy_report_headline_is_short_and_positive():
    rng = np.random.default_rng(0)
    loss = np.exp(-EPOCHS / 8) + 0.1 + rng.normal(0, 0.003, 40)
    val_loss = np.exp(-EPOCHS / 8) + 0.15 + rng.normal(0, 0.004, 40)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss},
                         batch_size=32, n_train=5000, n_val=1000)
    assert report.findings == []
    assert report.headline == (
        f"Healthy: val_loss fell from {val_loss[0]:.3g} to "
        f"{val_loss[-1]:.3g} over 40 epochs; keep epoch "
        f"{report.best_epoch}.")


def test_small_batch_oscillation_headline():
    rng = np.random.default_rng(0)
    loss = (0.5 * np.exp(-EPOCHS / 5) + 0.3
            + 0.06 * (-1.0) ** EPOCHS * (1 + rng.random(40)))
    val_loss = 0.5 * np.exp(-EPOCHS / 5) + 0.35 + rng.normal(0, 0.01, 40)
    report = kcw.analyze({"loss": loss, "val_loss": val_loss},
                         batch_size=2, n_train=2000, n_val=500)
    assert report.has("train_oscillation") and report.has("small_batch")
    assert report.headline.startswith(
        "A batch of 2: the training loss oscillates from epoch to epoch")
    assert "First use a batch of 16-32" in report.headline
    noise = report.get("train_oscillation").evidence["relative_noise"]
    assert f"{100 * noise:.0f}%" in report.headline


def test_too_short_run_headline():
    report = kcw.analyze({"loss": [1.0, 0.8, 0.7],
                          "val_loss": [1.1, 0.9, 0.85]})
    assert report.headline.startswith("Only 3 epochs: too few to judge")


# ------------------------------------------------------------ real fit


@pytest.mark.filterwarnings("ignore")
def test_curvewatch_report_opens_with_the_headline():
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=40) > 0).astype("float32")
    # 16*2048 + 2048 + 2049 = 36,865 weights for 30 samples: 1,229 per
    # sample; 10 validation samples.
    model = keras.Sequential([keras.Input((16,)),
                              keras.layers.Dense(2048, "relu"),
                              keras.layers.Dense(1, "sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    watch = kcw.CurveWatch(warn=lambda finding: None, display=False)
    model.fit(x, y, validation_split=0.25, batch_size=8, epochs=8,
              verbose=0, callbacks=[watch])
    report = watch.report
    assert report.has("overparameterized")
    text = str(report)
    lines = text.splitlines()
    text = " ".join(text.split())
    assert lines[2].startswith("1,229 parameters per sample on 30 samples:")
    assert "First shrink the model or regularise it" in text
    assert "The validation set (10) is too small to judge by" in text
    assert report.headline in text
