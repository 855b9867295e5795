"""Every real CSVLogger log in ../shared/real_logs loads and gets a
sensible report."""

import csv
import pathlib

import pytest

import keras_curvewatch as kcw
import bench_scripts  # beside this file

REAL_LOGS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "real_logs"
FILES = sorted(REAL_LOGS.glob("*.csv")) if REAL_LOGS.is_dir() else []


def _sources():
    with open(REAL_LOGS / "SOURCES.tsv", newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle,
                                                           delimiter="\t")}


@pytest.mark.skipif(not FILES, reason="../shared/real_logs is not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:3])
def test_real_log_gets_a_sensible_report(path):
    report = kcw.analyze(str(path))
    assert report.n_epochs >= 1
    epochs = {e for s in report.series.values() for e in s.epochs}
    if report.best_epoch is not None:
        assert report.best_epoch in epochs
    # Every finding is well formed and its epoch exists in the run.
    for finding in report.findings:
        assert finding.message and finding.suggestion
        assert finding.causes, finding.code
        if finding.epoch is not None:
            assert finding.epoch in epochs
    kcw.Report.from_json(report.to_json())
    assert str(report)
    expected_rows = int(_sources()[path.name]["epochs"])
    assert report.n_epochs <= expected_rows
    if report.n_epochs < expected_rows:
        assert any("run" in note for note in report.notes)


KNOWN = {
    "012": "nan_loss",       # loss is NaN in every row
    "013": "not_learning",   # 1000 epochs stuck at the same loss
    "001": "overfitting",    # val_loss bottoms at epoch 3, then climbs
    "031": "overfitting",
}


@pytest.mark.skipif(not FILES, reason="../shared/real_logs is not present")
@pytest.mark.parametrize("prefix, code", sorted(KNOWN.items()))
def test_real_logs_with_an_obvious_problem(prefix, code):
    path = next(p for p in FILES if p.name.startswith(prefix))
    assert kcw.analyze(str(path)).has(code)


@pytest.mark.skipif(not FILES, reason="../shared/real_logs is not present")
def test_appended_runs_are_reported():
    path = next(p for p in FILES if p.name.startswith("021"))
    report = kcw.analyze(str(path))
    assert report.n_epochs == 10
    assert any("last run" in note for note in report.notes)


# bench/real_logs.py measured micro-F1 0.904 on the 63 labelled logs (tune
# half 0.937, held-out half 0.874); the floor leaves room for the small
# differences between platforms' floating point, not for regressions.
REAL_LOGS_MIN_MICRO_F1 = 0.88


@pytest.mark.skipif(not (REAL_LOGS / "LABELS.tsv").exists(),
                    reason="../shared/real_logs/LABELS.tsv is not present")
def test_labelled_real_logs_score_and_healthy_runs_stay_quiet():
    bench = bench_scripts.load("real_logs")
    results = bench.analyse(str(REAL_LOGS), bench.read_labels(REAL_LOGS))
    _, totals = bench.score(results)
    assert bench.micro_f1(totals) >= REAL_LOGS_MIN_MICRO_F1, totals
    assert bench.healthy_alarms(results) == []
