"""Tests of the figure (keras_curvewatch/render/plot.py and
plot_panels.py)."""

import sys

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

import report_samples as samples
from keras_curvewatch.errors import MissingExtraError
from keras_curvewatch.render.plot import plot_report
from keras_curvewatch.render.plot import write_plot
from keras_curvewatch.render.standalone import render_standalone_html
from report_samples import legend_labels
from report_samples import PNG_MAGIC
from report_samples import vertical_line_at


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_marks_best_epochs_onset_and_lr_change():
    report = samples.handmade_report()
    figure = report.plot()
    assert isinstance(figure, Figure)
    main = figure.axes[0]
    assert vertical_line_at(
        main, f"recommended epoch {samples.BEST_EPOCH}") == samples.BEST_EPOCH
    assert vertical_line_at(
        main, f"raw best epoch {samples.RAW_BEST_EPOCH}"
    ) == samples.RAW_BEST_EPOCH
    assert vertical_line_at(
        main, f"overfitting from epoch {samples.OVERFITTING_EPOCH}"
    ) == samples.OVERFITTING_EPOCH
    assert vertical_line_at(
        main, "learning-rate change") == samples.LR_CHANGE_EPOCH
    annotations = [t.get_text() for t in main.texts]
    assert "lr 0.001 → 0.0005" in annotations
    labels = legend_labels(main)
    assert "loss (smoothed)" in labels and "val_loss (smoothed)" in labels


def test_plot_draws_raw_smoothed_noise_band_and_spikes():
    report = samples.handmade_report(batch=False, metrics=False)
    main = plot_report(report).axes[0]
    val = report.series["val_loss"]
    smoothed = [line for line in main.lines
                if line.get_label() == "val_loss (smoothed)"]
    np.testing.assert_allclose(smoothed[0].get_ydata(), val.smoothed)
    raw = [line for line in main.lines
           if np.array_equal(line.get_ydata(), np.asarray(val.values))]
    assert len(raw) == 1
    bands = [c for c in main.collections if isinstance(c, PolyCollection)
             and c.get_label() != "_nolegend_"]
    tops = [b.get_paths()[0].vertices[:, 1].max() for b in bands]
    expected_top = max(np.asarray(val.smoothed) + val.noise)
    assert any(abs(t - expected_top) < 1e-9 for t in tops)
    spikes = [c for c in main.collections
              if c.get_label() == "val_loss spikes"]
    offsets = spikes[0].get_offsets()
    assert offsets.tolist() == [[samples.SPIKE_EPOCH,
                                 val.values[samples.SPIKE_EPOCH]]]


def test_plot_panels_follow_the_data():
    full = plot_report(samples.handmade_report())
    assert [ax.get_ylabel() for ax in full.axes] == [
        "loss", "metric", "batch loss"]
    bare = plot_report(samples.handmade_report(batch=False, metrics=False,
                                               actions=False))
    assert len(bare.axes) == 1
    assert "learning-rate change" not in legend_labels(bare.axes[0])


def test_batch_panel_aligns_last_batch_with_last_epoch():
    report = samples.handmade_report()
    batch_ax = plot_report(report).axes[2]
    line = [x for x in batch_ax.lines if x.get_label() == "per-batch loss"][0]
    x = np.asarray(line.get_xdata())
    assert x[-1] == pytest.approx(samples.N_EPOCHS - 1)
    assert x[samples.STEPS_PER_EPOCH - 1] == pytest.approx(0.0)
    assert np.diff(x) == pytest.approx(1 / samples.STEPS_PER_EPOCH)


def test_log_axis_only_when_a_curve_towers_over_its_median():
    report = samples.handmade_report(batch=False, metrics=False)
    assert plot_report(report).axes[0].get_yscale() == "linear"
    diverging = np.geomspace(0.5, 5e5, samples.N_EPOCHS)
    report.series["loss"] = samples.series_stats("loss", diverging)
    # Noise measured on the large values: smoothed - noise < 0 early on.
    report.series["loss"].noise = 1000.0
    main = plot_report(report).axes[0]
    assert main.get_yscale() == "log"
    # The noise band is only drawn where it stays positive.
    low = min(b.get_paths()[0].vertices[:, 1].min()
              for b in main.collections if isinstance(b, PolyCollection)
              and b.get_paths())
    assert low > 0


def test_plot_on_given_axes_draws_main_panel_only():
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    returned = samples.handmade_report().plot(ax=ax)
    assert returned is figure and figure.axes == [ax]
    assert ax.get_ylabel() == "loss" and len(ax.lines) >= 4


def test_plot_survives_nan_and_inf():
    report = samples.handmade_report(batch=False)
    report.series["loss"].values[5] = float("nan")
    report.series["loss"].values[6] = float("inf")
    main = plot_report(report).axes[0]
    assert main.get_yscale() == "linear"
    low, high = main.get_ylim()
    assert np.isfinite(low) and np.isfinite(high) and high < 10


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtraError, match=r"keras-curvewatch\[plot\]"):
        samples.handmade_report().plot()
    with pytest.raises(ImportError):
        write_plot(samples.handmade_report(), "never.png")
    page = render_standalone_html(samples.handmade_report())
    assert "Plot not included" in page and "<img" not in page
    assert 'data-code="overfitting"' in page


def test_write_plot_writes_a_png(tmp_path):
    path = tmp_path / "curves.png"
    write_plot(samples.handmade_report(), path)
    assert path.read_bytes()[:8] == PNG_MAGIC
