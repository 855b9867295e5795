"""compare(): noise ratios with bootstrap intervals, the verdict, the
renderings, the CLI and the plot."""

import json

import numpy as np
import pytest

import keras_curvewatch as kcw
from keras_curvewatch import cli
from keras_curvewatch.engine import compare_stats

EPOCHS = 60


def _history(val_noise, seed, loss_noise=0.01, floor=0.4, epochs=EPOCHS):
    """A falling loss pair with multiplicative (log-scale) noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs)
    loss = np.exp(np.log(0.3 + np.exp(-t / 8))
                  + rng.normal(0, loss_noise, epochs))
    val = np.exp(np.log(floor + np.exp(-t / 8))
                 + rng.normal(0, val_noise, epochs))
    return {"loss": loss.tolist(), "val_loss": val.tolist()}


def test_interval_covers_true_ratio_and_excludes_one_when_large():
    true_ratio = 3.0
    covered = excluded = 0
    for seed in range(20):
        comparison = kcw.compare(
            [_history(0.02, seed), _history(0.02 * true_ratio, 100 + seed)],
            names=["batch 32", "batch 2"])
        pair = comparison.pair("batch 32", "batch 2")
        assert pair["noisier"] == "batch 2"
        covered += pair["low"] <= true_ratio <= pair["high"]
        excluded += pair["beyond_noise"] is True
    # A 95 % interval: at least 17 of 20 expected to cover.
    assert covered >= 17, covered
    assert excluded >= 18, excluded


def test_identical_noise_is_not_beyond_noise():
    beyond = 0
    for seed in range(20):
        comparison = kcw.compare(
            [_history(0.03, seed), _history(0.03, 200 + seed)])
        pair = comparison.pair("run 1", "run 2")
        assert 1.0 <= pair["ratio"]
        beyond += pair["beyond_noise"] is True
        if pair["beyond_noise"] is False:
            assert "not beyond noise" in pair["sentence"]
    assert beyond <= 3, beyond


def test_results_repeat_with_the_fixed_seed():
    runs = [_history(0.02, 1), _history(0.05, 2)]
    first = kcw.compare(runs).to_dict()
    second = kcw.compare(runs).to_dict()
    assert first["pairs"] == second["pairs"]


def test_sentence_names_runs_ratio_and_interval():
    comparison = kcw.compare([_history(0.02, 3), _history(0.06, 4)],
                             names=["batch 32", "batch 2"])
    pair = comparison.pair("batch 32", "batch 2")
    assert pair["ratio"] < 10  # shown with two significant digits
    assert pair["sentence"].startswith(
        f"batch 2's val_loss noise is {pair['ratio']:.2g}x batch 32's "
        "(95% interval ")
    assert pair["low"] < pair["ratio"] < pair["high"]


def test_verdict_keeps_the_lower_loss_beyond_noise():
    runs = {"low": _history(0.02, 5, floor=0.3),
            "high": _history(0.02, 6, floor=0.5)}
    comparison = kcw.compare(runs)
    assert comparison.keep == "low"
    assert "lower beyond noise" in comparison.verdict["reason"]


def test_verdict_keeps_the_steadier_run_when_values_tie():
    runs = {"noisy": _history(0.08, 7), "steady": _history(0.015, 8)}
    comparison = kcw.compare(runs)
    assert comparison.keep == "steady"
    assert "steadier" in comparison.verdict["reason"]


def test_verdict_leaves_out_a_run_with_a_broken_curve():
    broken = _history(0.02, 9, floor=0.1)
    broken["loss"][20:] = [float("nan")] * (EPOCHS - 20)
    comparison = kcw.compare({"broken": broken, "fine": _history(0.02, 10)})
    assert "nan_loss" in comparison.rows[0]["codes"]
    assert comparison.keep == "fine"
    assert "left out" in comparison.verdict["reason"]


def test_rows_hold_the_table():
    comparison = kcw.compare([_history(0.02, 11), _history(0.05, 12)],
                             batch_size=[32, 2], n_val=[200, 200])
    row = comparison.rows[1]
    assert row["batch_size"] == 2
    report = comparison.reports["run 2"]
    assert row["val_loss_noise"] == report.series["val_loss"].relative_noise
    assert row["loss_flip_rate"] == report.series["loss"].flip_rate
    assert row["recommended_epoch"] == report.best_epoch
    assert row["best_epoch"] == report.raw_best_epoch
    gap = (report.series["val_loss"].smoothed[-1]
           - report.series["loss"].smoothed[-1])
    assert row["final_gap"] == pytest.approx(gap)
    assert row["codes"] == report.codes


def test_round_trip_and_strict_json():
    comparison = kcw.compare([_history(0.02, 13), _history(0.05, 14)])
    text = comparison.to_json()
    back = kcw.Comparison.from_dict(json.loads(text))
    assert back.to_dict() == comparison.to_dict()
    assert repr(back) == (
        f"Comparison(names=['run 1', 'run 2'], keep={back.keep!r})")
    assert back.keep == comparison.keep


def test_text_and_html_show_table_tests_and_verdict():
    comparison = kcw.compare([_history(0.02, 15), _history(0.06, 16)],
                             names=["batch 32", "batch 2"])
    text = str(comparison)
    assert "val_loss noise" in text and "batch 2" in text
    assert comparison.pairs[0]["sentence"] in text
    assert f"Keep: {comparison.keep}." in text
    html = comparison._repr_html_()
    assert 'class="curvewatch-compare"' in html
    assert html.count("<tr") == 3  # header and two runs
    assert "Keep: " in html


@pytest.mark.parametrize("runs, kwargs, message", [
    ([{"loss": [1, 0.5]}], {}, "at least two runs"),
    ("a.csv", {}, "list"),
    ([{"loss": [1, 0.5]}] * 2, {"names": ["a"]}, "one distinct name"),
    ([{"loss": [1, 0.5]}] * 2, {"batch_size": [1, 2, 3]}, "2 values"),
    ([{"loss": [1, 0.5]}] * 2, {"batchsize": 4}, "unknown argument"),
])
def test_bad_arguments_are_config_errors(runs, kwargs, message):
    with pytest.raises(kcw.ConfigError, match=message):
        kcw.compare(runs, **kwargs)


def test_short_runs_get_no_interval():
    comparison = kcw.compare([_history(0.02, 17, epochs=8),
                              _history(0.05, 18, epochs=8)])
    pair = comparison.pair("run 1", "run 2")
    assert pair["beyond_noise"] is None
    assert "too few epochs" in pair["sentence"]


def test_bootstrap_interval_widens_with_fewer_epochs():
    rng = np.random.default_rng(0)
    wide = compare_stats.noise_ratio(rng.normal(size=20),
                                     rng.normal(size=20))
    narrow = compare_stats.noise_ratio(rng.normal(size=400),
                                       rng.normal(size=400))
    assert wide[2] - wide[1] > 2 * (narrow[2] - narrow[1])


def _csv(tmp_path, name, history):
    lines = ["epoch,loss,val_loss"] + [
        f"{i},{a:.6f},{b:.6f}"
        for i, (a, b) in enumerate(zip(history["loss"], history["val_loss"]))
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_cli_compare_text_json_html(tmp_path, capsys):
    a = _csv(tmp_path, "batch32.csv", _history(0.02, 19))
    b = _csv(tmp_path, "batch2.csv", _history(0.06, 20))
    assert cli.main(["compare", a, b]) == 0
    out = capsys.readouterr().out
    assert "batch32" in out and "batch2" in out and "Keep:" in out
    assert cli.main(["compare", a, b, "--format", "json",
                     "--names", "big,small"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["names"] == ["big", "small"]
    assert data["verdict"]["keep"] in ("big", "small")
    page = tmp_path / "compare.html"
    assert cli.main(["compare", a, b, "--format", "html",
                     "--output", str(page)]) == 0
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "curvewatch-compare" in html and "data:image/png;base64," in html


def test_cli_compare_bad_input_exits_2(tmp_path, capsys):
    a = _csv(tmp_path, "a.csv", _history(0.02, 21))
    assert cli.main(["compare", a, str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "Traceback" not in err
    assert cli.main(["compare", a]) == 2
    assert "at least two runs" in capsys.readouterr().err


def test_plot_overlays_smoothed_curves_and_bands():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    comparison = kcw.compare([_history(0.02, 22), _history(0.06, 23),
                              _history(0.04, 24)],
                             names=["batch 32", "batch 4", "batch 2"])
    figure = comparison.plot()
    axes = figure.axes
    assert [a.get_title().split(":")[0] for a in axes] == ["loss",
                                                          "val_loss"]
    val_axes = axes[1]
    labels = [line.get_label() for line in val_axes.get_lines()]
    assert {"batch 32", "batch 4", "batch 2"} <= set(labels)
    assert len(val_axes.collections) == 3  # one noise band per run
    smoothed = [line for line in val_axes.get_lines()
                if line.get_label() == "batch 2"][0]
    expected = comparison.reports["batch 2"].series["val_loss"].smoothed
    assert np.allclose(smoothed.get_ydata(), expected)
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert comparison.plot(ax=ax) is ax.figure
    assert len(ax.collections) == 3
    plt.close("all")


def test_compare_real_keras_histories():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x @ np.array([1.0, -1.0, 0.5, 0.0]) > 0).astype("int32")
    histories = []
    for batch_size in (32, 4):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        histories.append(model.fit(x, y, validation_split=0.25, epochs=10,
                                   batch_size=batch_size, verbose=0))
    comparison = kcw.compare(histories, names=["batch 32", "batch 4"],
                             batch_size=[32, 4], n_val=24)
    assert [row["n_epochs"] for row in comparison.rows] == [10, 10]
    assert "small_batch" in comparison.rows[1]["codes"]
    assert comparison.keep in ("batch 32", "batch 4")


def test_runs_without_validation_and_with_nan():
    first = _history(0.02, 25)
    second = _history(0.05, 26)
    del first["val_loss"], second["val_loss"]
    second["loss"][30] = float("nan")
    comparison = kcw.compare([first, second])
    assert comparison.verdict["monitor"] == "loss"
    assert [p["series"] for p in comparison.pairs] == ["loss"]
    assert comparison.keep in ("run 1", "run 2")
    assert "val_loss noise" in str(comparison)
