"""The registry of readers (`keras_curvewatch.io.readers`): experiment-
tracker exports, encodings, extreme numbers, and a toy reader showing that
a new format is one module plus one entry."""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_curvewatch as kcw
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError
from keras_curvewatch.io import readers
from keras_curvewatch.io.history import load_history

N = 40


def _overfitting_curves():
    """Training loss falls; validation loss bottoms out at epoch 12 and
    then climbs well beyond its noise."""
    rng = np.random.default_rng(0)
    t = np.arange(N)
    loss = 1.2 * np.exp(-t / 10) + 0.05
    val = 0.5 + 0.0009 * (t - 12.0) ** 2 + rng.normal(0, 0.004, N)
    val[:12] = 0.5 + 0.7 * np.exp(-t[:12] / 4)
    return loss, val


def _wandb_chart_export(loss, val, run="bright-sun-7"):
    header = ["Step", f"{run} - loss", f"{run} - loss__MIN",
              f"{run} - loss__MAX", f"{run} - val_loss",
              f"{run} - val_loss__MIN", f"{run} - val_loss__MAX"]
    rows = [",".join(f'"{h}"' for h in header)]
    for step, (a, b) in enumerate(zip(loss, val)):
        rows.append(",".join(str(v) for v in (
            step, a, a * 0.9, a * 1.1, b, b * 0.9, b * 1.1)))
    return "\n".join(rows) + "\n"


def test_wandb_chart_export_reads_the_main_columns(tmp_path):
    loss, val = _overfitting_curves()
    path = tmp_path / "wandb_export_2024-05-01.csv"
    path.write_text(_wandb_chart_export(loss, val))
    curves = load_history(path)
    assert curves.keys() == ["loss", "val_loss"]
    assert curves.epochs.tolist() == list(range(N))
    np.testing.assert_allclose(curves.get("val_loss"), val)
    assert any("Weights & Biases" in note for note in curves.notes)
    report = kcw.analyze(path)
    assert "Step" not in report.series and "overfitting" in report.codes


def test_wandb_history_export_drops_system_columns(tmp_path):
    loss, val = _overfitting_curves()
    rows = ["_step,_runtime,_timestamp,epoch/epoch,epoch/loss,epoch/val_loss,"
            "epoch/learning_rate"]
    for i in range(N):
        rows.append(f"{i},{3.2 * i},{1.7e9 + i},{i},{loss[i]},{val[i]},0.001")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows))
    curves = load_history(path)
    assert curves.keys() == ["loss", "val_loss", "learning_rate"]
    assert curves.epochs.tolist() == list(range(N))


def test_wandb_export_of_two_runs_reads_the_first(tmp_path):
    loss, val = _overfitting_curves()
    rows = ["Step,a - loss,b - loss,a - loss__MIN"]
    rows += [f"{i},{loss[i]},{val[i]},{loss[i]}" for i in range(N)]
    path = tmp_path / "two.csv"
    path.write_text("\n".join(rows))
    curves = load_history(path)
    np.testing.assert_allclose(curves.get("loss"), loss)
    assert any("2 runs" in note for note in curves.notes)


@pytest.mark.parametrize("filename,key,noted", [
    ("run-validation-tag-epoch_loss.csv", "val_loss", False),
    ("run-train-tag-epoch_accuracy.csv", "accuracy", False),
    ("run_mnist_validation-tag-epoch_loss.csv", "val_loss", False),
    ("val_loss.csv", "val_loss", False),
    ("download (3).csv", "loss", True),
])
def test_tensorboard_csv_download_is_one_named_series(tmp_path, filename,
                                                      key, noted):
    loss, _ = _overfitting_curves()
    rows = ["Wall time,Step,Value"]
    rows += [f"{1.7e9 + 5 * i},{i},{loss[i]}" for i in range(N)]
    path = tmp_path / filename
    path.write_text("\n".join(rows) + "\n")
    curves = load_history(path)
    assert curves.keys() == [key]
    assert curves.epochs.tolist() == list(range(N))
    np.testing.assert_allclose(curves.get(key), loss)
    assert any("'loss'" in n for n in curves.notes) == noted


def test_unknown_format_names_every_format_tried(tmp_path):
    path = tmp_path / "train.out"
    path.write_text("Epoch 1/3: loss 0.5\nEpoch 2/3: loss 0.4\n")
    with pytest.raises(FormatError) as info:
        load_history(path)
    message = str(info.value)
    assert "train.out" in message and "unknown format" in message
    for name in readers.format_names():
        assert name in message


class _ToyReader:
    """A new format: a first line `TOYLOG 1`, then `loss=<value>` lines."""

    NAME = "a toy log"

    @staticmethod
    def sniff(path):
        with open(path, "rb") as f:
            return f.read(6) == b"TOYLOG"

    @staticmethod
    def read(path):
        with open(path) as f:
            values = [float(line.split("=")[1])
                      for line in f.read().split("\n")[1:] if line]
        return Curves(values={"loss": values}, source=str(path))


def test_a_new_reader_is_one_registry_entry(tmp_path):
    path = tmp_path / "run.toy"
    path.write_text("TOYLOG 1\nloss=1.0\nloss=0.5\nloss=0.25\n")
    with pytest.raises(FormatError, match="unknown format"):
        load_history(path)
    readers.register_reader(_ToyReader)
    try:
        assert readers.READERS.index(_ToyReader) < len(readers.READERS) - 1
        assert "a toy log" in readers.format_names()
        assert load_history(path).get("loss").tolist() == [1.0, 0.5, 0.25]
        assert kcw.analyze(path).n_epochs == 3
    finally:
        readers.unregister_reader(_ToyReader)
    assert "a toy log" not in readers.format_names()


_CSV = "epoch,loss,val_loss\n0,1.0,1.1\n1,0.8,0.9\n2,0.7,0.85\n"


@pytest.mark.parametrize("encoding", [
    "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
    "utf-32-le", "utf-32-be", "latin-1"])
def test_every_unicode_encoding_reads_like_utf8(tmp_path, encoding):
    path = tmp_path / "log.csv"
    path.write_bytes(_CSV.encode(encoding))
    curves = load_history(path)
    assert curves.keys() == ["loss", "val_loss"]
    np.testing.assert_allclose(curves.get("val_loss"), [1.1, 0.9, 0.85])


def test_broken_utf16_says_save_as_utf8(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xff\xfe" + _CSV.encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(FormatError, match="UTF-16.*save it as UTF-8"):
        load_history(path)


def test_json_null_is_a_json_error_not_a_csv_header(tmp_path):
    path = tmp_path / "h.json"
    path.write_text("null\n")
    with pytest.raises(FormatError, match="h.json: found JSON null"):
        load_history(path)


def test_a_text_column_is_skipped_with_a_note(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,optimizer,val_loss\n0,1.0,adam,1.2\n"
                    "1,0.8,adam,1.0\n2,0.7,,0.9\n")
    curves = load_history(path)
    assert curves.keys() == ["loss", "val_loss"]
    assert any("'optimizer'" in note and "text" in note
               for note in curves.notes)


@pytest.mark.parametrize("content,error,parts", [
    (json.dumps({"loss": [1.0, int("9" * 400)]}), InputError,
     ["'loss'", "value 1", "too large"]),
    ("epoch,loss\n0,1\n1e20,0.5\n", FormatError,
     ["line 3", "'epoch'", "1e+20", "whole epoch number"]),
    ("epoch,loss\n0,1\n1e300,0.5\n", FormatError,
     ["line 3", "1e+300", "whole epoch number"]),
    ("[" * 100_000 + "]" * 100_000, FormatError, ["nested too deeply"]),
    ('{"loss": ' + "[" * 100_000 + "]" * 100_000 + "}", FormatError,
     ["nested too deeply"]),
])
def test_extreme_numbers_are_input_errors(tmp_path, content, error, parts):
    path = tmp_path / "extreme.log"
    path.write_text(content)
    with pytest.raises(error) as info:
        load_history(path)
    for part in ["extreme.log"] + parts:
        assert part in str(info.value), (part, str(info.value))


def test_extreme_numbers_in_a_dict():
    with pytest.raises(InputError, match="too large"):
        load_history({"loss": [1.0, 10**400]})
    curves = load_history({"loss": [1.0, 0.5], "epoch": [0, 1e300]})
    assert curves.epochs.tolist() == [0, 1]
    assert any("Ignored the epoch labels" in n for n in curves.notes)


# Fuzz: byte-level garbage and re-encoded logs give `Curves` or one of the
# documented errors (`InputError` and its subclass `FormatError`), never
# anything else.

_token = st.sampled_from(
    list('epoch,;\t\r\n"[]{}:0123456789.-+eE _') + [
        "nan", "inf", "NA", "null", "loss", "val_loss", "Step", "Value",
        "Wall time", " - loss__MIN", "_runtime", "\ufeff", "\x00", "9" * 400])
_encodings = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-16-be",
                              "utf-32", "utf-32-le", "utf-32-be", "latin-1"])


def _load_or_documented_error(path):
    try:
        curves = load_history(path)
    except InputError as exc:
        assert path.name in str(exc)
        return None
    assert curves.n_epochs >= 1
    for values in curves.values.values():
        assert values.shape == (curves.n_epochs,)
    return curves


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.tuples(st.lists(_token, max_size=40).map("".join),
                  _encodings).map(
            lambda te: te[0].encode(te[1], errors="replace")),
        st.binary(max_size=64),
        st.binary(max_size=16).map(lambda b: b"\xff\xfe" + b),
        st.binary(max_size=16).map(lambda b: b"\x00\x00\xfe\xff" + b),
    ),
    name=st.sampled_from(["log.csv", "h.json", "run.tsv"]),
)
def test_fuzzed_bytes_give_curves_or_a_documented_error(tmp_path, content,
                                                        name):
    path = tmp_path / name
    path.write_bytes(content)
    _load_or_documented_error(path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.floats(0.01, 100), min_size=1, max_size=6),
       encoding=_encodings, bom=st.booleans())
def test_any_encoding_of_a_log_reads_the_same(tmp_path, values, encoding,
                                              bom):
    text = "epoch,loss\n" + "".join(
        f"{i},{v!r}\n" for i, v in enumerate(values))
    data = text.encode(encoding)
    if bom and encoding in ("utf-8", "utf-16-le", "utf-32-le"):
        data = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe",
                "utf-32-le": b"\xff\xfe\x00\x00"}[encoding] + data
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    curves = load_history(path)
    assert curves.get("loss").tolist() == values
    assert not any(math.isnan(v) for v in curves.get("loss"))
