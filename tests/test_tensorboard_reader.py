"""Tests for the TensorFlow-free TensorBoard reader (`tensorboard_reader`,
`tfevents`), against logs written by a real `keras.callbacks.TensorBoard`
and records written by TensorFlow's own TFRecord writer."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError
from keras_curvewatch.io.history import load_history
from keras_curvewatch.io.tensorboard_reader import load_batch_losses
from keras_curvewatch.io.tensorboard_reader import load_tensorboard
from keras_curvewatch.io.tfevents import is_event_file
from keras_curvewatch.io.tfevents import read_event_scalars

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Only the tests use TensorFlow: to write reference files and to cross-check.
tf = pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parents[1]
BATCH_SIZE = 16
N_SAMPLES = 80
VALIDATION_SPLIT = 0.2  # 64 training samples: 4 batches of 16 per epoch
STEPS_PER_EPOCH = 4


@pytest.fixture(scope="module")
def tb_runs(tmp_path_factory):
    keras = pytest.importorskip("keras")
    root = tmp_path_factory.mktemp("tb")
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.random((N_SAMPLES, 3)).astype("float32")
    y = (x.sum(axis=1) > 1.5).astype("float32")[:, None]
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    n_train = int(N_SAMPLES * (1 - VALIDATION_SPLIT))
    own_losses = []

    class BatchLoss(keras.callbacks.Callback):
        """Each batch's own loss, computed before its update (shuffle=False)."""

        def on_train_batch_begin(self, batch, logs=None):
            xb = x[:n_train][batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
            yb = y[:n_train][batch * BATCH_SIZE : (batch + 1) * BATCH_SIZE]
            pred = np.clip(self.model.predict_on_batch(xb), 1e-7, 1 - 1e-7)
            own_losses.append(
                float(-np.mean(yb * np.log(pred) + (1 - yb) * np.log(1 - pred)))
            )

    fit = dict(
        x=x,
        y=y,
        validation_split=VALIDATION_SPLIT,
        batch_size=BATCH_SIZE,
        shuffle=False,
        verbose=0,
    )
    single = model.fit(
        epochs=3,
        callbacks=[
            BatchLoss(),
            keras.callbacks.TensorBoard(root / "single", update_freq="batch"),
        ],
        **fit,
    )
    twice = root / "twice"
    first = model.fit(
        epochs=2, callbacks=[keras.callbacks.TensorBoard(twice)], **fit
    )
    second = model.fit(
        epochs=3, callbacks=[keras.callbacks.TensorBoard(twice)], **fit
    )
    return {
        "root": root,
        "single": single,
        "own_losses": own_losses,
        "first": first,
        "second": second,
    }


def _assert_matches_history(curves, history):
    assert curves.epochs.tolist() == history.epoch
    for key, values in history.history.items():
        # TensorBoard stores float32.
        np.testing.assert_allclose(
            curves.get(key), values, rtol=1e-6, err_msg=key
        )


@pytest.mark.backend
def test_log_dir_matches_history(tb_runs):
    curves = load_tensorboard(tb_runs["root"] / "single")
    _assert_matches_history(curves, tb_runs["single"])
    assert curves.source == str(tb_runs["root"] / "single")
    # The optimizer's learning rate is logged as epoch_learning_rate.
    np.testing.assert_allclose(curves.get("learning_rate"), 0.01, rtol=1e-6)
    assert not curves.notes


def test_load_history_dispatches_dirs_and_files(tb_runs):
    single = tb_runs["root"] / "single"
    curves = load_history(str(single))
    assert set(curves.keys()) == {
        "loss",
        "accuracy",
        "learning_rate",
        "val_loss",
        "val_accuracy",
    }
    val_file = next((single / "validation").iterdir())
    curves = load_history(val_file)
    assert set(curves.keys()) == {"val_accuracy", "val_loss"}
    np.testing.assert_allclose(
        curves.get("val_loss"), tb_runs["single"].history["val_loss"], rtol=1e-6
    )
    curves = load_history(single / "train")
    assert "loss" in curves and "val_loss" not in curves


@pytest.mark.backend
def test_two_fits_in_one_dir_keep_the_last(tb_runs):
    curves = load_tensorboard(tb_runs["root"] / "twice")
    _assert_matches_history(curves, tb_runs["second"])
    assert "2 runs" in curves.notes[0]


def test_several_run_folders_pick_the_newest(tb_runs, tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(tb_runs["root"] / "single", logs / "run_a")
    shutil.copytree(tb_runs["root"] / "twice", logs / "run_b")
    for path in (logs / "run_b").rglob("*tfevents*"):
        os.utime(path, (1_000_000, 1_000_000))  # run_b is older
    curves = load_tensorboard(logs)
    _assert_matches_history(curves, tb_runs["single"])
    assert "run_a" in curves.notes[0] and "run_b" in curves.notes[0]


def test_scalars_match_tensorflow_reader(tb_runs):
    files = sorted((tb_runs["root"] / "single").rglob("*tfevents*"))
    assert files
    for path in files:
        expected = []
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                array = (
                    tf.make_ndarray(value.tensor)
                    if value.HasField("tensor")
                    else None
                )
                if (
                    array is not None
                    and array.dtype.kind == "f"
                    and array.size == 1
                ):
                    expected.append(
                        (event.step, value.tag, float(array.reshape(-1)[0]))
                    )
        ours = [(e.step, e.tag, e.value) for e in read_event_scalars(path)]
        assert ours == expected
        assert is_event_file(path)


@pytest.mark.backend
def test_batch_losses_undo_keras_running_mean(tb_runs):
    history = tb_runs["single"]
    losses = load_batch_losses(tb_runs["root"] / "single")
    assert losses.shape == (3 * STEPS_PER_EPOCH,)
    np.testing.assert_allclose(
        losses, tb_runs["own_losses"], rtol=1e-4, atol=1e-5
    )
    running = load_batch_losses(
        tb_runs["root"] / "single", undo_running_mean=False
    )
    blocks = running.reshape(3, STEPS_PER_EPOCH)
    np.testing.assert_allclose(
        blocks[:, -1], history.history["loss"], rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.reshape(3, -1).mean(axis=1), history.history["loss"], rtol=1e-5
    )
    assert not np.allclose(losses, running)


def test_batch_losses_missing_tag(tb_runs):
    with pytest.raises(
        InputError,
        match=r"twice: no 'batch_loss' scalars.*epoch_loss.*update_freq=",
    ):
        load_batch_losses(tb_runs["root"] / "twice")


def test_truncated_and_corrupt_files(tb_runs, tmp_path):
    source = next((tb_runs["root"] / "single" / "train").iterdir())
    data = source.read_bytes()
    full = read_event_scalars(source)
    truncated = tmp_path / "events.out.tfevents.1.truncated"
    truncated.write_bytes(data[:-3])  # a writer still appending
    partial = read_event_scalars(truncated)
    assert 0 < len(partial) < len(full) and partial == full[: len(partial)]
    for offset, what in ((3, "header"), (20, "checksum")):
        corrupt = tmp_path / f"events.out.tfevents.2.corrupt{offset}"
        corrupt.write_bytes(
            data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]
        )
        with pytest.raises(FormatError, match=f"corrupt{offset}: .*{what}"):
            read_event_scalars(corrupt)
    plain = tmp_path / "log.csv"
    plain.write_text("epoch,loss\n0,1\n")
    assert not is_event_file(plain)


def test_event_files_without_epoch_scalars(tmp_path):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2

    folder = tmp_path / "only_batches" / "train"
    folder.mkdir(parents=True)
    event = event_pb2.Event(
        wall_time=1.0,
        step=1,
        summary=summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(tag="batch_loss", simple_value=0.5)
            ]
        ),
    )
    with tf.io.TFRecordWriter(
        str(folder / "events.out.tfevents.1.host")
    ) as writer:
        writer.write(event.SerializeToString())
    with pytest.raises(
        InputError,
        match=r"only_batches: found TensorBoard event files but no "
        r"per-epoch scalars.*train/batch_loss",
    ):
        load_history(tmp_path / "only_batches")
    np.testing.assert_allclose(
        load_batch_losses(tmp_path / "only_batches"), [0.5]
    )


_DTYPE_CASES = [
    # (TensorProto kwargs builder, expected) for encodings tf.summary can emit.
    ("float_val", lambda tp, v: tp(dtype=1, float_val=[v]), np.float32),
    ("double_val", lambda tp, v: tp(dtype=2, double_val=[v]), np.float64),
    (
        "float_content",
        lambda tp, v: tp(dtype=1, tensor_content=np.float32(v).tobytes()),
        np.float32,
    ),
    (
        "double_content",
        lambda tp, v: tp(dtype=2, tensor_content=np.float64(v).tobytes()),
        np.float64,
    ),
    (
        "half_val",
        lambda tp, v: tp(
            dtype=19, half_val=[int(np.float16(v).view(np.uint16))]
        ),
        np.float16,
    ),
    ("simple_value", None, np.float32),
]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
    ],
)
@given(
    values=st.lists(
        st.tuples(
            st.integers(-(2**62), 2**62),
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.sampled_from(range(len(_DTYPE_CASES))),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_decoder_round_trip_against_tensorflow_writer(tmp_path, values):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.compat.proto import tensor_pb2

    path = tmp_path / "events.out.tfevents.roundtrip"
    expected = []
    with tf.io.TFRecordWriter(str(path)) as writer, np.errstate(over="ignore"):
        writer.write(
            event_pb2.Event(
                wall_time=0.5, file_version="brain.Event:2"
            ).SerializeToString()
        )
        for i, (step, value, case) in enumerate(values):
            name, build, dtype = _DTYPE_CASES[case]
            tag = f"epoch_{name}_{i}"
            if build is None:
                item = summary_pb2.Summary.Value(tag=tag, simple_value=value)
            else:
                item = summary_pb2.Summary.Value(
                    tag=tag, tensor=build(tensor_pb2.TensorProto, value)
                )
            event = event_pb2.Event(
                wall_time=float(i),
                step=step,
                summary=summary_pb2.Summary(value=[item]),
            )
            writer.write(event.SerializeToString())
            expected.append((float(i), step, tag, float(dtype(value))))
    got = [
        (e.wall_time, e.step, e.tag, e.value) for e in read_event_scalars(path)
    ]
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        assert ours[:3] == theirs[:3]
        assert ours[3] == theirs[3] or (
            math.isnan(ours[3]) and math.isnan(theirs[3])
        )


def test_non_scalar_tensors_are_skipped(tmp_path):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.compat.proto import tensor_pb2

    vector = tensor_pb2.TensorProto(
        dtype=1, tensor_content=np.arange(3, dtype=np.float32).tobytes()
    )
    text = tensor_pb2.TensorProto(dtype=7, string_val=[b"hello"])
    path = tmp_path / "events.out.tfevents.mixed"
    with tf.io.TFRecordWriter(str(path)) as writer:
        summary = summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(tag="weights", tensor=vector),
                summary_pb2.Summary.Value(tag="note", tensor=text),
                summary_pb2.Summary.Value(tag="epoch_loss", simple_value=0.25),
            ]
        )
        writer.write(
            event_pb2.Event(step=7, summary=summary).SerializeToString()
        )
    events = read_event_scalars(path)
    assert [(e.step, e.tag, e.value) for e in events] == [
        (7, "epoch_loss", 0.25)
    ]
    curves = load_history(path)
    assert curves.epochs.tolist() == [7] and curves.get("loss").tolist() == [
        0.25
    ]


def test_reading_tensorboard_imports_no_tensorflow(tb_runs):
    code = (
        "import sys; from keras_curvewatch.io.history import load_history; "
        f"c = load_history({str(tb_runs['root'] / 'single')!r}); "
        "assert c.n_epochs == 3; "
        "bad = [m for m in ('keras', 'tensorflow', 'tensorboard') "
        "if m in sys.modules]; "
        "assert not bad, bad"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _varint(value):
    out = b""
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _encode(items):
    """Protobuf-encodes (field, wire type, payload) triples, for fuzzing."""
    out = b""
    for number, wire, payload in items:
        out += _varint(number << 3 | wire)
        if wire == 0:
            out += _varint(int.from_bytes(payload[:9] or b"\0", "little"))
        elif wire == 2:
            out += _varint(len(payload)) + payload
        else:
            out += (payload + b"\0" * 8)[: 8 if wire == 1 else 4]
    return out


_piece = st.tuples(
    st.integers(1, 14), st.sampled_from([0, 1, 2, 5]), st.binary(max_size=12)
)
# Extra Summary.Value fields, leaving the tag (1) and the tensor (8) alone.
_extra = st.tuples(
    st.sampled_from([3, 4, 5, 6, 7, 9, 10]),
    st.sampled_from([0, 1, 2, 5]),
    st.binary(max_size=12),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    tensor=st.lists(_piece, max_size=6),
    extra=st.lists(_extra, max_size=3),
    cut=st.booleans(),
)
def test_random_event_records_give_scalars_or_format_error(
    tmp_path, tensor, extra, cut
):
    value = _encode([(1, 2, b"epoch_loss"), (8, 2, _encode(tensor))] + extra)
    event = _encode(
        [(1, 1, b"\0" * 8), (2, 0, b"\x03"), (5, 2, _encode([(1, 2, value)]))]
    )
    path = tmp_path / "events.out.tfevents.fuzz"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(event[: len(event) // 2] if cut else event)
    try:
        events = read_event_scalars(path)
    except FormatError as exc:
        assert "events.out.tfevents.fuzz" in str(exc)
        return
    assert all(e.tag == "epoch_loss" and e.step == 3 for e in events)


def test_old_tags_renamed_and_validation_freq_gaps(tmp_path):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2

    def write(folder, points):
        folder.mkdir(parents=True)
        path = folder / "events.out.tfevents.1.host"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for step, tag, value in points:
                item = summary_pb2.Summary.Value(tag=tag, simple_value=value)
                summary = summary_pb2.Summary(value=[item])
                event = event_pb2.Event(step=step, summary=summary)
                writer.write(event.SerializeToString())

    train = [
        (e, t, 1.0 / (e + 1))
        for e in range(4)
        for t in ("epoch_acc", "epoch_loss")
    ]
    write(tmp_path / "old" / "train", train)
    # validation_freq=2: validation scalars at epochs 1 and 3 only.
    write(
        tmp_path / "old" / "validation",
        [(1, "epoch_loss", 0.5), (3, "epoch_loss", 0.25)],
    )
    curves = load_history(tmp_path / "old")
    assert curves.keys() == ["accuracy", "loss", "val_loss"]
    assert curves.epochs.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(
        curves.get("accuracy"), [1, 0.5, 1 / 3, 0.25], rtol=1e-6
    )
    np.testing.assert_array_equal(
        curves.get("val_loss"), [np.nan, 0.5, np.nan, 0.25]
    )
    assert any("acc -> accuracy" in n for n in curves.notes)
