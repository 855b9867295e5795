"""`EpochBatchStats`: one epoch's per-batch loss statistics, on the host.

`keras_curvewatch.live.device` gathers them on the device in a vector laid out
as below and reads them back once per epoch; this module interprets them.
It imports neither keras nor tensorflow.
"""

import numpy as np

# Layout of the statistics vector.
N_BATCHES = 0  # batches seen, finite or not
N_FINITE = 1  # batches with a finite loss
SHIFT = 2  # the first finite loss of the epoch; sums are taken about it
SUM = 3  # sum of (loss - shift) over finite batches
SUM_SQ = 4  # sum of (loss - shift) ** 2 over finite batches
WEIGHTED_SUM = 5  # sum of batch_size * (loss - shift) over finite batches
MIN = 6  # smallest finite loss
MAX = 7  # largest finite loss
LAST = 8  # last loss (inf before the first batch)
LAST_DIFF = 9  # last difference of consecutive losses (non-finite if none)
FLIPS = 10  # sign changes between consecutive finite differences
FLIP_PAIRS = 11  # pairs of consecutive finite differences
SAMPLES = 12  # sum of batch sizes, all batches
FINITE_SAMPLES = 13  # sum of batch sizes over finite batches
BATCH_MIN = 14  # smallest batch size
BATCH_MAX = 15  # largest batch size
FIRST_NONFINITE = 16  # index of the first non-finite batch, -1 if none
VAL_SAMPLES = 17  # samples seen by the test step (validation) in the epoch
N_STATS = 18

INITIAL_STATS = np.zeros(N_STATS, dtype="float32")
INITIAL_STATS[[MIN, BATCH_MIN]] = np.inf
INITIAL_STATS[[MAX, BATCH_MAX]] = -np.inf
# "No previous loss" is +inf, not NaN: a difference with it is non-finite,
# so it never makes a flip pair, and the vector compares equal to itself,
# which multi-process JAX checks before it places a host value on devices.
INITIAL_STATS[[LAST, LAST_DIFF]] = np.inf
INITIAL_STATS[FIRST_NONFINITE] = -1.0


def fold_batches(stats, losses, batch_sizes):
    """Adds consecutive batches to a statistics vector, on the host.

    The numpy twin of `BatchLossAccumulator.update_state`, in float32 like
    the device: `read()` folds the batches the ring holds with it, one
    vectorised pass instead of about 40 eager device operations per epoch.

    Args:
        stats: 1-D array of `N_STATS`. The statistics so far.
        losses: 1-D array. Losses of consecutive batches, oldest first.
        batch_sizes: 1-D array. Their batch sizes.

    Returns:
        The new statistics vector (float32).
    """
    s = np.asarray(stats, dtype=np.float32)
    losses = np.asarray(losses, dtype=np.float32).reshape(1, -1)
    if losses.shape[1] == 0:
        return s.copy()
    sizes = np.asarray(batch_sizes, dtype=np.float32).reshape(1, -1)
    return _fold_rows(s.reshape(1, -1), losses, sizes)[0]


def fold_epochs(losses, batch_sizes):
    """Statistics of several epochs with as many batches each, at once.

    Row `i` of the result equals `fold_batches(INITIAL_STATS, losses[i],
    batch_sizes[i])`: one vectorised pass instead of one call per epoch
    when many short epochs are read together. `VAL_SAMPLES` is left at 0.

    Args:
        losses: 2-D array `(epochs, batches)`, `batches >= 1`.
        batch_sizes: 2-D array of the same shape.

    Returns:
        2-D float32 array `(epochs, N_STATS)`.
    """
    losses = np.asarray(losses, dtype=np.float32)
    sizes = np.asarray(batch_sizes, dtype=np.float32)
    if np.isfinite(losses).all():
        return _fold_finite_epochs(losses, sizes)
    start = np.repeat(INITIAL_STATS[None, :], losses.shape[0], axis=0)
    return _fold_rows(start, losses, sizes)


def _fold_finite_epochs(losses, sizes):
    """`fold_epochs` when every loss is finite, bit for bit, in about half
    the numpy calls of `_fold_rows` (a call costs 5-10 us at an epoch end
    of a fit, the steps having left the caches cold: a read of 12 epochs
    of 20 batches spent 430 us folding them in a JAX Dense batch-4 fit).
    The sums are one reduction of the stacked terms, row by row as in
    `_fold_rows`; the first two differences of each epoch pair with the
    infinite `LAST` and `LAST_DIFF` of `INITIAL_STATS`, so only the
    differences from the third batch on can make a flip pair."""
    f32 = np.float32
    rows, k = losses.shape
    shift = losses[:, 0]
    delta = losses - shift[:, None]
    with np.errstate(all="ignore"):
        # SUM, SUM_SQ, WEIGHTED_SUM, SAMPLES (= FINITE_SAMPLES here); the
        # zeros of INITIAL_STATS added as `_fold_rows` adds them.
        sums = np.stack([delta, delta * delta, sizes * delta, sizes]).sum(
            axis=2, dtype=f32) + f32(0.0)
        diff = losses[:, 1:] - losses[:, :-1]
        product = diff[:, 1:] * diff[:, :-1]
        pair = np.isfinite(product)
        flips = np.count_nonzero(pair & (product < 0), axis=1)
    new = np.repeat(INITIAL_STATS[None, :], rows, axis=0)
    new[:, N_BATCHES] = new[:, N_FINITE] = f32(k)
    new[:, SHIFT] = shift
    new[:, SUM], new[:, SUM_SQ], new[:, WEIGHTED_SUM] = sums[:3]
    new[:, SAMPLES] = new[:, FINITE_SAMPLES] = sums[3]
    new[:, MIN] = losses.min(axis=1)
    new[:, MAX] = losses.max(axis=1)
    new[:, LAST] = losses[:, -1]
    # With one batch, its difference is taken with the infinite LAST.
    new[:, LAST_DIFF] = diff[:, -1] if k > 1 else losses[:, 0] - np.inf
    new[:, FLIPS] = flips
    new[:, FLIP_PAIRS] = np.count_nonzero(pair, axis=1)
    new[:, BATCH_MIN] = np.minimum(new[:, BATCH_MIN], sizes.min(axis=1))
    new[:, BATCH_MAX] = np.maximum(new[:, BATCH_MAX], sizes.max(axis=1))
    return new


def _fold_rows(s, losses, sizes):
    """Row `i` of `s` (float32, `(rows, N_STATS)`) with the batches of row
    `i` of `losses` and `sizes` (float32, `(rows, batches)`, at least one
    batch) added; the same float32 operations along each row."""
    f32 = np.float32
    rows, k = losses.shape
    with np.errstate(all="ignore"):
        finite = np.isfinite(losses)
        finite_f = finite.astype(f32)
        safe = np.where(finite, losses, f32(0.0))
        # Sums are taken about the first finite loss ever folded.
        first = safe[np.arange(rows), np.argmax(finite, axis=1)]
        new_shift = (s[:, N_FINITE] == 0) & finite.any(axis=1)
        shift = np.where(new_shift, first, s[:, SHIFT])
        delta = np.where(finite, safe - shift[:, None], f32(0.0))
        # Pairs of consecutive differences, across the previous batch too;
        # non-finite ones (a non-finite loss, no previous one) are skipped.
        diff = losses - np.concatenate([s[:, LAST:LAST + 1],
                                        losses[:, :-1]], axis=1)
        product = diff * np.concatenate([s[:, LAST_DIFF:LAST_DIFF + 1],
                                         diff[:, :-1]], axis=1)
        pair = np.isfinite(product)
        new = s.copy()
        new[:, N_BATCHES] = s[:, N_BATCHES] + f32(k)
        new[:, N_FINITE] = s[:, N_FINITE] + finite_f.sum(axis=1, dtype=f32)
        new[:, SHIFT] = shift
        new[:, SUM] = s[:, SUM] + delta.sum(axis=1, dtype=f32)
        new[:, SUM_SQ] = s[:, SUM_SQ] + (delta * delta).sum(axis=1,
                                                             dtype=f32)
        new[:, WEIGHTED_SUM] = s[:, WEIGHTED_SUM] + (sizes * delta).sum(
            axis=1, dtype=f32)
        new[:, MIN] = np.minimum(
            s[:, MIN], np.where(finite, losses, np.inf).min(axis=1))
        new[:, MAX] = np.maximum(
            s[:, MAX], np.where(finite, losses, -np.inf).max(axis=1))
        new[:, LAST] = losses[:, -1]
        new[:, LAST_DIFF] = diff[:, -1]
        new[:, FLIPS] = s[:, FLIPS] + np.count_nonzero(
            pair & (product < 0), axis=1)
        new[:, FLIP_PAIRS] = s[:, FLIP_PAIRS] + np.count_nonzero(pair,
                                                                 axis=1)
        new[:, SAMPLES] = s[:, SAMPLES] + sizes.sum(axis=1, dtype=f32)
        new[:, FINITE_SAMPLES] = s[:, FINITE_SAMPLES] + (
            sizes * finite_f).sum(axis=1, dtype=f32)
        new[:, BATCH_MIN] = np.minimum(s[:, BATCH_MIN], sizes.min(axis=1))
        new[:, BATCH_MAX] = np.maximum(s[:, BATCH_MAX], sizes.max(axis=1))
        first_bad = (~finite.all(axis=1)) & (s[:, FIRST_NONFINITE] < 0)
        new[:, FIRST_NONFINITE] = np.where(
            first_bad, s[:, N_BATCHES] + np.argmin(finite, axis=1),
            s[:, FIRST_NONFINITE])
    return new


class EpochBatchStats:
    """One epoch's per-batch statistics, read back from the device.

    Args:
        stats: np.ndarray. The statistics vector (see the layout constants).
        losses: np.ndarray. The batch losses kept by the ring buffer, oldest
            first (the last `capacity` batches of the epoch).
        batch_sizes: np.ndarray. The batch size of each of `losses`.
    """

    def __init__(self, stats, losses, batch_sizes):
        self.stats = np.asarray(stats, dtype="float64")
        self.losses = np.asarray(losses, dtype="float64")
        self.batch_sizes = np.asarray(batch_sizes, dtype="float64")

    @classmethod
    def from_arrays(cls, stats, ring, capacity):
        n = int(round(stats[N_BATCHES]))
        if n <= capacity:
            order = np.arange(n)
        else:
            order = (np.arange(capacity) + n) % capacity
        return cls(stats, ring[0, order], ring[1, order])

    @property
    def n_batches(self):
        """int. Batches seen in the epoch."""
        return int(round(self.stats[N_BATCHES]))

    @property
    def n_finite(self):
        """int. Batches with a finite loss."""
        return int(round(self.stats[N_FINITE]))

    @property
    def complete(self):
        """bool. True if `losses` holds every batch of the epoch."""
        return len(self.losses) == self.n_batches

    @property
    def mean(self):
        """float. Unweighted mean of the finite batch losses."""
        if self.n_finite == 0:
            return float("nan")
        return float(self.stats[SHIFT] + self.stats[SUM] / self.n_finite)

    @property
    def weighted_mean(self):
        """float. Batch-size-weighted mean: what Keras logs as `loss`."""
        samples = self.stats[FINITE_SAMPLES]
        if self.n_finite == 0 or samples <= 0:
            return float("nan")
        return float(self.stats[SHIFT] + self.stats[WEIGHTED_SUM] / samples)

    @property
    def std(self):
        """float. Sample standard deviation of the finite batch losses."""
        return self.to_logs()["loss_batch_std"]

    @property
    def flip_rate(self):
        """float. Share of sign changes between consecutive differences of
        consecutive finite batch losses: about 2/3 for white noise, 0 for a
        monotone curve."""
        return self.to_logs()["loss_flip_rate"]

    @property
    def min(self):
        """float. Smallest finite batch loss."""
        return self.to_logs()["loss_batch_min"]

    @property
    def max(self):
        """float. Largest finite batch loss."""
        return self.to_logs()["loss_batch_max"]

    @property
    def samples(self):
        """int. Training samples seen in the epoch."""
        return int(round(self.stats[SAMPLES]))

    @property
    def batch_size(self):
        """int or None. The largest batch size seen (the last batch of an
        epoch may be smaller)."""
        if self.n_batches == 0:
            return None
        return int(round(self.stats[BATCH_MAX]))

    @property
    def val_samples(self):
        """int. Samples seen by the test step since `clear()`: the
        validation set's size when `fit` validated this epoch."""
        return int(round(self.stats[VAL_SAMPLES]))

    @property
    def first_nonfinite(self):
        """int or None. Index in the epoch of the first non-finite loss."""
        index = int(round(self.stats[FIRST_NONFINITE]))
        return None if index < 0 else index

    def to_logs(self, series="loss"):
        """Returns the per-epoch statistics to write into the epoch logs.

        Args:
            series: str. The prefix. Defaults to `"loss"`.

        Returns:
            dict of str to float: `loss_batch_std`, `loss_flip_rate`,
            `loss_batch_min`, `loss_batch_max`.
        """
        return {key: float(column[0]) for key, column in
                rows_to_logs(self.stats[None, :], series).items()}


def rows_to_logs(stats, series="loss"):
    """`EpochBatchStats.to_logs` of many epochs at once.

    Args:
        stats: 2-D float64 array `(epochs, N_STATS)`.
        series: str. The prefix. Defaults to `"loss"`.

    Returns:
        dict of str to 1-D float64 arrays, one value per epoch.
    """
    stats = np.asarray(stats, dtype="float64")
    n_finite = np.round(stats[:, N_FINITE])
    total, total_sq = stats[:, SUM], stats[:, SUM_SQ]
    pairs = stats[:, FLIP_PAIRS]
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (total_sq - total * total / n_finite) / (n_finite - 1)
        std = np.where(n_finite < 2, np.nan,
                       np.sqrt(np.maximum(variance, 0.0)))
        flip_rate = np.where(pairs < 1, np.nan, stats[:, FLIPS] / pairs)
    seen = n_finite > 0
    return {
        f"{series}_batch_std": std,
        f"{series}_flip_rate": flip_rate,
        f"{series}_batch_min": np.where(seen, stats[:, MIN], np.nan),
        f"{series}_batch_max": np.where(seen, stats[:, MAX], np.nan),
    }
