"""Tests of the live notebook display (keras_curvewatch/render/live.py)."""

import os
import pathlib
import sys

import pytest

import report_samples as samples
from keras_curvewatch.render.live import LiveDisplay


def test_live_display_is_none_outside_ipython():
    assert LiveDisplay.create() is None


def test_live_display_is_none_without_ipython(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert LiveDisplay.create() is None


def test_live_display_without_matplotlib_shows_findings_only(monkeypatch):
    class Handle:
        shown = None

        def update(self, obj):
            Handle.shown = obj.data

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    live = LiveDisplay(Handle())
    assert live.update(samples.handmade_report()) is True
    assert "<img" not in Handle.shown
    assert 'data-code="overfitting"' in Handle.shown


def test_live_display_renders_small_plot_and_cards():
    class Handle:
        def __init__(self):
            self.shown = []

        def update(self, obj):
            self.shown.append(obj.data)

    handle = Handle()
    live = LiveDisplay(handle)
    report = samples.handmade_report()
    assert live.update(report) is True
    # A second update right away is deferred, then flushed.
    assert live.update(report) is False and live.flush() is True
    assert len(handle.shown) == 2
    shown = handle.shown[-1]
    assert f"epoch {samples.N_EPOCHS}" in shown
    assert "data:image/png;base64," in shown
    assert 'data-code="overfitting"' in shown


def test_live_display_turns_errors_into_one_warning():
    class BrokenHandle:
        calls = 0

        def update(self, obj):
            BrokenHandle.calls += 1
            raise RuntimeError("front end went away")

    live = LiveDisplay(BrokenHandle(), show_plot=False)
    with pytest.warns(RuntimeWarning, match="front end went away"):
        assert live.update(samples.handmade_report()) is False
    assert live.update(samples.handmade_report(), force=True) is False
    assert BrokenHandle.calls == 1


def test_live_display_updates_one_output_in_a_real_kernel(tmp_path,
                                                          monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    tests_dir = pathlib.Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tests_dir.parent), str(tests_dir)]))
    source = (
        "import report_samples as samples\n"
        "from keras_curvewatch.render.live import LiveDisplay\n"
        "live = LiveDisplay.create()\n"
        "report = samples.handmade_report()\n"
        "for n in (3, 7, 12):\n"
        "    report.n_epochs = n\n"
        "    live.update(report, force=True)\n"
        "print('updates', live.updates)\n"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = notebook.cells[0].outputs
    displays = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(displays) == 1
    shown = displays[0]["data"]["text/html"]
    assert "Curvewatch · epoch 12" in shown and "epoch 3<" not in shown
    streams = "".join(o.get("text", "") for o in outputs
                      if o["output_type"] == "stream")
    assert "updates 3" in streams
