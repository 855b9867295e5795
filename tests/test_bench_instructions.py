"""bench/instructions.py's reading of callgrind dumps and its estimate.

The counting itself needs valgrind and takes minutes; these check what the
bench makes of the counts, on dump files written here in callgrind's own
layout."""

import pytest

from keras_curvewatch.live.cadence import DIAGNOSIS_BUDGET
from keras_curvewatch.live.cadence import FIXED_COST_EPOCHS
import bench_scripts  # beside this file


def _dump(path, trigger, total):
    # The head of a callgrind dump: the trigger, then the summary.
    path.write_text(
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n"
        "pid: 1\ncmd:  python fit.py\npart: 1\n\n"
        "desc: I1 cache: \ndesc: D1 cache: \ndesc: LL cache: \n\n"
        f"desc: Trigger: Client Request: {trigger}\n\n"
        f"positions: line\nevents: Ir\nsummary: {total}\n\n"
        "fn=(1) main\n0 5\n\n"
        f"totals: {total}\n")


def test_dumps_add_up_by_phase_and_part(tmp_path):
    bench = bench_scripts.load("instructions")
    _dump(tmp_path / "dense4_curvewatch.7.1", "first2/keras", 1000)
    _dump(tmp_path / "dense4_curvewatch.7.2", "first2/hooks", 30)
    _dump(tmp_path / "dense4_curvewatch.7.3", "rest/hooks", 7)
    _dump(tmp_path / "dense4_curvewatch.7.4", "rest/hooks", 5)
    # The part after the last request, and another run's file: not read.
    _dump(tmp_path / "dense4_curvewatch.7", "Program termination", 99)
    _dump(tmp_path / "dense4_bare.8.1", "first2/keras", 500)
    counts = bench._counts(str(tmp_path / "dense4_curvewatch"))
    assert counts == {("first2", "keras"): 1000, ("first2", "hooks"): 30,
                      ("rest", "hooks"): 12}


def _counts(first2, warm, epoch, hooks=0, report=0):
    return {("first2", "keras"): first2, ("warm", "keras"): warm,
            ("rest", "keras"): epoch * 20, ("rest", "hooks"): hooks * 20,
            ("rest", "last-report"): report}


def test_the_estimate_adds_each_part_to_the_bare_fit():
    bench = bench_scripts.load("instructions")
    epochs = bench.WARM_EPOCHS + 20  # 20 steady epochs, as in _counts
    bare = _counts(first2=1000, warm=80, epoch=10)
    same = bench.summarise(bare, dict(bare), epochs, 1000)
    # Nothing added but the diagnoses' budget.
    assert same["long_ratio"] == pytest.approx(1.0 + DIAGNOSIS_BUDGET)
    assert same["compile_ratio"] == 1.0 and same["epoch_ratio"] == 1.0

    watched = _counts(first2=1100, warm=80, epoch=11, hooks=1, report=4)
    row = bench.summarise(bare, watched, epochs, 1000)
    steady = 1000 - bench.WARM_EPOCHS
    long_bare = 1000 + 80 + steady * 10
    report = 4 * (1000 + FIXED_COST_EPOCHS) / (epochs + FIXED_COST_EPOCHS)
    parts = row["long_parts"]
    assert parts["first2"] == pytest.approx(100 / long_bare)
    assert parts["epoch_keras"] == pytest.approx(steady / long_bare)
    assert parts["hooks"] == pytest.approx(steady / long_bare)
    assert parts["report"] == pytest.approx(report / long_bare)
    assert row["long_ratio"] == pytest.approx(1.0 + sum(parts.values()))
    assert row["epoch_keras_ratio"] == pytest.approx(1.1)
    assert row["epoch_ratio"] == pytest.approx(1.2)
