"""Report and Finding: serialisation round trips and text rendering."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_curvewatch as kcw
from keras_curvewatch.engine.findings import Finding


def _report():
    rng = np.random.default_rng(0)
    t = np.arange(30)
    loss = np.exp(-t / 8) + 0.05
    val = 0.4 + 0.002 * (t - 10.0) ** 2 + rng.normal(0, 0.01, 30)
    val[5] = float("nan")
    return kcw.analyze({"loss": loss, "val_loss": val,
                        "accuracy": 1 - loss / 2}, batch_size=2, n_train=90,
                       n_params=200_000, layers=["LSTM", "Dense"])


def test_report_dict_round_trip_is_exact():
    report = _report()
    data = report.to_dict()
    again = kcw.Report.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data
    assert again.codes == report.codes
    assert again.best_epoch == report.best_epoch


def test_report_json_is_strict_and_round_trips():
    report = _report()
    text = report.to_json()
    # Strict JSON: no bare NaN/Infinity tokens.
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    again = kcw.Report.from_json(text)
    assert math.isnan(again.series["val_loss"].values[5])
    assert again.to_json() == text


def test_text_names_codes_epochs_and_suggestions():
    report = _report()
    text = str(report)
    for finding in report.findings:
        assert finding.code in text
        assert finding.suggestion[:30] in text
    assert f"Recommended epoch: {report.best_epoch}" in text
    assert report.best_epoch_reason in " ".join(text.split())


def test_text_opens_with_the_headline():
    report = _report()
    lines = str(report).splitlines()
    assert report.headline.startswith(lines[2])
    assert "First" in report.headline
    again = kcw.Report.from_dict(report.to_dict())
    assert again.headline == report.headline
    assert again.best_epoch_curve == report.best_epoch_curve


def test_findings_are_sorted_most_severe_first():
    ranks = [f.rank for f in _report().findings]
    assert ranks == sorted(ranks, reverse=True)


def test_finding_rejects_unknown_vocabulary():
    with pytest.raises(kcw.ConfigError, match="Unknown finding code"):
        Finding(code="bad_code", severity="info", message="")
    with pytest.raises(kcw.ConfigError, match="Unknown severity"):
        Finding(code="nan_loss", severity="fatal", message="")
    with pytest.raises(kcw.ConfigError, match="Unknown cause"):
        Finding(code="nan_loss", severity="info", message="",
                causes=[("bad luck", "x")])


def test_from_dict_rejects_other_dicts():
    with pytest.raises(kcw.InputError, match="findings"):
        kcw.Report.from_dict({"loss": [1, 2]})


_values = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), _values,
                       max_size=5))
def test_finding_evidence_round_trips_any_float(evidence):
    finding = Finding(code="loss_spike", severity="warning", message="m",
                      evidence=evidence, causes=[("learning_rate", "s")])
    again = Finding.from_dict(json.loads(json.dumps(finding.to_dict())))
    for key, value in evidence.items():
        if math.isnan(value):
            assert math.isnan(again.evidence[key])
        else:
            assert again.evidence[key] == value


def test_engine_imports_neither_keras_nor_tensorflow(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss\n" + "\n".join(
        f"{i},{1 / (i + 1)},{1.1 / (i + 1)}" for i in range(12)))
    code = (
        "import sys, keras_curvewatch as k\n"
        f"r = k.analyze({str(path)!r})\n"
        "bad = [m for m in ('keras', 'tensorflow', 'jax', 'torch') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print(r.n_epochs)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12"
