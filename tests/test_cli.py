"""The curvewatch command line: output formats, exit codes, bad input."""

import json
import os
import subprocess
import sys

import pytest

from keras_curvewatch import cli


def _log(tmp_path, rows, name="training.log"):
    path = tmp_path / name
    path.write_text(rows)
    return str(path)


def _overfit_log(tmp_path):
    lines = ["epoch,loss,val_loss"]
    for i in range(30):
        lines.append(f"{i},{1 / (i + 1):.5f},{0.4 + 0.002 * (i - 10) ** 2:.5f}")
    return _log(tmp_path, "\n".join(lines) + "\n")


def test_analyze_text_and_exit_code(tmp_path, capsys):
    path = _overfit_log(tmp_path)
    assert cli.main(["analyze", path, "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "overfitting" in out and "Recommended epoch" in out
    # The rise ends above the first value: critical by default, so exit 1.
    assert cli.main(["analyze", path]) == 1


def test_analyze_exit_zero_below_fail_on(tmp_path, capsys):
    lines = ["epoch,loss,val_loss"] + [
        f"{i},{1 / (i + 1):.5f},{1.1 / (i + 1) + 0.05:.5f}" for i in range(8)
    ]
    path = _log(tmp_path, "\n".join(lines))
    assert cli.main(["analyze", path, "--fail-on", "critical"]) == 0


def test_analyze_json_round_trips(tmp_path, capsys):
    path = _overfit_log(tmp_path)
    cli.main(["analyze", path, "--format", "json", "--n-val", "500",
              "--batch-size", "32"])
    data = json.loads(capsys.readouterr().out)
    assert data["context"]["n_val"] == 500
    assert "overfitting" in [f["code"] for f in data["findings"]]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("", "empty"),
        ("epoch,loss,val_loss\n", "no rows"),
        ("epoch,loss\n0,0.5\n1,abc\n", "abc"),
        ("epoch,loss,val_loss\n0,0.5,0.6\n1,0.4\n", "line 3"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, content,
                                          expected):
    path = _log(tmp_path, content, "bad.csv")
    assert cli.main(["analyze", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("curvewatch: error:")
    assert err.count("\n") == 1
    assert "bad.csv" in err
    assert expected in err


def test_missing_file_and_bad_arguments(tmp_path, capsys):
    assert cli.main(["analyze", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["analyze", "x.csv", "--batch-size", "zero"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_console_script_never_prints_a_traceback(tmp_path):
    path = _log(tmp_path, "\x00\x01binary\xff", "weird.bin")
    out = subprocess.run(
        [sys.executable, "-m", "keras_curvewatch.cli", "analyze", path],
        capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "weird.bin" in out.stderr


def test_demo_warns_live_then_prints_the_report(capsys):
    assert cli.main(["demo", "--epochs", "3"]) == 0
    captured = capsys.readouterr()
    assert "small_batch" in captured.out
    assert "overparameterized" in captured.out
    # Raised live by CurveWatch while fit ran, before the final report.
    live = [line for line in captured.err.splitlines()
            if line.startswith("curvewatch (live): ")]
    assert any("small_batch" in line for line in live)
    assert any("overparameterized" in line for line in live)
