"""Tests of the HTML cards and the standalone page
(keras_curvewatch/render/html.py and standalone.py), also on reports that
`analyze()` made from generated histories and a real `fit`.
"""

import base64
import html as html_lib
import re
import sys

import numpy as np
import pytest

import report_samples as samples
from keras_curvewatch.engine.summary import arrange
from keras_curvewatch.render.html import format_number
from keras_curvewatch.render.html import render_html
from keras_curvewatch.render.html import severity_colour
from keras_curvewatch.render.plot import plot_report
from keras_curvewatch.render.plot import write_plot
from keras_curvewatch.render.standalone import render_standalone_html
from keras_curvewatch.render.standalone import write_html
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.report import Report
from report_samples import legend_labels
from report_samples import PNG_MAGIC
from report_samples import vertical_line_at


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ---------------------------------------------------------------- HTML cards


def test_card_per_finding_with_all_parts_in_order():
    report = samples.handmade_report()
    text = render_html(report)
    assert text.count('class="curvewatch-finding"') == len(report.findings)
    # The main problem first, then what explains it, then the rest.
    order = [finding.code for finding, _ in arrange(report.findings)]
    positions = [text.index(f'data-code="{code}"') for code in order]
    assert positions == sorted(positions)
    overfitting = report.get("overfitting")
    card = text[positions[0]:positions[1]]
    assert severity_colour("critical") in card
    assert html_lib.escape(overfitting.message) in card
    for key, value in overfitting.evidence.items():
        assert key in card and format_number(value) in card
    cause_positions = [card.index(cause) for cause, _ in overfitting.causes]
    assert cause_positions == sorted(cause_positions)
    assert html_lib.escape(overfitting.suggestion, quote=True) in card


def test_card_escapes_text_and_loads_nothing_external():
    text = render_html(samples.handmade_report())
    assert "<b>4x</b>" not in text
    assert "&lt;b&gt;4x&lt;/b&gt; more than loss &amp; co." in text
    for forbidden in ("<script", "<style", "<link", "http://", "https://"):
        assert forbidden not in text


def test_card_colours_work_on_light_and_dark_themes():
    text = render_html(samples.handmade_report())
    # Text colour comes from the theme; tints are translucent.
    assert "color:inherit" in text
    backgrounds = re.findall(r"background:([^;\"]+)", text)
    opaque = [b for b in backgrounds if b.startswith("#")]
    # Only the badges are opaque, and they carry white text.
    assert len(opaque) == len(samples.findings())
    assert all(b.startswith("rgba(") for b in backgrounds if b not in opaque)
    assert "#000" not in text and "#fff;font-weight" in text


def test_header_shows_best_epochs_and_counts():
    text = render_html(samples.handmade_report())
    assert f"recommended epoch <b>{samples.BEST_EPOCH}</b>" in text
    assert f"raw best {samples.RAW_BEST_EPOCH}" in text
    assert "1 critical" in text and "1 warning" in text and "1 info" in text


def test_headline_and_best_epoch_reason_open_the_cards():
    report = samples.handmade_report()
    report.best_epoch_reason = "lowest smoothed val_loss & more"
    for compact in (False, True):
        text = render_html(report, compact=compact)
        headline = html_lib.escape(report.headline)
        assert headline and headline in text
        assert text.index(headline) < text.index("curvewatch-finding")
        assert "lowest smoothed val_loss &amp; more" in text


def test_live_display_opens_with_the_headline():
    from keras_curvewatch.render.live import LiveDisplay

    report = samples.handmade_report()
    text = LiveDisplay(handle=None, show_plot=False).render(report)
    assert text.index(html_lib.escape(report.headline)) < text.index(
        "curvewatch-finding")


def test_finding_that_explains_the_main_one_follows_it_with_a_note():
    report = samples.handmade_report()
    report.findings = [
        samples.findings()[0],
        Finding("overparameterized", "warning", "2,018 per sample.",
                evidence={"params_per_sample": 2018, "n_train": 98},
                causes=[("model_capacity", "big.")], suggestion="Shrink."),
    ] + samples.findings()[1:]
    text = render_html(report)
    codes = re.findall(r'data-code="([a-z_]+)"', text)
    assert codes[:2] == ["overfitting", "overparameterized"]
    assert "· explains overfitting" in text
    assert report.headline.startswith("2,018 parameters per sample")
    plain = str(report)
    assert "overparameterized -- explains overfitting" in plain
    assert plain.index("overparameterized") < plain.index("val_fluctuation")


def test_healthy_report_says_so():
    report = samples.handmade_report()
    report.findings = []
    text = render_html(report)
    assert "No problems found in accuracy, loss, val_loss." in text
    assert "curvewatch-finding" in text  # still one (green) card


def test_compact_mode_is_one_line_per_finding():
    report = samples.handmade_report()
    text = render_html(report, compact=True)
    assert text.count('class="curvewatch-finding"') == len(report.findings)
    assert "curvewatch-evidence" not in text
    assert "curvewatch-causes" not in text
    overfitting = report.get("overfitting")
    assert html_lib.escape(overfitting.message) in text
    assert f'title="Try: {html_lib.escape(overfitting.suggestion)}"' in text


def test_repr_html_round_trips_through_json():
    report = samples.handmade_report()
    restored = Report.from_json(report.to_json())
    assert restored._repr_html_() == render_html(report)


@pytest.mark.parametrize(
    "value, expected",
    [(12.0, "12"), (0.031415, "0.0314"), (1.5e-5, "1.5e-05"),
     (float("nan"), "NaN"), (float("-inf"), "-∞"), (2.4137, "2.41")],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


# ---------------------------------------------------------------- standalone


def test_standalone_page_embeds_cards_and_plot(tmp_path):
    report = samples.handmade_report()
    path = tmp_path / "report.html"
    write_html(report, path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert '<meta name="color-scheme" content="light dark">' in page
    for code in report.codes:
        assert f'data-code="{code}"' in page
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert base64.b64decode(match.group(1))[:8] == PNG_MAGIC
    assert "Actions taken during training" in page and "0.0005" in page
    assert report.notes[0].split(":")[0] in page
    assert "(from argument)" in page and "known_from" not in page
    assert "https://" not in page and "<script" not in page



def test_module_import_does_not_pull_keras():
    import subprocess

    code = ("import sys, keras_curvewatch.render.html, "
            "keras_curvewatch.render.plot, keras_curvewatch.render.live, "
            "keras_curvewatch.render.standalone; "
            "print('keras' in sys.modules, 'matplotlib' in sys.modules, "
            "'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"]


# ------------------------------------------------- reports from analyze()


def _overfitting_history(seed=0, n_epochs=40, onset=15):
    rng = np.random.default_rng(seed)
    epoch = np.arange(n_epochs)
    loss = 1.2 * np.exp(-epoch / 8) + 0.05 + rng.normal(0, 0.02, n_epochs)
    val_loss = (0.9 * np.exp(-epoch / 6) + 0.25
                + 0.015 * np.maximum(0, epoch - onset)
                + rng.normal(0, 0.03, n_epochs))
    return {"loss": loss.tolist(), "val_loss": val_loss.tolist()}


def test_analyzed_overfitting_renders_everywhere(tmp_path):
    import keras_curvewatch as kcw

    report = kcw.analyze(_overfitting_history(), batch_size=32, n_train=1000,
                         n_val=200)
    assert report.has("overfitting")
    text = report._repr_html_()
    for code in report.codes:
        assert f'data-code="{code}"' in text
    onset = report.get("overfitting").epoch
    main = report.plot().axes[0]
    assert vertical_line_at(main, f"overfitting from epoch {onset}") == onset
    assert report.best_epoch is not None
    assert vertical_line_at(
        main, next(t for t in legend_labels(main)
                   if t.startswith("recommended epoch"))) == report.best_epoch
    write_html(report, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="curvewatch-plot"' in page


@pytest.mark.parametrize(
    "history, code",
    [({"loss": [1.0, 0.9, 0.8, float("nan"), float("nan")],
       "val_loss": [1.1, 1.0, 0.9, float("nan"), float("nan")]}, "nan_loss"),
     ({"loss": np.geomspace(0.7, 1e6, 20).tolist()}, "diverging")],
)
def test_analyzed_broken_runs_plot_and_render(history, code, tmp_path):
    import keras_curvewatch as kcw

    report = kcw.analyze(history)
    assert report.has(code)
    assert f'data-code="{code}"' in render_html(report)
    write_plot(report, tmp_path / "broken.png")
    assert (tmp_path / "broken.png").read_bytes()[:8] == PNG_MAGIC
    if code == "diverging":
        assert plot_report(report).axes[0].get_yscale() == "log"


def test_report_of_a_real_fit_renders(tmp_path):
    import os as _os

    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    import keras_curvewatch as kcw

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, "relu"),
                              keras.layers.Dense(1, "sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(x, y, validation_split=0.25, batch_size=8, epochs=6,
                        verbose=0)
    report = kcw.analyze(history, batch_size=8, model=model)
    figure = report.plot()
    labels = legend_labels(figure.axes[0])
    assert "loss (smoothed)" in labels and "val_loss (smoothed)" in labels
    page = render_standalone_html(report)
    assert page.count('class="curvewatch-finding"') == max(
        1, len(report.findings))
