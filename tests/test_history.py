"""Tests for `keras_curvewatch.io.history.load_history` and the CSV reader."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError
from keras_curvewatch.io.history import load_history

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REAL_LOGS = Path(__file__).resolve().parents[2] / "shared" / "real_logs"
REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# Real Keras runs: History, CSVLogger (append=True twice), resumed run.


@pytest.fixture(scope="module")
def keras_runs(tmp_path_factory):
    keras = pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("keras_runs")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((90, 4)).astype("float32")
    y = keras.utils.to_categorical(np.argmax(x[:, :3], axis=1), 3)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        "adam",
        "categorical_crossentropy",
        metrics=["accuracy", keras.metrics.F1Score(average=None)],
    )
    appended = folder / "appended.csv"
    resumed = folder / "resumed.log"
    fit = dict(x=x, y=y, validation_split=0.3, batch_size=16, verbose=0)
    first = model.fit(
        epochs=3,
        callbacks=[keras.callbacks.CSVLogger(appended, append=True)],
        **fit,
    )
    second = model.fit(
        epochs=4,
        callbacks=[keras.callbacks.CSVLogger(appended, append=True)],
        **fit,
    )
    third = model.fit(
        epochs=6,
        initial_epoch=4,
        callbacks=[keras.callbacks.CSVLogger(resumed, separator=";")],
        **fit,
    )
    no_validation = folder / "no_validation.tsv"
    fit.pop("validation_split")
    fourth = model.fit(
        epochs=2,
        callbacks=[keras.callbacks.CSVLogger(no_validation, separator="\t")],
        **fit,
    )
    return {
        "fourth": fourth,
        "no_validation": no_validation,
        "first": first,
        "second": second,
        "third": third,
        "appended": appended,
        "resumed": resumed,
        "folder": folder,
    }


def _plain(history_dict):
    """The scalar curves of a History dict (per-class arrays left out)."""
    return {
        k: np.asarray(v, np.float64)
        for k, v in history_dict.items()
        if np.ndim(v[0]) == 0
    }


@pytest.mark.backend
def test_history_object(keras_runs):
    history = keras_runs["first"]
    curves = load_history(history)
    assert curves.source == "History"
    assert curves.epochs.tolist() == history.epoch == [0, 1, 2]
    for key, values in _plain(history.history).items():
        np.testing.assert_array_equal(curves.get(key), values)
    # F1Score(average=None) logs one value per class: split into 3 curves.
    np.testing.assert_allclose(
        np.stack([curves.get(f"f1_score_{i}") for i in range(3)], axis=1),
        np.asarray(history.history["f1_score"], np.float64),
    )
    assert "f1_score" not in curves


@pytest.mark.backend
def test_history_resumed_keeps_epoch_labels(keras_runs):
    history = keras_runs["third"]
    curves = load_history(history)
    assert curves.epochs.tolist() == [4, 5]
    np.testing.assert_array_equal(
        curves.get("val_loss"), history.history["val_loss"]
    )


@pytest.mark.backend
def test_history_dict(keras_runs):
    history = keras_runs["second"]
    curves = load_history(history.history)
    assert curves.source == "dict"
    assert curves.n_epochs == 4
    np.testing.assert_array_equal(curves.get("loss"), history.history["loss"])


@pytest.mark.backend
def test_csvlogger_two_appended_runs_keeps_last(keras_runs):
    path = keras_runs["appended"]
    curves = load_history(path)
    second = keras_runs["second"].history
    assert curves.source == str(path)
    assert curves.epochs.tolist() == [0, 1, 2, 3]
    for key, values in _plain(second).items():
        np.testing.assert_array_equal(curves.get(key), values)
    np.testing.assert_allclose(
        curves.get("f1_score_2"), [v[2] for v in second["f1_score"]], rtol=1e-6
    )
    note = " ".join(curves.notes)
    assert "2 runs" in note and "lines 5-8" in note and "4 of 7 rows" in note


@pytest.mark.backend
def test_csvlogger_resumed_run_semicolon(keras_runs):
    curves = load_history(str(keras_runs["resumed"]))
    assert curves.epochs.tolist() == [4, 5]
    np.testing.assert_array_equal(
        curves.get("val_accuracy"), keras_runs["third"].history["val_accuracy"]
    )
    assert not any("runs" in n for n in curves.notes)


@pytest.mark.backend
def test_csvlogger_tab_without_validation(keras_runs):
    # Without validation data CSVLogger adds val_* columns filled with NA.
    path = keras_runs["no_validation"]
    assert "\tNA" in path.read_text()
    curves = load_history(path)
    f1_per_class = ["f1_score_0", "f1_score_1", "f1_score_2"]
    assert curves.keys() == ["accuracy"] + f1_per_class + ["loss"]
    np.testing.assert_array_equal(
        curves.get("loss"), keras_runs["fourth"].history["loss"]
    )
    assert any("val_loss" in n and "Dropped" in n for n in curves.notes)


def test_json_variants(keras_runs, tmp_path):
    history = keras_runs["second"]
    plain = {k: list(map(float, v)) for k, v in _plain(history.history).items()}
    n = len(plain["loss"])
    variants = {
        "dict.json": json.dumps(plain),
        "records.json": json.dumps(
            [{k: v[i] for k, v in plain.items()} for i in range(n)]
        ),
        "wrapped.json": json.dumps({"history": plain, "epoch": [5, 6, 7, 8]}),
        "lines.jsonl": "\n".join(
            json.dumps({"epoch": i, **{k: v[i] for k, v in plain.items()}})
            for i in range(n)
        ),
    }
    for name, text in variants.items():
        (tmp_path / name).write_text(text)
        curves = load_history(tmp_path / name)
        assert curves.source == str(tmp_path / name)
        for key, values in plain.items():
            np.testing.assert_array_equal(curves.get(key), values, err_msg=name)
        expected = [5, 6, 7, 8] if name == "wrapped.json" else [0, 1, 2, 3]
        assert curves.epochs.tolist() == expected, name


def test_json_nan_and_null(tmp_path):
    path = tmp_path / "h.json"
    path.write_text(
        '{"loss": [1.0, NaN, Infinity, null], "val_loss": [1, 2, 3, 4]}'
    )
    curves = load_history(path)
    loss = curves.get("loss")
    assert loss[0] == 1.0 and math.isnan(loss[1]) and loss[2] == math.inf
    assert math.isnan(loss[3])


def test_dict_value_types():
    curves = load_history(
        {
            "loss": np.array([3.0, 2.0, 1.0], np.float32),
            "val_loss": [np.float32(3.5), np.array(2.5), 1.5],
            "accuracy": (0.1, 0.2, 0.3),
            "name": "run 1",
        }
    )
    assert curves.keys() == ["loss", "val_loss", "accuracy"]
    np.testing.assert_array_equal(curves.get("val_loss"), [3.5, 2.5, 1.5])
    assert any("'name'" in n for n in curves.notes)


def test_list_of_dicts_and_curves_passthrough():
    curves = load_history([{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.7}])
    assert curves.source == "list"
    assert (
        math.isnan(curves.get("val_loss")[0])
        and curves.get("val_loss")[1] == 0.7
    )
    assert load_history(curves) is curves


# --------------------------------------------------------------------------
# CSV dialects.

TABLE = {
    "epoch": [0, 1, 2],
    "loss": [0.9, 0.5, 0.25],
    "val_loss": [1.0, 0.75, 0.5],
}


def _csv_text(sep=",", eol="\n", bom=False, quote=False, columns=TABLE):
    names = list(columns)
    rows = [names] + [
        [str(columns[k][i]) for k in names]
        for i in range(len(columns[names[0]]))
    ]
    wrap = (lambda c: f'"{c}"') if quote else (lambda c: c)
    text = eol.join(sep.join(wrap(c) for c in row) for row in rows) + eol
    return ("\ufeff" if bom else "") + text


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r\r\n", "\r"])
@pytest.mark.parametrize("bom,quote", [(False, False), (True, True)])
def test_csv_dialects(tmp_path, sep, eol, bom, quote):
    path = tmp_path / "training.log"
    path.write_bytes(_csv_text(sep, eol, bom, quote).encode("utf-8"))
    curves = load_history(path)
    assert curves.keys() == ["loss", "val_loss"]
    assert curves.epochs.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(curves.get("loss"), TABLE["loss"])
    np.testing.assert_array_equal(curves.get("val_loss"), TABLE["val_loss"])


def test_csv_utf16_and_trailing_separator(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes(_csv_text(eol="\r\n").encode("utf-16"))
    np.testing.assert_array_equal(load_history(path).get("loss"), TABLE["loss"])
    path = tmp_path / "trailing.csv"
    path.write_text("epoch,loss,\n0,1.5,\n1,0.5,\n")
    curves = load_history(path)
    assert curves.keys() == ["loss"] and curves.get("loss").tolist() == [
        1.5,
        0.5,
    ]


def test_csv_special_values(tmp_path):
    path = tmp_path / "special.csv"
    path.write_text(
        "epoch,loss,val_loss,lr\n0,nan,inf,0.1\n1,NaN,-inf,\n"
        "2,,1e308,NA\n3,0,2.5e-300,0.1\n"
    )
    curves = load_history(path)
    loss, val_loss = curves.get("loss"), curves.get("val_loss")
    assert np.isnan(loss[:3]).all() and loss[3] == 0.0
    assert val_loss.tolist() == [math.inf, -math.inf, 1e308, 2.5e-300]
    assert np.isnan(curves.get("learning_rate")[1:3]).all()


def test_csv_keras_na_column_dropped(tmp_path):
    # CSVLogger writes val_* columns full of NA when fit has no validation.
    path = tmp_path / "noval.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,NA\n1,0.5,NA\n")
    curves = load_history(path)
    assert curves.keys() == ["loss"]
    assert any("val_loss" in n and "Dropped" in n for n in curves.notes)


def test_csv_without_epoch_column_and_pandas_index(tmp_path):
    path = tmp_path / "noepoch.csv"
    path.write_text("loss,val_loss\n1,2\n0.5,1\n0.25,0.5\n")
    curves = load_history(path)
    assert curves.epochs.tolist() == [0, 1, 2] and curves.keys() == [
        "loss",
        "val_loss",
    ]
    path = tmp_path / "pandas.csv"
    path.write_text(",loss,val_loss\n10,1,2\n11,0.5,1\n")
    curves = load_history(path)
    assert curves.epochs.tolist() == [10, 11] and curves.keys() == [
        "loss",
        "val_loss",
    ]


def test_csv_aliases_only_when_target_absent(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("epoch,acc,loss,lr,val_acc,val_loss\n0,0.5,1,0.1,0.4,1.2\n")
    curves = load_history(path)
    assert curves.keys() == [
        "accuracy",
        "loss",
        "learning_rate",
        "val_accuracy",
        "val_loss",
    ]
    path = tmp_path / "both.csv"
    path.write_text("epoch,acc,accuracy,loss\n0,0.5,0.6,1\n")
    curves = load_history(path)
    assert curves.keys() == ["acc", "accuracy", "loss"]
    assert curves.get("accuracy").tolist() == [0.6]


def test_csv_constant_epoch_column(tmp_path):
    path = tmp_path / "loop.csv"
    path.write_text(
        "epoch,loss\n" + "".join(f"0,{1 / (i + 1)}\n" for i in range(6))
    )
    curves = load_history(path)
    assert curves.epochs.tolist() == list(range(6))
    assert curves.get("loss")[5] == 1 / 6
    assert any("every row has epoch 0" in n.lower() for n in curves.notes)


def test_csv_three_runs_and_repeated_header(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("epoch,loss\n0,3\n1,2\n0,9\n0,5\n1,4\n2,3\n")
    curves = load_history(path)
    assert curves.epochs.tolist() == [0, 1, 2] and curves.get(
        "loss"
    ).tolist() == [5, 4, 3]
    assert "3 runs" in curves.notes[0] and "lines 5-7" in curves.notes[0]
    path = tmp_path / "concat.csv"
    path.write_text(
        "epoch,loss\n0,3\n1,2\nepoch,loss,val_loss\n0,1,2\n1,0.5,1\n"
    )
    curves = load_history(path)
    assert curves.keys() == ["loss", "val_loss"] and curves.get(
        "loss"
    ).tolist() == [1, 0.5]
    assert "line 4" in curves.notes[0]


def test_csv_multi_output_99_columns(tmp_path):
    heads = [f"output_{i}" for i in range(12)]
    metrics = ["loss", "mae", "dice_coef", "mean_io_u"]
    names = ["loss"] + [f"{h}_{m}" for h in heads for m in metrics]
    names = names + ["val_" + n for n in names]
    names = names[:98]  # 98 metrics + epoch = 99 columns
    n = 7
    table = {"epoch": list(range(n))}
    table.update(
        {
            name: [round(j * 0.01 + i * 0.1, 6) for i in range(n)]
            for j, name in enumerate(names)
        }
    )
    path = tmp_path / "multi.csv"
    path.write_text(_csv_text(columns=table))
    curves = load_history(path)
    assert curves.keys() == names and len(curves.keys()) + 1 == 99
    np.testing.assert_array_equal(curves.get(names[50]), table[names[50]])


def test_csv_locale_and_legacy_cells(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "epoch;pr\xe9cision;loss\r\n0;0,5;1,25\r\n1;0,75;1e-3\r\n".encode(
            "cp1252"
        )
    )
    curves = load_history(path)
    assert curves.keys() == ["pr\xe9cision", "loss"]
    assert (
        curves.get("loss").tolist() == [1.25, 1e-3]
        and curves.get("précision")[1] == 0.75
    )
    path = tmp_path / "tensors.csv"
    path.write_text(
        'epoch,loss,val_loss\n0,"tf.Tensor(0.5, shape=(), dtype=float32)",'
        '"<tf.Tensor: shape=(), dtype=float32, numpy=0.25>"\n'
    )
    curves = load_history(path)
    assert curves.get("loss").tolist() == [0.5] and curves.get(
        "val_loss"
    ).tolist() == [0.25]


def test_csv_short_histories_are_valid(tmp_path):
    for n in (1, 2):
        path = tmp_path / f"short{n}.csv"
        path.write_text(
            "epoch,loss\n" + "".join(f"{i},{i + 1}\n" for i in range(n))
        )
        curves = load_history(path)
        assert curves.n_epochs == n and curves.get("loss").tolist() == list(
            range(1, n + 1)
        )


# --------------------------------------------------------------------------
# Every real CSVLogger file from public projects.


def _real_files():
    if not (REAL_LOGS / "SOURCES.tsv").exists():
        return []
    with open(REAL_LOGS / "SOURCES.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _independent_epochs(path):
    """The epoch column, read with nothing but str methods."""
    text = path.read_bytes().decode("utf-8-sig")
    lines = [
        line for line in text.replace("\r", "\n").split("\n") if line.strip()
    ]
    sep = max(",;\t", key=lines[0].count)
    return [int(float(line.split(sep)[0])) for line in lines[1:]]


@pytest.mark.skipif(
    not REAL_LOGS.exists(), reason="shared/real_logs is missing"
)
@pytest.mark.parametrize("row", _real_files(), ids=lambda r: r["file"][:3])
def test_real_logs_load(row):
    path = REAL_LOGS / row["file"]
    curves = load_history(path)
    rows = int(row["epochs"])
    epochs = _independent_epochs(path)
    assert len(epochs) == rows
    assert "loss" in curves and curves.source == str(path)
    aliases = {
        "acc": "accuracy",
        "val_acc": "val_accuracy",
        "lr": "learning_rate",
    }
    expected = [
        aliases.get(c, c) for c in row["columns"].split(",") if c != "epoch"
    ]
    assert curves.keys() == expected
    restarts = [i for i in range(1, rows) if epochs[i] <= epochs[i - 1]]
    if len(set(epochs)) == 1 and rows > 1:
        assert curves.epochs.tolist() == list(range(rows))
        assert curves.notes and "every row has epoch" in curves.notes[0].lower()
    elif restarts:
        assert curves.n_epochs == rows - restarts[-1]
        assert curves.epochs.tolist() == epochs[restarts[-1] :]
        assert f"{len(restarts) + 1} runs" in " ".join(curves.notes)
    else:
        assert curves.n_epochs == rows
        assert curves.epochs.tolist() == epochs
        assert not any("runs" in n for n in curves.notes)
    for values in curves.values.values():
        assert values.shape == (curves.n_epochs,) and values.dtype == np.float64


@pytest.mark.skipif(
    not REAL_LOGS.exists(), reason="shared/real_logs is missing"
)
def test_real_logs_known_cases():
    irfanet = load_history(REAL_LOGS / "008_AhmedImtiazPrio__irfanet-10.csv")
    assert irfanet.n_epochs == 200 and "2 runs" in irfanet.notes[0]
    brain = load_history(REAL_LOGS / "012_AmineEchraibi__BrainCNN.csv")
    assert (
        np.isnan(brain.get("loss")).all()
        and brain.get("mean_absolute_error")[0] > 1e30
    )
    loop = load_history(REAL_LOGS / "032_mdhach__digit-recognizer.csv")
    assert loop.epochs.tolist() == list(range(8))
    assert loop.get("loss")[-1] == pytest.approx(0.08261244744062424)


def test_reading_csv_imports_no_keras(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(_csv_text())
    code = (
        "import sys; from keras_curvewatch.io.history import load_history; "
        f"c = load_history({str(path)!r}); assert c.n_epochs == 3; "
        "bad = [m for m in ('keras', 'tensorflow') if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]


# --------------------------------------------------------------------------
# Bad input: a CurvewatchError naming the source, what was found, what was
# expected.

BAD_FILES = [
    ("empty.csv", "", ["empty.csv", "no epochs"]),
    (
        "header.csv",
        "epoch,loss,val_loss\n",
        ["header.csv", "no rows", "no epochs"],
    ),
    (
        "abc.csv",
        "epoch,loss,val_loss\n"
        + "".join(f"{i},1,2\n" for i in range(5))
        + "5,1,abc\n",
        ["abc.csv", "line 7", "'val_loss'", "'abc'", "expected a number"],
    ),
    (
        "ragged.csv",
        "epoch,a,b,loss,val_loss\n0,1,2,3,4\n1,1,2,3,4\n2,1,2,3,4\n3,1,2,3\n",
        ["ragged.csv", "line 5", "4 fields", "has 5"],
    ),
    ("numbers.csv", "0,1,2\n1,2,3\n", ["numbers.csv", "line 1", "header"]),
    ("dup.csv", "epoch,loss,loss\n0,1,2\n", ["dup.csv", "'loss'", "twice"]),
    (
        "only_epoch.csv",
        "epoch\n0\n1\n",
        ["only_epoch.csv", "no metric values", "'loss'"],
    ),
    (
        "all_na.csv",
        "epoch,loss\n0,NA\n1,\n",
        ["all_na.csv", "no metric values", "['loss']"],
    ),
    (
        "progress.txt",
        "Epoch 1/10\n32/32 [===] - loss: 0.5\n",
        ["progress.txt", "unknown format"],
    ),
    ("bad.json", '{"loss": [1, 2,]}', ["bad.json", "line 1", "not valid JSON"]),
    ("scalar.json", '{"loss": 0.5}', ["scalar.json", "no lists of numbers"]),
    ("numbers.json", "[1, 2, 3]", ["numbers.json", "list of int", "expected"]),
    (
        "ragged.json",
        '{"loss": [1, 2, 3, 4, 5], "val_loss": [1, 2, 3]}',
        ["ragged.json", "'val_loss' has 3 values", "'loss' has 5"],
    ),
    (
        "epoch.csv",
        "epoch,loss\n0,1\n1.5,2\n",
        ["epoch.csv", "line 3", "'epoch'", "whole epoch"],
    ),
]


@pytest.mark.parametrize(
    "name,text,parts", BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files(tmp_path, name, text, parts):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_history(path)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


def test_bad_binary_and_missing_paths(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00")
    with pytest.raises(FormatError, match="model.h5.*unknown format"):
        load_history(path)
    with pytest.raises(InputError, match="nope.csv: no such file"):
        load_history(tmp_path / "nope.csv")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty_dir" / "notes.txt").write_text("hi")
    with pytest.raises(
        InputError, match=r"empty_dir: no TensorBoard event files.*notes.txt"
    ):
        load_history(tmp_path / "empty_dir")


BAD_SOURCES = [
    (
        {"loss": [1, 2, 3, 4, 5], "val_loss": [1, 2, 3]},
        ["'val_loss' has 3 values", "'loss' has 5"],
    ),
    ({}, ["dict has no lists of numbers"]),
    ({"a": "x", "b": None}, ["no lists of numbers", "'a'"]),
    ({"loss": [], "val_loss": []}, ["no epochs"]),
    (
        {"loss": [1.0, "abc"]},
        ["'loss'", "value 1", "'abc'", "expected a number"],
    ),
    ({"loss": [1.0, {"x": 1}]}, ["'loss'", "value 1", "dict"]),
    ({"f1": [[1, 2], [1, 2, 3]]}, ["'f1'", "different lengths [2, 3]"]),
    (42, ["int", "expected a keras History"]),
    ([1, 2], ["list", "expected"]),
]


@pytest.mark.parametrize("source,parts", BAD_SOURCES)
def test_bad_sources(source, parts):
    with pytest.raises(InputError) as info:
        load_history(source)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))


# --------------------------------------------------------------------------
# Property tests.

_names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\x00"
    ),
    min_size=1,
    max_size=12,
)
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1e308, -1e308, 5e-324, math.nan, math.inf]),
    st.integers(-(10**6), 10**6),
    st.none(),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.dictionaries(
        _names,
        st.one_of(
            st.lists(_values, min_size=0, max_size=3),
            st.lists(st.just(0.5), min_size=2, max_size=2),
            st.floats(),
            st.text(max_size=3),
        ),
        max_size=4,
    )
)
def test_random_dicts_give_curves_or_input_error(mapping):
    try:
        curves = load_history(mapping)
    except InputError as exc:
        assert str(exc)
        return
    lists = {k: v for k, v in mapping.items() if isinstance(v, list)}
    lengths = {len(v) for k, v in lists.items() if k not in ("epoch", "epochs")}
    assert len(lengths) == 1
    (n,) = lengths
    assert (
        isinstance(curves, Curves)
        and curves.n_epochs <= n
        and curves.n_epochs >= 1
    )
    for values in curves.values.values():
        assert values.shape == (curves.n_epochs,) and values.dtype == np.float64


_sep = st.sampled_from([",", ";", "\t"])
_eol = st.sampled_from(["\n", "\r\n", "\r\r\n", "\r"])
_column = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: n
    not in ("epoch", "epochs", "acc", "val_acc", "lr", "na", "none", "null")
)
_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([1e308, -0.0, math.nan, math.inf, -math.inf]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    names=st.lists(_column, min_size=1, max_size=5, unique=True),
    n=st.integers(1, 6),
    start=st.integers(0, 20),
    sep=_sep,
    eol=_eol,
    bom=st.booleans(),
    data=st.data(),
)
def test_csv_round_trip(tmp_path_factory, names, n, start, sep, eol, bom, data):
    columns = {
        k: data.draw(st.lists(_cell, min_size=n, max_size=n)) for k in names
    }
    # At least one finite value per column, or the column reads as empty.
    columns = {
        k: [v if i else 0.5 for i, v in enumerate(c)]
        for k, c in columns.items()
    }
    rows = [["epoch"] + names] + [
        [str(start + i)] + [repr(columns[k][i]) for k in names]
        for i in range(n)
    ]
    text = ("\ufeff" if bom else "") + eol.join(sep.join(r) for r in rows) + eol
    path = tmp_path_factory.mktemp("rt") / "log.csv"
    path.write_bytes(text.encode("utf-8"))
    curves = load_history(path)
    assert curves.keys() == names
    assert curves.epochs.tolist() == list(range(start, start + n))
    for key in names:
        np.testing.assert_array_equal(
            curves.get(key), np.array(columns[key], np.float64)
        )


_fuzz_token = st.sampled_from(
    list('epoch,;\t\r\n"[]{}:0123456789.-+eE _')
    + ["nan", "inf", "NA", "\ufeff", "loss", "val_loss"]
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    content=st.one_of(
        st.lists(_fuzz_token, max_size=40).map(
            lambda t: "".join(t).encode("utf-8")
        ),
        st.binary(max_size=40),
    ),
    name=st.sampled_from(["log.csv", "h.json", "training.log"]),
)
def test_random_files_give_curves_or_input_error(
    tmp_path_factory, content, name
):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(content)
    try:
        curves = load_history(path)
    except InputError as exc:
        assert name in str(exc)
        return
    assert curves.n_epochs >= 1
    for values in curves.values.values():
        assert values.shape == (curves.n_epochs,)
