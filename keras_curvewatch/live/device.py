"""`BatchLossAccumulator`: per-batch loss statistics in one metric variable.

`keras_curvewatch.live.loss_tap.install(model)` feeds it every training batch's
loss from inside the compiled train step; the statistics are read back to
the host once per epoch with `read()`. The losses are read through
`ops.stop_gradient`, so the accumulator never touches the gradients.

- Only additive statistics are kept (counts, sums about a shift, minimum,
  maximum, sign flips), plus a ring buffer of recent batch losses and the
  batch size (`shape[0]`) of each. `update_state` adds any number of
  consecutive batches at once with the same result, which gives each
  backend its cheapest path:
  - TensorFlow and JAX, when the ring holds the whole epoch (the usual
    case): each batch only goes into the ring (O(1)) and the ring is folded
    into the statistics at read-back (`add_ring`);
  - otherwise the TensorFlow graph folds the ring when it fills
    (`add_graph`), and XLA (JAX, TensorFlow with `jit_compile`) runs the
    full update every batch, as does `tf.distribute`, whose replicas
    all-reduce each batch loss;
  - torch (eager): the batch losses are buffered on the device and folded
    in every `EAGER_FOLD_EVERY` batches (`add_eager`).
  None of them copies anything to the host before the epoch ends.
- On JAX the variable is a metric variable of the model, so it flows
  through the trainer's stateless `metrics_variables`; one variable holds
  everything (the label counts too), as each costs the fit loop a little
  at every step.
"""

import numpy as np

import keras
from keras import ops

from keras_curvewatch.engine.batch_stats import BATCH_MAX
from keras_curvewatch.engine.batch_stats import BATCH_MIN
from keras_curvewatch.engine.batch_stats import EpochBatchStats
from keras_curvewatch.engine.batch_stats import FINITE_SAMPLES
from keras_curvewatch.engine.batch_stats import FIRST_NONFINITE
from keras_curvewatch.engine.batch_stats import FLIPS
from keras_curvewatch.engine.batch_stats import FLIP_PAIRS
from keras_curvewatch.engine.batch_stats import INITIAL_STATS
from keras_curvewatch.engine.batch_stats import LAST
from keras_curvewatch.engine.batch_stats import LAST_DIFF
from keras_curvewatch.engine.batch_stats import MAX
from keras_curvewatch.engine.batch_stats import MIN
from keras_curvewatch.engine.batch_stats import N_BATCHES
from keras_curvewatch.engine.batch_stats import N_FINITE
from keras_curvewatch.engine.batch_stats import N_STATS
from keras_curvewatch.engine.batch_stats import SAMPLES
from keras_curvewatch.engine.batch_stats import SHIFT
from keras_curvewatch.engine.batch_stats import SUM
from keras_curvewatch.engine.batch_stats import SUM_SQ
from keras_curvewatch.engine.batch_stats import VAL_SAMPLES
from keras_curvewatch.engine.batch_stats import WEIGHTED_SUM
from keras_curvewatch.engine.batch_stats import fold_batches
from keras_curvewatch.engine.batch_stats import fold_epochs

# The ring buffer keeps this many most recent batch losses of the epoch:
# 4096 x 2 float32 is 32 KiB, and covers every batch of most epochs.
RING_CAPACITY = 4096

# Between epochs of the ring-only path, `clear()` keeps the counters and
# only moves the host's offsets (no device write); a hard reset is made
# once a counter nears the end of float32's exact integers (2**24): 2**23
# leaves more than an epoch of margin.
SOFT_CLEAR_MAX = 2.0 ** 23

# Eager backends (torch without `torch.compile`) buffer this many batch
# losses on the device and fold them in with one vectorised update: per
# batch that costs one `detach`, instead of ~40 eager kernel launches.
EAGER_FOLD_EVERY = 64


# On JAX, a ring of up to this many slots is written as a shift register
# (static slices, one fused copy of the variable per batch) rather than at
# the slot the count gives (a dynamic index). The step returns the variable
# as a new array either way, but XLA compiles them differently: with 256
# slots the tap added 28-41 ms of compilation to a fit (two train-step
# shapes, one CPU core) as a shift register against 64-75 ms at a dynamic
# index (`jax.monitoring` backend compile durations, paired fits). Larger
# shift registers compile erratically (1024 slots 113-131 ms, 2048 47 ms)
# and their copy grows with the ring (1.15 us a batch for 4096 slots, 0.65
# us for 256): longer epochs keep the dynamic index.
SHIFT_MAX_SLOTS = 256

# The layout of the accumulator's one variable: the statistics
# (`N_STATS`), the count of batches written to the ring, the ring's losses
# and its batch sizes (`capacity` each), then `extra` slots for the label
# counts (`keras_curvewatch.live.label_counts`), if any.
COUNT = N_STATS
RING = N_STATS + 1


def state_size(capacity, extra=0):
    """The length of the accumulator's variable for a ring of
    `capacity` batches and `extra` more slots."""
    return RING + 2 * int(capacity) + int(extra)


def _initial_state(size):
    state = np.zeros(size, dtype="float32")
    state[:N_STATS] = INITIAL_STATS
    return state


def _split(state, capacity):
    """`(stats, count, ring)` views of a host copy of the variable; `ring`
    is `(2, capacity)`: losses, then batch sizes."""
    return (state[:N_STATS], state[COUNT],
            state[RING:RING + 2 * capacity].reshape(2, capacity))


# Plain host attributes of `BatchLossAccumulator` (no variables in them).
_HOST_ATTRIBUTES = frozenset(
    {"_pending", "_initial", "_offset", "_soft", "trace_error",
     "fold_in_graph", "capacity", "extra", "_soft_epoch", "_val_known",
     "_host_epochs", "_val_rate", "_last_length", "counts_validation"})


class BatchLossAccumulator(keras.metrics.Metric):
    """Per-batch training-loss statistics kept in metric variables.

    Keras resets every metric at each epoch start and again before
    validation; this one ignores `reset_state()` so that its statistics
    survive until `on_epoch_end`, and is cleared with `clear()` instead.
    Its `result()` is empty, so it adds nothing to the logs or the progress
    bar.

    Args:
        capacity: int. Size of the ring buffer of recent batch losses.
            Defaults to `RING_CAPACITY`.
        extra: int. More slots in the variable, after the ring, for the
            label counts (see `add_slice`). Defaults to 0.
        name: str. The metric name. Defaults to
            `"curvewatch_batch_stats"`.
    """

    def __init__(self, capacity=RING_CAPACITY, extra=0,
                 name="curvewatch_batch_stats"):
        super().__init__(name=name, dtype="float32")
        self.capacity = int(capacity)
        self.extra = int(extra)
        # One variable holds it all (see `state_size`): on JAX each metric
        # variable costs the fit loop about 4 us a step (it passes through
        # the trainer's tracked `_jax_state`), and `read()` is one transfer.
        # "only_first_replica": every replica holds the same global values.
        self.buffer = self.add_variable(
            shape=(state_size(self.capacity, self.extra),),
            initializer=lambda shape, dtype=None: ops.convert_to_tensor(
                _initial_state(shape[0]), dtype="float32"
            ),
            dtype="float32",
            aggregation="only_first_replica",
            name="buffer",
        )
        # Set by the tap if tracing it failed; the loss is then untouched.
        self.trace_error = None
        self._pending = []  # (loss tensor, batch size) awaiting a fold
        self._initial = None  # the cleared values, as backend tensors
        # (count, val_samples) at the start of the epoch, when `clear()`
        # moved offsets instead of resetting the variables; and the values
        # the last `read()` saw, which the next `clear()` may use so.
        self._offset = (0.0, 0.0)
        self._soft = None
        # Host marks (`mark_epoch`): whether this epoch began with a soft
        # clear; the validation counter at the last read, the epochs marked
        # on the host since, and the last epoch's validation samples.
        self._soft_epoch = False
        self._val_known, self._host_epochs, self._val_rate = 0.0, 0, None
        self._last_length = None  # batches of the last epoch read
        # Whether the statistics must be updated inside the step, because
        # the ring may not hold a whole epoch: then TensorFlow graphs fold
        # the ring when it fills (a `tf.cond`, about 2% of a small CNN's
        # CPU step) and XLA runs the full update every batch. `install`
        # sizes the ring to the epoch when it can.
        self.fold_in_graph = True
        # The `LabelCounter` fed by the same tap, or None (not classifying).
        self.labels = None
        # Whether the test step counts the validation samples into
        # `VAL_SAMPLES` (`count_validation`); `install` turns it off where
        # Keras's own loss tracker counts them (see
        # `loss_tap.validation_counter`).
        self.counts_validation = True

    def __setattr__(self, name, value):
        # Host bookkeeping set every epoch skips Keras's attribute tracking
        # (about 17 us a set, a tracked list for `_pending`): it never
        # holds a variable.
        if name in _HOST_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def update_state(self, losses, batch_sizes, write_ring=True):
        """Adds consecutive batches; traced into the train step.

        The result is the same whether the batches come one at a time or
        several at once.

        Args:
            losses: 1-D tensor. Global training losses of consecutive
                batches, oldest first.
            batch_sizes: 1-D tensor. Their global batch sizes.
            write_ring: bool. False when they come from the ring already.
        """
        losses = ops.reshape(
            ops.cast(ops.stop_gradient(losses), "float32"), (-1,))
        sizes = ops.reshape(ops.cast(batch_sizes, "float32"), (-1,))
        state = self.buffer.value
        s = state[:N_STATS]
        new = _updated_stats(s, losses, sizes)
        if write_ring:
            state = self._ring_with(state, losses, sizes, s[N_BATCHES])
        self.buffer.assign(ops.slice_update(state, (0,), new))

    def _ring_with(self, state, losses, sizes, n):
        """`state` with the batches `losses` (of `sizes`) written to the
        ring after the `n` already seen."""
        m = losses.shape[0]
        capacity = self.capacity
        if m == 1:
            # O(1): XLA updates the donated buffer in place.
            slot = ops.cast(ops.mod(n, float(capacity)), "int32")
            state = ops.slice_update(state, (RING + slot,), losses)
            return ops.slice_update(state, (RING + capacity + slot,), sizes)
        keep = min(m, capacity)
        slots = ops.cast(ops.mod(
            n + ops.arange(m - keep, m, dtype="float32"),
            float(capacity)), "int32")
        indices = ops.concatenate([RING + slots, RING + capacity + slots])
        return ops.scatter_update(
            state, ops.reshape(indices, (-1, 1)),
            ops.concatenate([losses[m - keep:], sizes[m - keep:]]))

    def add_ring(self, loss, batch_size):
        """Adds one batch with O(1) work: it only goes into the ring, and
        `read()` folds the ring into the statistics. Needs a ring that
        holds the whole epoch (`fold_in_graph` False). (On JAX the step
        copies the variable anyway; a shift register is one copy of at
        most `SHIFT_MAX_SLOTS` slots.)"""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self.add_graph(loss, batch_size)
        state = self.buffer.value
        count = state[COUNT]
        loss = ops.cast(ops.reshape(ops.stop_gradient(loss), (1,)),
                        "float32")
        size = ops.reshape(ops.cast(batch_size, "float32"), (1,))
        if self._shifted():
            # A shift register: the newest batch goes last (see
            # `SHIFT_MAX_SLOTS`).
            capacity = self.capacity
            self.buffer.assign(ops.concatenate([
                state[:COUNT], ops.reshape(count + 1.0, (1,)),
                state[RING + 1:RING + capacity], loss,
                state[RING + capacity + 1:RING + 2 * capacity], size,
                state[RING + 2 * capacity:],
            ]))
            return
        # The count runs on across epochs (see `clear`): the slot wraps.
        slot = ops.cast(ops.mod(count, float(self.capacity)), "int32")
        # XLA (a ring above SHIFT_MAX_SLOTS) and torch.compile update the
        # donated buffer in place.
        state = ops.slice_update(state, (RING + slot,), loss)
        state = ops.slice_update(state, (RING + self.capacity + slot,), size)
        self.buffer.assign(
            ops.slice_update(state, (COUNT,), ops.reshape(count + 1.0, (1,))))

    def add_graph(self, loss, batch_size):
        """Adds one batch in a TensorFlow graph with O(1) work.

        The batch goes into the ring and the count; the statistics are
        folded in from the ring when it fills (`tf.cond`, once per
        `capacity` batches) and before `read()`. Per batch that is a few
        graph ops instead of ~45: the difference between about 1% and 5%
        of a small CNN's CPU step (bench/overhead.py).
        """
        import tensorflow as tf

        capacity = float(self.capacity)
        variable = self.buffer.value
        count = variable[COUNT]
        slot = tf.cast(tf.math.floormod(count, capacity), tf.int32)
        seen = count + 1.0
        variable.scatter_nd_update(
            tf.reshape(tf.stack([RING + slot, RING + self.capacity + slot,
                                 COUNT]), (3, 1)),
            tf.stack([
                tf.cast(tf.reshape(tf.stop_gradient(loss), ()), tf.float32),
                tf.cast(batch_size, tf.float32),
                seen,
            ]))
        if not self.fold_in_graph:
            return

        def fold():
            ring = tf.reshape(
                variable.read_value()[RING:RING + 2 * self.capacity],
                (2, self.capacity))
            self.update_state(ring[0], ring[1], write_ring=False)
            return tf.constant(True)

        tf.cond(tf.equal(tf.math.floormod(seen, capacity), 0.0), fold,
                lambda: tf.constant(False))

    def add_eager(self, loss, batch_size):
        """Buffers one batch (eager backends); folded in every
        `EAGER_FOLD_EVERY` batches and before `read()`."""
        self._pending.append((ops.stop_gradient(loss), batch_size))
        if len(self._pending) >= EAGER_FOLD_EVERY:
            self.fold()

    def fold(self):
        """Folds the buffered batches into the statistics (eager only)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        losses = ops.stack([ops.reshape(ops.cast(loss, "float32"), ())
                            for loss, _ in pending])
        sizes = ops.convert_to_tensor([float(size) for _, size in pending],
                                      dtype="float32")
        self.update_state(losses, sizes)

    def count_validation(self, batch_size):
        """Adds a test-step batch's size to `VAL_SAMPLES`; traced into the
        test step when `counts_validation`, so `fit` measures the
        validation set's size."""
        state = self.buffer.value
        size = ops.cast(batch_size, "float32")
        self.buffer.assign(ops.slice_update(
            state, (VAL_SAMPLES,),
            ops.reshape(state[VAL_SAMPLES] + size, (1,))))

    def reset_state(self):
        # Keras calls this at each epoch start and before validation; the
        # statistics must survive until `on_epoch_end`. See `clear()`.
        pass

    def clear(self, labels=True):
        """Resets the statistics; called eagerly at each epoch start.

        Args:
            labels: bool. Also reset the label counts (the `extra` slots).
                Defaults to `True`; `CurveWatch` reads them after the first
                epoch only, so it passes `False` from then on.
        """
        self._pending = []
        soft, self._soft = self._soft, None
        keep = self.extra and not labels
        self._soft_epoch = soft is not None
        if soft is not None:
            # Ring-only epochs leave the statistics untouched in the step:
            # the next epoch is told apart by offsets, with no device write.
            self._offset = soft
            if not keep and self.extra:
                self.zero_slice(state_size(self.capacity), self.extra)
            return
        self._offset = (0.0, 0.0)
        self._val_known, self._host_epochs = 0.0, 0
        size = state_size(self.capacity, 0 if keep else self.extra)
        if keras.backend.backend() == "jax":
            # The JAX train step donates the variables' buffers: each hard
            # clear needs a buffer of its own, made from the host (a device
            # copy would compile a kernel, about 10 ms, on its first use).
            initial = ops.convert_to_tensor(_initial_state(size),
                                            dtype="float32")
        else:
            if self._initial is None or self._initial.shape[0] != size:
                # Made once: assigning it skips converting numpy each epoch.
                self._initial = ops.convert_to_tensor(_initial_state(size),
                                                      dtype="float32")
            initial = self._initial
        # The ring is reset too, though only the slots written since (the
        # statistics and the count say which) are ever read.
        if keep:  # the label counts stay
            initial = ops.slice_update(self.buffer.value, (0,), initial)
        self.buffer.assign(initial)

    def add_slice(self, start, values):
        """Adds `values` (1-D) to the variable's slots from `start`;
        traced into the train and test steps (the label counts)."""
        values = ops.cast(values, "float32")
        n = int(values.shape[0])
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            if not tf.distribute.has_strategy():
                # In place: no copy of the ring.
                self.buffer.value.scatter_nd_add(
                    tf.reshape(tf.range(start, start + n), (n, 1)), values)
                return
        state = self.buffer.value
        self.buffer.assign(ops.slice_update(
            state, (start,), state[start:start + n] + values))

    def zero_slice(self, start, n):
        """Sets the variable's slots `start`..`start + n - 1` to 0,
        eagerly."""
        self.buffer.assign(ops.slice_update(
            self.buffer.value, (start,), ops.zeros((n,), dtype="float32")))

    def read_slice(self, start, n):
        """The slots `start`..`start + n - 1` on the host (float64)."""
        return _to_numpy(self.buffer)[start:start + n]

    def result(self):
        return {}

    def read(self):
        """Reads the statistics back to the host, once per epoch.

        Returns:
            An `EpochBatchStats`, or None when the epoch's start in the
            ring is not known (host marks the device's count contradicted,
            see `read_marked`).
        """
        self.fold()
        stats, count, ring = self._read_all()
        if not self.fold_in_graph and stats[N_BATCHES] == 0:
            return self._read_ring_only(stats, count, ring)
        # Batches `add_ring` / `add_graph` left in the ring since the last
        # fold, which happened at a multiple of `capacity` (or never):
        # slots 0..pending-1.
        pending = int(round(count)) - int(round(stats[N_BATCHES]))
        if pending > self.capacity:
            raise RuntimeError(
                f"The epoch had {pending} batches, more than the ring's "
                f"{self.capacity}, and was not folded in the step.")
        if pending > 0:
            # Folded on the host: one numpy pass, not ~40 eager device ops.
            stats = fold_batches(stats, ring[0, :pending], ring[1, :pending])
        return EpochBatchStats.from_arrays(stats, ring, self.capacity)

    def mark_epoch(self, steps=None):
        """Ends an epoch without folding its batches. Its batches stay in
        the ring, to be read with `read_marked` before the ring could wrap
        over them.

        With `steps` known, an epoch that began where a ring-only epoch
        ended is marked on the host with no device read at all (`fit` runs
        every one of its `steps` batches; only the last epoch of a `fit`
        can stop early, and `read_marked` checks the count); otherwise the
        variable is read once, without a fold.

        Args:
            steps: int or None. Batches per epoch (`params["steps"]`).
                Defaults to `None`: read the count from the device.

        Returns:
            `(start, end, val_samples)`: the epoch's slots as running
            batch counts, and its validation samples (None when marked on
            the host); or None when the step folded into the statistics
            (not the ring-only path) or a counter nears float32's exact
            range: then call `read()`.
        """
        if self.fold_in_graph or self._pending:
            return None
        if steps and self._host_markable(steps):
            start = self._offset[0]
            self._host_epochs += 1
            self._soft = (start + steps, None)
            return start, start + steps, None
        stats, count, _ = self._read_all()
        if stats[N_BATCHES] != 0:
            return None
        mark = self._ring_mark(stats, count)
        if (mark is None or self._soft is None
                or mark[1] - mark[0] > self.capacity):
            return None
        return mark

    def _host_markable(self, steps):
        """Whether the epoch ending now can be marked on the host: it began
        with a soft clear, the last epoch read from the device had `steps`
        batches (a train step that computes the loss twice has twice as
        many), and neither counter can reach `SOFT_CLEAR_MAX`
        (the validation one is bounded from its last read and twice its
        last epoch's growth)."""
        if (not self._soft_epoch or self._val_rate is None
                or steps != self._last_length):
            return False
        val_bound = self._val_known + 2.0 * (self._host_epochs + 1) * max(
            self._val_rate, 1.0)
        return (steps <= self.capacity and val_bound < SOFT_CLEAR_MAX
                and self._offset[0] + steps < SOFT_CLEAR_MAX)

    def read_marked(self, marks):
        """Reads the epochs `mark_epoch` ended, with one transfer.

        The marks made on the host are checked against the device's count:
        a last epoch that stopped early (`stop_training` set mid-epoch)
        ends at the count; marks the count contradicts are not read.

        Args:
            marks: list of `mark_epoch()` results, oldest first, all
                within the last `capacity` batches.

        Returns:
            list of `EpochBatchStats`, one per mark, or None for an epoch
            whose slots the ring has written over since, or whose host
            mark the count contradicts.
        """
        stats, count, ring = self._read_all()
        self._val_known = float(stats[VAL_SAMPLES])
        self._host_epochs = 0
        marks = list(marks)
        host = [i for i, mark in enumerate(marks) if mark[2] is None]
        if host and count < marks[host[-1]][1]:
            if (stats[N_BATCHES] == 0 and host[-1] == len(marks) - 1
                    and count >= marks[-1][0]):
                # The last epoch stopped early (`stop_training`).
                marks[-1] = (marks[-1][0], count, None)
                self._soft = (count, None)
                self._last_length = count - marks[-1][0]
            else:
                marks = self._distrust(marks)
        elif host and stats[N_BATCHES] != 0:  # not the ring-only path
            marks = self._distrust(marks)
        kept = [i for i, mark in enumerate(marks)
                if mark is not None and count - mark[0] <= self.capacity]
        out = [None] * len(marks)
        for i, batch_stats in zip(kept, self._ring_epochs(
                ring, [marks[i] for i in kept])):
            out[i] = batch_stats
        return out

    def _distrust(self, marks):
        """`marks` without the host marks, after the device's count
        contradicted them; the epoch under way has no known start either,
        and the next `clear()` resets the variable."""
        self._soft, self._offset, self._last_length = None, (None, None), None
        return [None if mark[2] is None else mark for mark in marks]

    def _read_all(self):
        """`(stats, count, ring)` on the host, from one transfer; the ring
        in slot order (batch `i` of the running count at slot
        `i % capacity`) whatever the path that wrote it."""
        stats, count, ring = _split(_to_numpy(self.buffer), self.capacity)
        if self._shifted():
            # The newest batch (running count `count - 1`) is last.
            ring = np.roll(ring, int(round(count)) % self.capacity, axis=1)
        return stats, count, ring

    def _shifted(self):
        """Whether the step writes the ring as a shift register: the
        ring-only path on JAX, with a ring of at most `SHIFT_MAX_SLOTS`."""
        return (not self.fold_in_graph and self.capacity <= SHIFT_MAX_SLOTS
                and keras.backend.backend() == "jax")

    def _read_ring_only(self, stats, count, ring):
        """`read()` when the step only wrote the ring (`add_ring`, or
        `add_graph` without the fold): the epoch's batches are the ring
        slots written since the offsets `clear()` set, folded on the
        host. Allows the next `clear()` to move offsets only."""
        mark = self._ring_mark(stats, count)
        if mark is None:
            return None
        start, end, val_samples = mark
        n = int(round(end - start))
        if n > self.capacity:
            raise RuntimeError(
                f"The epoch had {n} batches, more than the ring's "
                f"{self.capacity}, and was not folded in the step.")
        return self._ring_epochs(ring, [(start, end, val_samples)])[0]

    def _ring_mark(self, stats, count):
        """`(start, end, val_samples)` of the epoch just ended on the
        ring-only path (`stats` and `count` read from the device); lets
        the next `clear()` move offsets only, while the counters stay
        below `SOFT_CLEAR_MAX`. `val_samples` is None when the epoch began
        after a host mark (its validation offset is not known); the whole
        mark is None when its start is not known (`_distrust`)."""
        count = float(count)
        val = float(stats[VAL_SAMPLES])
        start, val_start = self._offset
        self._val_known, self._host_epochs = val, 0
        self._soft = (count, val) if max(count, val) < SOFT_CLEAR_MAX else (
            None)
        if start is None:  # see `_distrust`
            self._last_length = None
            return None
        val_samples = None if val_start is None else val - val_start
        if val_samples is not None:
            self._val_rate = val_samples
        self._last_length = count - start
        return start, count, val_samples

    def _ring_epochs(self, ring, marks):
        """The `EpochBatchStats` of each `(start, end, val_samples)` in
        `marks`: ring slots `start`..`end` (running batch counts), folded
        on the host; epochs of the same length together (`fold_epochs`),
        as a small-data run's all are."""
        out = [None] * len(marks)
        by_length = {}
        for i, (start, end, _) in enumerate(marks):
            by_length.setdefault(int(round(end - start)), []).append(i)
        for length, rows in by_length.items():
            starts = np.array([int(round(marks[i][0])) for i in rows])
            slots = (starts[:, None] + np.arange(length)) % self.capacity
            losses, sizes = ring[0][slots], ring[1][slots]
            if length:
                stats = fold_epochs(losses, sizes)
            else:
                stats = np.repeat(INITIAL_STATS[None, :], len(rows), axis=0)
            stats = stats.astype("float64")
            for row, i in enumerate(rows):
                # 0 when not known: the session keeps the last measured.
                stats[row, VAL_SAMPLES] = np.float32(marks[i][2] or 0.0)
                out[i] = EpochBatchStats(stats[row], losses[row],
                                         sizes[row])
        return out


def _updated_stats(s, losses, sizes):
    """The statistics `s` with the batches `losses` (of `sizes`) added:
    pure `keras.ops`, traced into the train step."""
    m = losses.shape[0]
    n, n_finite = s[N_BATCHES], s[N_FINITE]
    finite = ops.isfinite(losses)
    finite_f = ops.cast(finite, "float32")
    safe = ops.where(finite, losses, 0.0)
    first = ops.argmax(finite_f)  # first finite batch, 0 if none
    shift = ops.where(
        ops.logical_and(n_finite == 0.0, ops.sum(finite_f) > 0.0),
        ops.take(safe, first),
        s[SHIFT],
    )
    delta = ops.where(finite, safe - shift, 0.0)
    # Differences of consecutive losses, across the previous batch too;
    # non-finite wherever a loss is not finite or there is no previous
    # one (LAST starts at inf), so such pairs are skipped.
    previous = ops.concatenate([s[LAST:LAST + 1], losses[:-1]])
    diff = losses - previous
    previous_diff = ops.concatenate([s[LAST_DIFF:LAST_DIFF + 1],
                                     diff[:-1]])
    product = diff * previous_diff
    pair = ops.isfinite(product)
    flip = ops.logical_and(pair, product < 0.0)
    bad = 1.0 - finite_f
    new = ops.stack([
        n + m,
        n_finite + ops.sum(finite_f),
        shift,
        s[SUM] + ops.sum(delta),
        s[SUM_SQ] + ops.sum(delta * delta),
        s[WEIGHTED_SUM] + ops.sum(sizes * delta),
        ops.minimum(s[MIN], ops.min(ops.where(finite, losses, np.inf))),
        ops.maximum(s[MAX], ops.max(ops.where(finite, losses, -np.inf))),
        losses[-1],
        diff[-1],
        s[FLIPS] + ops.sum(ops.cast(flip, "float32")),
        s[FLIP_PAIRS] + ops.sum(ops.cast(pair, "float32")),
        s[SAMPLES] + ops.sum(sizes),
        s[FINITE_SAMPLES] + ops.sum(sizes * finite_f),
        ops.minimum(s[BATCH_MIN], ops.min(sizes)),
        ops.maximum(s[BATCH_MAX], ops.max(sizes)),
        ops.where(
            ops.logical_and(ops.sum(bad) > 0.0,
                            s[FIRST_NONFINITE] < 0.0),
            n + ops.cast(ops.argmax(bad), "float32"),
            s[FIRST_NONFINITE],
        ),
        s[VAL_SAMPLES],
    ])
    return new


def _to_numpy(variable):
    """Copies a variable to the host as float64 (one transfer)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        # `np.array(tensor)` warns under numpy 2; `.numpy()` does not.
        value = variable.numpy()
    elif backend == "torch":
        value = variable.value.detach().cpu().numpy()
    else:
        value = np.asarray(variable.value)
    return np.asarray(value, dtype="float64")
