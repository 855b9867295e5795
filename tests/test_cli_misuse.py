"""The command line: --version, a clean lint output, and short logs."""

import os
import subprocess
import sys

import pytest

import keras_curvewatch
from keras_curvewatch import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"curvewatch {keras_curvewatch.__version__}")


def test_lint_prints_no_epoch_count_and_no_tensorflow_log(tmp_path):
    path = str(tmp_path / "model.keras")
    script = (
        "import keras\n"
        "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "
        "activation='softmax')])\n"
        "m.compile('adam', 'sparse_categorical_crossentropy')\n"
        f"m.save({path!r})\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", script], check=True, env=env,
                   capture_output=True, timeout=300)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, "-m", "keras_curvewatch.cli", "lint", path],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Epochs analysed" not in result.stdout
    assert "No findings." in result.stdout
    assert "curves look healthy" not in result.stdout
    assert result.stderr == ""


def test_a_one_row_log_is_too_short_to_judge(tmp_path, capsys):
    path = tmp_path / "training.log"
    path.write_text("epoch,loss,val_loss\n0,0.9,1.0\n")
    assert cli.main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert "curves look healthy" not in out
    assert "too few to judge" in out and "too short to judge" in out
    report = keras_curvewatch.analyze(str(path))
    assert any("too short" in note for note in report.notes)
