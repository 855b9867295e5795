"""Tests of the on-device per-batch accumulators, on real `fit` runs.

Run under each backend, in separate processes:
`KERAS_BACKEND=jax python3 -m pytest tests/test_device.py`.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch.live import device  # noqa: E402
from keras_curvewatch.live import loss_tap  # noqa: E402

# Run again under KERAS_BACKEND=jax and torch by .ci/run.
pytestmark = pytest.mark.backend

BACKEND = keras.backend.backend()
N_SAMPLES = 50
BATCH = 8  # 50 samples: six batches of 8 and a last batch of 2


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_SAMPLES, 3)).astype("float32")
    w = np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    y = (x @ w + 0.3 * rng.normal(size=(N_SAMPLES, 1))).astype("float32")
    return x, y


def _model(steps_per_execution=1, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="tanh"),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.SGD(0.1), "mse",
                  steps_per_execution=steps_per_execution)
    return model


def _numpy(variable):
    return np.asarray(keras.ops.convert_to_numpy(
        keras.ops.convert_to_tensor(variable)), dtype="float64")


class _RecordTrueLosses(keras.callbacks.Callback):
    """Recomputes each batch's loss in numpy from the weights in force."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y
        self.losses = []

    def on_train_batch_begin(self, batch, logs=None):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:  # JAX keeps the state outside the variables.
            sync()
        w1, b1, w2, b2 = [_numpy(v) for v in self.model.weights]
        xb = self.x[batch * BATCH:(batch + 1) * BATCH].astype("float64")
        yb = self.y[batch * BATCH:(batch + 1) * BATCH].astype("float64")
        pred = np.tanh(xb @ w1 + b1) @ w2 + b2
        self.losses.append(float(np.mean((pred - yb) ** 2)))


class _ReadStats(keras.callbacks.Callback):
    # The tests here read the test step's own count of the validation
    # samples (`count_validation=True`), which `CurveWatch` leaves to
    # Keras's loss tracker where it can.
    def __init__(self):
        super().__init__()
        self.epochs = []
        self.logged = []

    def on_train_begin(self, logs=None):
        self.accumulator = loss_tap.install(self.model,
                                          steps=self.params["steps"],
                                          count_validation=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.accumulator.clear()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.accumulator.read())
        self.logged.append(float(logs["loss"]))


def _flips(losses):
    """Sign changes between consecutive differences, and their number."""
    d = np.diff(np.asarray(losses, dtype=float))
    with np.errstate(invalid="ignore"):
        product = d[1:] * d[:-1]
    pair = np.isfinite(product)
    return int(np.sum(pair & (product < 0))), int(np.sum(pair))


def test_statistics_match_losses_recomputed_independently():
    x, y = _data()
    model = _model()
    truth, read = _RecordTrueLosses(x, y), _ReadStats()
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[read, truth])
    steps = int(np.ceil(N_SAMPLES / BATCH))
    sizes = np.array([BATCH] * (steps - 1) + [N_SAMPLES % BATCH], float)
    for epoch, stats in enumerate(read.epochs):
        true = np.array(truth.losses[epoch * steps:(epoch + 1) * steps])
        assert stats.n_batches == steps and stats.complete
        np.testing.assert_allclose(stats.losses, true, rtol=1e-4)
        np.testing.assert_array_equal(stats.batch_sizes, sizes)
        assert stats.samples == N_SAMPLES
        assert stats.batch_size == BATCH
        np.testing.assert_allclose(stats.mean, true.mean(), rtol=1e-4)
        np.testing.assert_allclose(stats.std, true.std(ddof=1), rtol=1e-3)
        np.testing.assert_allclose(stats.min, true.min(), rtol=1e-4)
        np.testing.assert_allclose(stats.max, true.max(), rtol=1e-4)
        flips, pairs = _flips(true)
        assert pairs == steps - 2
        assert stats.flip_rate == pytest.approx(flips / pairs)
        # The batch-size-weighted mean is what Keras logs as the epoch loss.
        np.testing.assert_allclose(
            stats.weighted_mean, np.sum(sizes * true) / sizes.sum(), rtol=1e-4)
        np.testing.assert_allclose(
            stats.weighted_mean, read.logged[epoch], rtol=1e-4)
        assert stats.first_nonfinite is None


@pytest.mark.parametrize("shift", [True, False])
def test_epochs_after_the_first_are_told_apart_without_device_writes(
        shift, monkeypatch):
    # A ring of 8 slots and 7 batches an epoch: after the first epoch,
    # clear() only moves host offsets, so the ring wraps across epochs and
    # the counters run on; every epoch's statistics stay exact. On JAX,
    # with the ring written as a shift register and at a dynamic index.
    if not shift:
        monkeypatch.setattr(device, "SHIFT_MAX_SLOTS", 0)
    x, y = _data()
    model = _model()
    accumulator = loss_tap.install(model, capacity=8, steps=7)
    assert accumulator._shifted() == (shift and BACKEND == "jax")
    truth, read = _RecordTrueLosses(x, y), _ReadStats()
    epochs = 5
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False,
              verbose=0, callbacks=[read, truth])
    assert read.accumulator is accumulator
    for epoch, stats in enumerate(read.epochs):
        true = np.array(truth.losses[epoch * 7:(epoch + 1) * 7])
        assert stats.n_batches == 7 and stats.complete
        np.testing.assert_allclose(stats.losses, true, rtol=1e-4)
        np.testing.assert_allclose(stats.weighted_mean, read.logged[epoch],
                                   rtol=1e-4)
    if BACKEND != "torch":  # torch's eager step folds into the statistics
        assert accumulator._read_all()[1] == 7 * epochs


@pytest.mark.skipif(BACKEND == "torch", reason="XLA is not used on torch")
@pytest.mark.parametrize("capacity", [None, 4])
def test_statistics_are_exact_in_an_xla_step(capacity):
    # jit_compile=True: TensorFlow's XLA step writes the ring only when it
    # holds the epoch (capacity None), and runs the full update every batch
    # when it does not (4 slots for 7 batches); JAX always compiles.
    x, y = _data()
    model = _model()
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=True)
    accumulator = loss_tap.install(model, capacity=capacity, steps=7,
                                   count_validation=True)
    assert accumulator.fold_in_graph == (capacity == 4)
    truth, read = _RecordTrueLosses(x, y), _ReadStats()
    model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
              validation_data=(x[:20], y[:20]), callbacks=[read, truth])
    for epoch, stats in enumerate(read.epochs):
        true = np.array(truth.losses[epoch * 7:(epoch + 1) * 7])
        assert stats.n_batches == 7 and stats.val_samples == 20
        kept = true[-stats.losses.size:]
        np.testing.assert_allclose(stats.losses, kept, rtol=1e-4)
        np.testing.assert_allclose(stats.mean, true.mean(), rtol=1e-4)
        np.testing.assert_allclose(stats.weighted_mean, read.logged[epoch],
                                   rtol=1e-4)
        assert stats.complete == (capacity is None)


@pytest.mark.skipif(BACKEND == "torch",
                    reason="steps_per_execution > 1 is not supported on torch")
def test_every_batch_is_seen_with_steps_per_execution():
    x, y = _data()
    reads = []
    for steps_per_execution in (1, 3):
        read = _ReadStats()
        _model(steps_per_execution).fit(
            x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
            callbacks=[read])
        reads.append(read.epochs)
    for one, three in zip(*reads):
        assert three.n_batches == one.n_batches == 7
        np.testing.assert_allclose(three.losses, one.losses, rtol=1e-5)
        np.testing.assert_allclose(three.stats, one.stats, rtol=1e-5)


def test_the_tap_does_not_change_training():
    x, y = _data()
    plain = _model()
    plain.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    tapped = _model()
    tapped.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
               callbacks=[_ReadStats()])
    for a, b in zip(plain.get_weights(), tapped.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_update_state_statistics_and_ring_overflow():
    losses = [3.0, 2.0, np.nan, 2.5, 1.0, np.inf, 1.5, 0.5, 0.75, 0.25]
    sizes = [4, 4, 4, 4, 4, 4, 4, 4, 4, 2]
    one_by_one = device.BatchLossAccumulator(capacity=5)
    for loss, size in zip(losses, sizes):
        one_by_one.update_state(
            keras.ops.convert_to_tensor([loss], "float32"), [size])
    in_chunks = device.BatchLossAccumulator(capacity=5)
    for chunk in ((0, 3), (3, 4), (4, 10)):  # the last one wraps the ring
        in_chunks.update_state(
            keras.ops.convert_to_tensor(losses[slice(*chunk)], "float32"),
            sizes[slice(*chunk)])
    stats = one_by_one.read()
    np.testing.assert_allclose(in_chunks.read().stats, stats.stats)
    np.testing.assert_allclose(in_chunks.read().losses, stats.losses)
    finite = np.array([v for v in losses if np.isfinite(v)])
    assert stats.n_batches == 10 and stats.n_finite == 8
    assert not stats.complete
    np.testing.assert_allclose(stats.losses, losses[-5:])
    np.testing.assert_array_equal(stats.batch_sizes, sizes[-5:])
    np.testing.assert_allclose(stats.mean, finite.mean(), rtol=1e-6)
    np.testing.assert_allclose(stats.std, finite.std(ddof=1), rtol=1e-5)
    assert stats.min == 0.25 and stats.max == 3.0
    flips, pairs = _flips(losses)
    assert (flips, pairs) == (2, 2)
    assert stats.flip_rate == pytest.approx(flips / pairs)
    assert stats.first_nonfinite == 2
    assert stats.samples == 38 and stats.batch_size == 4
    one_by_one.clear()
    cleared = one_by_one.read()
    assert cleared.n_batches == 0 and np.isnan(cleared.std)
    assert cleared.batch_size is None


def test_keras_metric_resets_and_evaluate_leave_the_statistics():
    x, y = _data()
    model = _model()
    read = _ReadStats()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[read])
    before = read.accumulator.read()
    assert before.val_samples == 0
    model.reset_metrics()
    model.evaluate(x, y, batch_size=BATCH, verbose=0)
    after = read.accumulator.read()
    # The test step only counts the samples it sees.
    assert after.val_samples == N_SAMPLES
    keep = np.arange(device.N_STATS) != device.VAL_SAMPLES
    np.testing.assert_array_equal(after.stats[keep], before.stats[keep])
    np.testing.assert_array_equal(after.losses, before.losses)
    assert read.accumulator.result() == {}


def test_install_is_idempotent_and_adds_nothing_to_logs_or_saves(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # traced untapped
    first = loss_tap.install(model)
    assert loss_tap.install(model) is first
    assert loss_tap.installed_accumulator(model) is first
    history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert set(history.history) == {"loss"}
    assert first.read().n_batches == 7  # the untapped trace was replaced
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loss_tap.installed_accumulator(restored) is None


def test_a_ring_smaller_than_the_epoch_keeps_exact_statistics():
    x, y = _data()
    full, small = _ReadStats(), _ReadStats()
    _model().fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                 callbacks=[full])
    model = _model()
    loss_tap.install(model, capacity=3)  # 7 batches: folds twice, wraps
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
              callbacks=[small])
    for whole, part in zip(full.epochs, small.epochs):
        assert part.n_batches == whole.n_batches == 7
        assert not part.complete and whole.complete
        np.testing.assert_allclose(part.stats, whole.stats, rtol=1e-5)
        np.testing.assert_allclose(part.losses, whole.losses[-3:], rtol=1e-5)


def test_a_longer_epoch_than_the_ring_turns_the_in_step_fold_on():
    x, y = _data()
    x2, y2 = np.concatenate([x, x]), np.concatenate([y, y])  # 13 batches
    model = _model()
    accumulator = loss_tap.install(model, capacity=8, steps=7)
    assert not accumulator.fold_in_graph  # 7 batches fit in the ring
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[_ReadStats()])
    read = _ReadStats()
    model.fit(x2, y2, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[read])
    assert accumulator.fold_in_graph
    reference = _model()
    reference.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    check = _ReadStats()
    reference.fit(x2, y2, batch_size=BATCH, epochs=1, shuffle=False,
                  verbose=0, callbacks=[check])
    got, expected = read.epochs[0], check.epochs[0]
    assert got.n_batches == expected.n_batches == 13
    np.testing.assert_allclose(got.stats, expected.stats, rtol=1e-5)
    np.testing.assert_allclose(got.losses, expected.losses[-8:], rtol=1e-5)


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_ring_capacity_follows_the_epoch_length(backend):
    def capacity(steps):
        return loss_tap._capacity_for(steps, backend)

    assert capacity(None) == device.RING_CAPACITY
    assert capacity(5000) == 8192
    assert capacity(10**7) == loss_tap.MAX_RING_CAPACITY
    if backend == "jax":
        # The step copies the ring: 256 slots, or one epoch if longer.
        assert capacity(3) == capacity(20) == loss_tap.JAX_RING_SLOTS
        assert capacity(300) == 512
    else:
        assert capacity(10) == device.RING_CAPACITY


@pytest.mark.skipif(BACKEND != "jax", reason="inspects the JAX train step")
def test_the_compiled_jax_step_holds_the_tap_and_no_host_transfer():
    import jax

    x, y = _data()
    model = _model()
    loss_tap.install(model, steps=7)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    state = model._get_jax_state(
        trainable_variables=True, non_trainable_variables=True,
        optimizer_variables=True, metrics_variables=True)
    hlo = jax.jit(model.train_step).lower(
        state, (x[:BATCH], y[:BATCH])).as_text()
    # The ring write is in the step: the whole variable is rebuilt by one
    # concatenation (the shift register of `add_ring` on JAX).
    size = device.state_size(loss_tap.installed_accumulator(model).capacity)
    assert any("concatenate" in line and f"tensor<{size}xf32>" in line
               for line in hlo.splitlines())
    for host_op in ("callback", "outfeed", "infeed", "send", "recv"):
        assert host_op not in hlo.lower()


def _eager_epoch(accumulator, losses, val=0):
    accumulator.clear(labels=False)
    for loss in losses:
        accumulator.add_ring(keras.ops.convert_to_tensor(loss, "float32"), 4)
    if val:
        accumulator.count_validation(val)


def _host_marked(epochs, val=0):
    """An accumulator on the ring-only path whose first epoch (3 batches)
    was read, then `epochs` (lists of losses) each ended with
    `mark_epoch(steps=3)`; returns it and the marks."""
    accumulator = device.BatchLossAccumulator(capacity=32)
    accumulator.fold_in_graph = False
    _eager_epoch(accumulator, [1.0, 2.0, 3.0], val=val)
    first = accumulator.read()
    assert first.n_batches == 3 and first.val_samples == val
    marks = []
    for losses in epochs:
        _eager_epoch(accumulator, losses, val=val)
        marks.append(accumulator.mark_epoch(steps=3))
    return accumulator, marks


def test_host_marks_are_checked_against_the_count():
    # After one epoch read from the device, epochs of the same length are
    # marked on the host (no read); a last epoch that stopped early ends at
    # the device's count, and the batches of every epoch stay exact.
    accumulator, marks = _host_marked(
        ([4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0]), val=5)
    assert marks[:2] == [(3.0, 6.0, None), (6.0, 9.0, None)]
    read = accumulator.read_marked(marks)
    np.testing.assert_array_equal(read[0].losses, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(read[1].losses, [7.0, 8.0, 9.0])
    np.testing.assert_array_equal(read[2].losses, [10.0])  # stopped early
    assert read[2].n_batches == 1
    assert [r.val_samples for r in read] == [0, 0, 0]  # not measured
    # After an epoch of another length, the next is marked from the
    # device's count (its validation offset is not known).
    _eager_epoch(accumulator, [11.0, 12.0], val=5)
    assert accumulator.mark_epoch(steps=3) == (10.0, 12.0, None)


def test_host_marks_the_count_contradicts_are_not_read():
    # Two epochs marked after the count stopped: only the last epoch of a
    # fit can stop early, so none of the host marks is trusted.
    accumulator, marks = _host_marked(([4.0, 5.0, 6.0], [], []))
    assert accumulator.read_marked(marks) == [None, None, None]
    # The variable is reset at the next epoch, which is read from the
    # device again, exactly.
    _eager_epoch(accumulator, [7.0, 8.0, 9.0])
    mark = accumulator.mark_epoch(steps=3)
    assert mark == (0.0, 3.0, 0.0)
    np.testing.assert_array_equal(accumulator.read_marked([mark])[0].losses,
                                  [7.0, 8.0, 9.0])


def test_an_epoch_begun_after_contradicted_host_marks_gives_no_statistics():
    # The contradiction found while the next epoch is read (the callback
    # reads the waiting epochs first): that epoch's start is not known, so
    # it has no batch statistics rather than wrong ones.
    accumulator, marks = _host_marked(([], [], []))
    _eager_epoch(accumulator, [4.0, 5.0, 6.0])
    assert accumulator.read_marked(marks) == [None, None, None]
    assert accumulator.read() is None
    _eager_epoch(accumulator, [7.0, 8.0])
    np.testing.assert_array_equal(accumulator.read().losses, [7.0, 8.0])
