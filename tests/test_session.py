"""The one engine (`DiagnosisSession`) and the registry of finding codes:
a new code is one entry plus its rule, and flows to a warning class, the
report and the README; findings warned live and gone at the end are in
`report.cleared`."""

import json
import re
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_curvewatch as kcw
from keras_curvewatch import cli
from keras_curvewatch.engine import codes
from keras_curvewatch.engine import rules
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.session import DiagnosisSession
from keras_curvewatch.live import warning_types
from keras_curvewatch.live.callback import END_OF_RUN_CODES
from keras_curvewatch.live.callback import CurveWatch

README = Path(__file__).resolve().parents[1] / "README.md"
# Epochs during which the toy rule below fires.
TOY_EPOCHS = 3


def _toy_rule(inp):
    """Fires while the run is shorter than `TOY_EPOCHS` + 1 epochs: a
    finding that is warned live and cleared later."""
    if inp.curves.n_epochs > TOY_EPOCHS:
        return []
    return [Finding(code="toy_phase", severity="warning",
                    message="A toy finding of the first epochs.",
                    series="loss", evidence={"n_epochs": inp.curves.n_epochs})]


@pytest.fixture
def toy_code():
    code = codes.register(codes.Code(
        "toy_phase", codes.CURVE, ("warning",),
        "a toy code registered by a test"))
    rules.register_rule(_toy_rule)
    yield code
    rules.unregister_rule(_toy_rule)
    codes.unregister("toy_phase")


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    return x, y


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                              keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


def test_a_registered_code_flows_to_warning_class_report_and_cleared(
        toy_code):
    assert toy_code.warning == "ToyPhaseWarning"
    watch = CurveWatch(display=False)
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _model().fit(x, y, batch_size=8, epochs=6, verbose=0,
                     callbacks=[watch])
    toy = [w for w in caught if w.category.__name__ == "ToyPhaseWarning"]
    assert len(toy) == 1, [w.category.__name__ for w in caught]
    assert issubclass(toy[0].category, kcw.CurveWarning)
    assert toy[0].category is warning_types.warning_class("toy_phase")
    assert "toy_phase" in str(toy[0].message)
    # Gone from the final findings, and accounted for in report.cleared.
    report = watch.report
    assert "toy_phase" not in report.codes
    (entry,) = [c for c in report.cleared if c["code"] == "toy_phase"]
    assert entry["severity"] == "warning"
    assert entry["warned_epoch"] == 0
    # The first diagnosed epoch without it: the live diagnosis runs on a
    # cadence (live/cadence.py), so it may be a later epoch than the first
    # one without the toy phase, never an earlier one.
    assert TOY_EPOCHS <= entry["cleared_epoch"] <= 5
    assert f"not found from epoch {entry['cleared_epoch']} on" in entry["reason"]
    again = kcw.Report.from_json(report.to_json())
    assert again.cleared == report.cleared
    assert f"cleared at epoch {entry['cleared_epoch']}" in str(report)
    assert f"cleared at epoch {entry['cleared_epoch']}" in report._repr_html_()


def test_a_registered_code_reaches_analyze_with_one_entry(toy_code):
    report = kcw.analyze({"loss": [1.0, 0.8, 0.7]})
    assert report.codes.count("toy_phase") == 1
    assert report.get("toy_phase").severity == "warning"
    assert "toy_phase" in codes.markdown_table()
    assert "toy_phase" in codes.help_text()


def test_unknown_and_duplicate_codes_are_config_errors():
    with pytest.raises(kcw.ConfigError, match="already registered"):
        codes.register(codes.Code("nan_loss", codes.CURVE, ("critical",),
                                  "again"))
    with pytest.raises(kcw.ConfigError, match="source"):
        codes.Code("x_y", "elsewhere", ("info",), "bad source")
    with pytest.raises(kcw.ConfigError, match="Unknown finding code"):
        codes.get("no_such_code")


def test_public_names_derive_from_the_registry():
    for code in codes.all_codes():
        cls = getattr(kcw, code.warning)
        assert cls is warning_types.warning_class(code.name)
        assert code.warning in kcw.__all__
    assert kcw.SmallBatchWarning.__name__ == "SmallBatchWarning"
    assert kcw.CODES == codes.names()
    assert END_OF_RUN_CODES == ("not_converged",)


def test_readme_table_is_the_registry():
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- codes:begin -->\n(.*?)\n<!-- codes:end -->",
                      text, re.S)
    assert match, "README lacks the generated finding-code table"
    assert match.group(1) == codes.markdown_table(), (
        "README table is stale; paste codes.markdown_table()")


def test_cli_help_lists_every_code(capsys):
    with pytest.raises(SystemExit):
        cli.main(["analyze", "--help"])
    out = capsys.readouterr().out
    for code in codes.names():
        assert code in out


def test_session_merges_every_source_into_one_finding_per_code():
    session = DiagnosisSession(source="test")
    for epoch, loss in enumerate([1.0, 0.5, float("nan")]):
        session.add_epoch(epoch, {"loss": loss})
    lint = Finding(code="dropout_too_high", severity="warning", message="l")
    session.set_lint([lint])
    control = Finding(code="nan_loss", severity="critical",
                      message="stopped", series="loss", epoch=2)
    report = session.report(extra=[control])
    assert report.codes.count("nan_loss") == 1
    assert report.codes.count("dropout_too_high") == 1
    # Merging again (as after the controller acts) changes nothing.
    assert session.merge(report, [control]).codes == report.codes


def test_fill_epochs_writes_only_empty_cells_of_the_given_rows():
    session = DiagnosisSession()
    for epoch in range(4):
        logs = {"loss": 1.0 / (epoch + 1)}
        if epoch == 2:
            logs["batch_loss_std"] = 0.5  # logged: must be kept
        session.add_epoch(epoch, logs)
    session.fill_epochs([0, 2, 3], {"batch_loss_std": [0.1, 0.2, 0.3],
                                    "batch_loss_cv": [1.0, 2.0, 3.0]},
                        [[1.0, 2.0], [3.0], [4.0, 5.0]])
    std, cv = session.history["batch_loss_std"], session.history[
        "batch_loss_cv"]
    assert std[0] == 0.1 and std[2] == 0.5 and std[3] == 0.3
    assert np.isnan(std[1]) and np.isnan(cv[1])
    assert cv[0] == 1.0 and cv[2] == 2.0 and cv[3] == 3.0
    assert session.epoch_batch_losses == [[1.0, 2.0], [3.0], [4.0, 5.0]]
    assert session.history["loss"] == [1.0, 0.5, 1.0 / 3, 0.25]


def test_session_state_round_trips_with_warnings_and_cleared():
    session = DiagnosisSession()
    session.add_epoch(0, {"loss": 1.0}, batch_losses=[1.1, 0.9],
                      measured={"batch_size": 4, "complete": True})
    finding = Finding(code="small_batch", severity="info", message="m")
    session.record_warned([finding])
    session.add_epoch(1, {"loss": 0.9})
    session.merge(kcw.Report())
    state = json.loads(json.dumps(session.get_state(), allow_nan=False))
    again = DiagnosisSession()
    again.set_state(state)
    assert again.get_state() == session.get_state()
    assert again.merge(kcw.Report()).cleared[0]["cleared_epoch"] == 1


def test_a_warning_made_moot_says_what_superseded_it():
    session = DiagnosisSession()
    session.add_epoch(0, {"loss": 1.0})
    session.record_warned([Finding(code="train_oscillation",
                                   severity="critical", message="m")])
    session.add_epoch(1, {"loss": float("nan")})
    nan = Finding(code="nan_loss", severity="critical", message="m")
    report = session.merge(kcw.Report(), [nan])
    (entry,) = report.cleared
    assert entry["code"] == "train_oscillation"
    assert entry["warned_epoch"] == 0 and entry["cleared_epoch"] == 1
    assert entry["reason"].startswith("superseded by nan_loss")
