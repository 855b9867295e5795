"""Tests of `keras_curvewatch.engine.batch_stats.fold_batches`, the host
twin of the device accumulator's update, and of `fold_epochs`."""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from keras_curvewatch.engine import batch_stats  # noqa: E402
from keras_curvewatch.engine.batch_stats import INITIAL_STATS  # noqa: E402
from keras_curvewatch.live import device  # noqa: E402


def _device_stats(losses, sizes, chunks):
    accumulator = device.BatchLossAccumulator(capacity=len(losses) + 1)
    for start, stop in chunks:
        accumulator.update_state(
            keras.ops.convert_to_tensor(losses[start:stop], "float32"),
            sizes[start:stop])
    return accumulator._read_all()[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_host_fold_matches_the_device_update(seed):
    rng = np.random.default_rng(seed)
    n = 40
    losses = rng.lognormal(0.0, 0.5, n).astype("float32")
    losses[rng.choice(n, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    sizes = np.full(n, 4.0, dtype="float32")
    sizes[-1] = 2.0
    expected = _device_stats(losses, sizes, [(0, 7), (7, 8), (8, n)])
    host = INITIAL_STATS
    for start, stop in [(0, 13), (13, n)]:
        host = batch_stats.fold_batches(host, losses[start:stop],
                                        sizes[start:stop])
    # SUM is a near-cancelling float32 sum: absolute tolerance too.
    np.testing.assert_allclose(host, expected, rtol=1e-5, atol=1e-5)
    stats = batch_stats.EpochBatchStats(host, losses, sizes)
    finite = losses[np.isfinite(losses)].astype("float64")
    assert stats.n_batches == n and stats.n_finite == n - 3
    assert stats.first_nonfinite == int(np.argmin(np.isfinite(losses)))
    np.testing.assert_allclose(stats.std, finite.std(ddof=1), rtol=1e-4)
    np.testing.assert_allclose(stats.mean, finite.mean(), rtol=1e-5)


def test_host_fold_of_nothing_and_of_no_finite_loss():
    same = batch_stats.fold_batches(INITIAL_STATS, [], [])
    np.testing.assert_array_equal(same, INITIAL_STATS)
    stats = batch_stats.EpochBatchStats(
        batch_stats.fold_batches(INITIAL_STATS, [np.nan, np.nan], [4, 4]),
        [np.nan, np.nan], [4, 4])
    assert stats.n_batches == 2 and stats.n_finite == 0
    assert np.isnan(stats.mean) and stats.first_nonfinite == 0


_BATCH_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(2.0 ** -20, 2.0 ** 20, width=32))


def _epochs(values, max_epochs):
    """Up to `max_epochs` epochs of 1-40 batches each, as many in every
    epoch: `(losses, sizes)`, the losses drawn from `values`."""
    return st.integers(1, max_epochs).flatmap(
        lambda m: st.integers(1, 40).flatmap(lambda k: st.tuples(
            st.lists(st.lists(values, min_size=k, max_size=k),
                     min_size=m, max_size=m),
            st.lists(st.lists(st.integers(1, 64), min_size=k, max_size=k),
                     min_size=m, max_size=m))))


@settings(max_examples=200, deadline=None)
@given(_epochs(_BATCH_VALUE, 4))
def test_folding_epochs_together_equals_folding_each(data):
    losses, sizes = (np.asarray(a, dtype="float32") for a in data)
    rows = batch_stats.fold_epochs(losses, sizes)
    for i in range(len(losses)):
        one = batch_stats.fold_batches(INITIAL_STATS, losses[i], sizes[i])
        # Bit for bit, NaN where NaN.
        np.testing.assert_array_equal(rows[i], one)


@settings(max_examples=300, deadline=None)
@given(_epochs(st.floats(allow_nan=False, allow_infinity=False, width=32)
               | st.floats(-4.0, 4.0, width=32), 5))
def test_folding_finite_epochs_together_equals_folding_each(data):
    # The all-finite shortcut of fold_epochs (huge values overflow the
    # squares and products to inf, as in the general fold).
    losses, sizes = (np.asarray(a, dtype="float32") for a in data)
    rows = batch_stats.fold_epochs(losses, sizes)
    general = batch_stats._fold_rows(
        np.repeat(INITIAL_STATS[None, :], len(losses), axis=0), losses,
        sizes)
    np.testing.assert_array_equal(rows, general)
    for i in range(len(losses)):
        one = batch_stats.fold_batches(INITIAL_STATS, losses[i], sizes[i])
        np.testing.assert_array_equal(rows[i], one)
        # Signed zeros too (assert_array_equal takes -0.0 == 0.0).
        np.testing.assert_array_equal(np.signbit(rows[i]), np.signbit(one))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(2.0 ** -10, 2.0 ** 10, width=32)
                         | st.sampled_from([np.nan, np.inf, -np.inf]),
                         min_size=0, max_size=30),
                min_size=1, max_size=6))
def test_logs_of_many_epochs_match_each_epochs_losses(epochs):
    # rows_to_logs (the deferred read of many epochs) against numpy on each
    # epoch's own losses: NaN where an epoch has too few finite losses.
    rows = [batch_stats.fold_batches(
        INITIAL_STATS, np.asarray(e, dtype="float32"),
        np.full(len(e), 4.0, dtype="float32")) for e in epochs]
    logs = batch_stats.rows_to_logs(np.array(rows))
    for i, e in enumerate(epochs):
        values = np.asarray(e, dtype="float32").astype("float64")
        finite = values[np.isfinite(values)]
        std = logs["loss_batch_std"][i]
        if finite.size < 2:
            assert np.isnan(std)
        else:
            assert std == pytest.approx(finite.std(ddof=1), rel=1e-3,
                                        abs=1e-6 * np.abs(finite).max())
        if finite.size == 0:
            assert np.isnan(logs["loss_batch_min"][i])
            assert np.isnan(logs["loss_batch_max"][i])
        else:
            assert logs["loss_batch_min"][i] == finite.min()
            assert logs["loss_batch_max"][i] == finite.max()
        with np.errstate(invalid="ignore"):
            d = np.diff(values)
            product = d[1:] * d[:-1]
        pairs = np.isfinite(product)
        rate = logs["loss_flip_rate"][i]
        if not pairs.any():
            assert np.isnan(rate)
        else:
            assert rate == np.sum(pairs & (product < 0)) / pairs.sum()
