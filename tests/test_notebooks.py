"""Executes the example notebooks in notebooks/ with a real Jupyter kernel.

Needs nbclient, ipykernel and a `python3` kernelspec (`python3 -m ipykernel
install --user` creates one).
"""

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
# Per-cell limit: the slowest cell trains a tiny LSTM for 40 epochs, which
# takes 10-40 s on a shared 2-core CI machine.
CELL_TIMEOUT_S = 300


def _kernel_available():
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        return "python3" in KernelSpecManager().find_kernel_specs()
    except Exception:
        return False


pytestmark = pytest.mark.skipif(
    not _kernel_available(),
    reason="no python3 Jupyter kernelspec (python3 -m ipykernel install "
           "--user)",
)


def execute(notebook, workdir, monkeypatch):
    """Runs every cell of `notebook` in a fresh python3 kernel."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("MPLBACKEND",
                       "module://matplotlib_inline.backend_inline")
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(REPO), path) if p))
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def _outputs(cell, output_type=None):
    return [o for o in cell.get("outputs", [])
            if output_type is None or o["output_type"] == output_type]


def _html(output):
    return output.get("data", {}).get("text/html", "")


def _run_without_errors(name, workdir, monkeypatch):
    """Reads and executes notebook `name`; fails on any error output."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    execute(notebook, workdir, monkeypatch)
    for cell in notebook.cells:
        for output in _outputs(cell, "error"):
            raise AssertionError(f"{output['ename']}: {output['evalue']}")
    return notebook


def _stream_text(cell):
    """The text the cell printed."""
    return "".join(o.get("text", "") for o in _outputs(cell, "stream"))


def _cell_containing(notebook, source_text):
    for cell in notebook.cells:
        if cell.cell_type == "code" and source_text in cell.source:
            return cell
    raise AssertionError(f"no code cell contains {source_text!r}")


def test_notebooks_are_committed_without_outputs():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert len(paths) >= 2
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} has outputs"
                assert cell.execution_count is None, path.name


def test_live_callback_notebook(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOKS / "01_live_callback.ipynb",
                             as_version=4)
    execute(notebook, tmp_path, monkeypatch)
    fit_cell = _cell_containing(notebook, "model.fit(")
    displays = _outputs(fit_cell, "display_data")
    # One output area, updated in place: never one per epoch.
    assert len(displays) == 1
    live = _html(displays[0])
    assert "curvewatch-live" in live
    assert "waiting for the first epoch" not in live  # it was updated
    assert "data:image/png;base64," in live
    assert not any("image/png" in o.get("data", {}) for o in displays)
    # The live display replaces the per-finding warnings printout.
    printed = _stream_text(fit_cell)
    assert "Warning" not in printed and "[warning]" not in printed, printed
    report_cell = _cell_containing(notebook, "report = watch.report")
    results = _outputs(report_cell, "execute_result")
    assert 'class="curvewatch-report"' in _html(results[0])
    plot_cell = _cell_containing(notebook, "report.plot()")
    assert any("image/png" in o.get("data", {}) for o in _outputs(plot_cell))


def test_analyze_saved_history_notebook(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOKS / "02_analyze_saved_history.ipynb",
                             as_version=4)
    execute(notebook, tmp_path, monkeypatch)
    report_cell = _cell_containing(notebook, "kcw.analyze(")
    html = _html(_outputs(report_cell, "execute_result")[0])
    assert 'class="curvewatch-report"' in html
    assert "overfitting" in html
    plot_cell = _cell_containing(notebook, "report.plot()")
    plots = [o for o in _outputs(plot_cell)
             if "image/png" in o.get("data", {})]
    assert len(plots) == 1  # shown once, not twice
    share_cell = _cell_containing(notebook, "write_html(")
    text = _stream_text(share_cell)
    assert "report.html" in text and "bytes" in text


def test_learning_rate_control_notebook(tmp_path, monkeypatch):
    notebook = _run_without_errors("03_learning_rate_control.ipynb", tmp_path,
                                   monkeypatch)
    actions = _cell_containing(notebook, "for action in report.actions")
    text = _stream_text(actions)
    # The controller lowered the rate at least once, and said why.
    assert "0.05 -> " in text, text
    assert "learning_rate per epoch" in text


def test_compare_runs_notebook(tmp_path, monkeypatch):
    notebook = _run_without_errors("04_compare_runs.ipynb", tmp_path,
                                   monkeypatch)
    compare_cell = _cell_containing(notebook, "kcw.compare(")
    html = _html(_outputs(compare_cell, "execute_result")[0])
    assert 'class="curvewatch-compare"' in html
    for name in ("batch 32", "batch 4", "batch 2"):
        assert name in html
    pair_cell = _cell_containing(notebook, 'comparison.pair(')
    text = _stream_text(pair_cell)
    assert "val_loss noise is" in text and "keep:" in text
    plot_cell = _cell_containing(notebook, "comparison.plot()")
    assert any("image/png" in o.get("data", {}) for o in _outputs(plot_cell))
    check_cell = _cell_containing(notebook, "kcw.signal_check(")
    html = _html(_outputs(check_cell, "execute_result")[0])
    assert 'class="curvewatch-report"' in html
    # The sequences carry signal that kNN sees: no weak_signal.
    assert 'data-code="weak_signal"' not in html


def test_stop_on_sweep_notebook(tmp_path, monkeypatch):
    notebook = _run_without_errors("05_stop_on_sweep.ipynb", tmp_path,
                                   monkeypatch)
    sweep = _cell_containing(notebook, "for optimizer, rate in sweep")
    text = _stream_text(sweep)
    rows = {tuple(line.split()[:2]): line.split()[2:]
            for line in text.splitlines()[1:] if line.startswith(("adam",
                                                                  "sgd"))}
    # The healthy runs train to the end; the NaN run is stopped early.
    assert rows[("adam", "0.01")] == ["12", "-"], text
    assert rows[("sgd", "0.5")] == ["12", "-"], text
    assert int(rows[("sgd", "30")][0]) < 12 and rows[("sgd", "30")][1] in (
        "nan_loss", "diverging"), text
    assert "epochs saved:" in text
    stopped = _cell_containing(notebook, 'report = reports[("sgd", 30.0)]')
    assert "'reason'" in "".join(
        o.get("data", {}).get("text/plain", "")
        for o in _outputs(stopped, "execute_result"))
    full = _cell_containing(notebook, "print(report)")
    printed = _stream_text(full)
    assert "stopped training after epoch" in printed, printed
