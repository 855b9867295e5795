"""`install(model)`: the tap on `model.compute_loss` that feeds each
training batch's loss to a `BatchLossAccumulator`.

Keras converts batch logs to Python floats on every batch, and `logs["loss"]`
in a batch hook is the epoch's running mean, not that batch's loss. So the
statistics are gathered where the loss is computed: the tap runs inside the
compiled train step, for every batch whatever `steps_per_execution` is.

- The loss passes through unchanged; the tap only reads it and its batch
  size (`shape[0]` of the first input).
- Under `tf.distribute`, the batch loss is made global with one all-reduce,
  so every replica holds the same statistics and the variables are read
  from the first replica.
- The tap picks the accumulator's cheapest update path for the backend and
  the compiled step (see `keras_curvewatch.live.device`).
- For a classification model, the batch's labels are counted per class
  (`keras_curvewatch.live.label_counts`), training and validation apart.
- An error while tracing or running the tap is stored on the accumulator
  (`trace_error`) instead of being raised: it never breaks training.
"""

import contextlib
import math

import keras
from keras import ops

from keras_curvewatch.live.device import RING_CAPACITY
from keras_curvewatch.live.device import BatchLossAccumulator
from keras_curvewatch.live.device import state_size
from keras_curvewatch.live.label_counts import LabelCounter
from keras_curvewatch.live.label_counts import label_kind
from keras_curvewatch.live.label_counts import label_slots
from keras_curvewatch.live.loss_tracker import PackedMean
from keras_curvewatch.live.loss_tracker import pack_loss_tracker

# A longer known epoch gets a ring that holds all of it, up to 2**16
# batches (512 KiB), so that TensorFlow never folds inside the step.
MAX_RING_CAPACITY = 2**16
# On JAX, at least 256 slots: the step rebuilds the variable (a shift
# register, `device.SHIFT_MAX_SLOTS`) at each batch, 0.65 us for 256 slots
# on one CPU core, and epochs of up to 32 batches still wait 6 at a time
# for one read of the ring (`CurveWatch._deferrable`). A larger ring reads
# less often (each read costs 250-400 us), but compiles longer: 1024 slots
# added 80 ms of compilation to save 20 ms of reads in a 1,000-epoch fit.
JAX_RING_SLOTS = 256

_MARKER = "_curvewatch_accumulator"


def _tf_graph(model):
    """True for a TensorFlow step without XLA (XLA fuses the full update,
    and a `tf.cond` predicate would have to leave a GPU)."""
    return keras.backend.backend() == "tensorflow" and not model.jit_compile


def _eager_torch():
    """True when the torch train step runs eagerly (no `torch.compile`)."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    return not torch.compiler.is_compiling()


def _first_tensor(x):
    for item in keras.tree.flatten(x):
        if item is not None:
            return item
    return None


def _global_batch(loss, batch_size):
    """Makes a replica's loss and batch size global under `tf.distribute`.

    Keras scales each replica's loss by 1/replicas; the global batch loss is
    the batch-size-weighted mean of the unscaled replica losses, the same
    quantity Keras's loss tracker averages.
    """
    if keras.backend.backend() != "tensorflow":
        return loss, batch_size
    import tensorflow as tf

    if (not tf.distribute.has_strategy()
            or tf.distribute.in_cross_replica_context()):
        return loss, batch_size
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    if replicas <= 1:
        return loss, batch_size
    loss = tf.cast(loss, "float32")
    size = tf.cast(batch_size, "float32")
    total = context.all_reduce(
        tf.distribute.ReduceOp.SUM, tf.stack([size * loss * replicas, size])
    )
    return total[0] / total[1], total[1]


def validation_counter(model):
    """A function that reads the count of samples Keras's loss tracker
    kept in the last evaluation, or None where it cannot stand in for the
    tap's own count.

    Keras's loss tracker (a `Mean`) is reset before validation, and the
    backend trainers' `test_step` adds each batch to it with its size
    (`shape[0]` of the first input, as the tap measures it) as weight: at
    the end of an epoch that validated, its `count` is the validation
    set's size. Reading it once per `fit` keeps the counter out of the
    test step (which a model without label counts then leaves untapped):
    with the counter in it, a 1,000-epoch Dense fit at batch 32 on JAX
    took 2.2 % longer (median of six paired rounds of fresh-process fits,
    the counter patched out in one of each pair, 2026-12-02: the test
    step's extra compilation, and a variable write at each validation
    batch). The tap counts where the tracker may not: under
    `tf.distribute` with several replicas (each adds its own batch), and
    with a `test_step` of the model's own (Keras's guide adds the loss
    unweighted, counting batches).
    """
    if not _keras_test_step(model):
        return None
    tracker = getattr(model, "_loss_tracker", None)
    if isinstance(tracker, PackedMean):
        return tracker.read_count
    count = getattr(tracker, "count", None)
    if not isinstance(count, keras.Variable):
        return None
    if keras.backend.backend() == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        if getattr(strategy, "num_replicas_in_sync", 1) != 1:
            return None
    return lambda: float(keras.ops.convert_to_numpy(count.value))


def _keras_test_step(model):
    """Whether `model.test_step` is the backend trainer's own."""
    for cls in type(model).__mro__:
        if "test_step" in vars(cls):
            return cls.__module__.startswith("keras.src.backend.")
    return False


def installed_accumulator(model):
    """Returns the accumulator installed on `model`, or None."""
    return getattr(model.compute_loss, _MARKER, None)


def _capacity_for(steps, backend=None):
    """The ring's size for epochs of `steps` batches (None: unknown)."""
    if not steps:
        return RING_CAPACITY
    backend = backend or keras.backend.backend()
    # JAX's step returns the ring as a new array, a copy per batch that
    # grows with the ring (see `JAX_RING_SLOTS`): there the ring is sized
    # to the epoch from `JAX_RING_SLOTS` up.
    least = JAX_RING_SLOTS if backend == "jax" else RING_CAPACITY
    return int(min(max(least, 2 ** math.ceil(math.log2(steps))),
                   MAX_RING_CAPACITY))


def _refold(existing, model, steps):
    """Turns the in-graph fold back on when the installed accumulator's
    ring may not hold a whole epoch of `steps` batches."""
    if not existing.fold_in_graph and (
            not steps or steps > existing.capacity):
        existing.fold_in_graph = True  # retrace with the fold
        if getattr(model, "train_function", None) is not None:
            model.make_train_function(force=True)


def _new_accumulator(model, capacity):
    """A `BatchLossAccumulator` (with a `LabelCounter` in its variable when
    the model classifies), created in the model's distribution scope."""
    strategy = getattr(model, "distribute_strategy", None)
    try:
        kind, n_classes = label_kind(model)
    except Exception:  # An unusual model is simply not counted.
        kind, n_classes = None, 0
    scope = (strategy.scope() if keras.backend.backend() == "tensorflow"
             and strategy is not None else contextlib.nullcontext())
    extra = label_slots(n_classes) if kind is not None else 0
    with scope:
        accumulator = BatchLossAccumulator(capacity, extra=extra)
    if kind is not None:
        accumulator.labels = LabelCounter(kind, n_classes, accumulator,
                                          state_size(capacity))
    return accumulator


def _tap_batch(accumulator, labels, model, loss, x, y, y_pred, training):
    """Feeds one batch's loss (and labels) to `accumulator`, by the path
    the backend and the ring allow; traced into the train step."""
    first = _first_tensor(x)
    if first is None:
        first = _first_tensor(y_pred)
    size = ops.shape(first)[0]
    global_loss, global_size = _global_batch(loss, size)
    local = global_size is size  # not under tf.distribute
    if training and _eager_torch():
        accumulator.add_eager(global_loss, global_size)
    elif training and local and not accumulator.fold_in_graph:
        accumulator.add_ring(global_loss, global_size)
    elif training and local and _tf_graph(model):
        accumulator.add_graph(global_loss, global_size)
    elif training:
        accumulator.update_state(ops.reshape(global_loss, (1,)),
                                 ops.reshape(global_size, (1,)))
    elif accumulator.counts_validation:
        accumulator.count_validation(global_size)
    if labels is not None and _first_tensor(y) is not None:
        labels.add(_first_tensor(y), training)


def _pack(model):
    """Packs the model's loss tracker (`loss_tracker.PackedMean`, JAX
    only) and rebuilds the step functions already traced with the old
    one."""
    if not pack_loss_tracker(model):
        return
    for name in ("train_function", "test_function"):
        if getattr(model, name, None) is not None:
            getattr(model, f"make_{name}")(force=True)


def install(model, capacity=None, steps=None, count_validation=None):
    """Taps `model.compute_loss` so that each training batch updates a
    `BatchLossAccumulator`.

    The tap is installed once per model and reused by later `fit()` calls.
    The model's train function is rebuilt so that the next call traces the
    tap; an already installed tap is returned without rebuilding anything.
    On JAX, the model's loss tracker is packed into one variable
    (`keras_curvewatch.live.loss_tracker`), which logs the same loss and
    costs the steps less than the tap's own variable adds.

    Args:
        model: keras.Model. A compiled model.
        capacity: int or None. Size of the ring buffer. Defaults to `None`:
            enough for `steps` batches, at most `MAX_RING_CAPACITY`, and at
            least `RING_CAPACITY` (on JAX, where the step copies the ring,
            `JAX_RING_SLOTS`).
        steps: int or None. Batches per epoch, if known (`params["steps"]`
            in a callback). Defaults to `None`.
        count_validation: bool or None. Whether the test step counts the
            validation samples (`VAL_SAMPLES`). Defaults to `None`: only
            where Keras's loss tracker cannot (see `validation_counter`).
            Ignored when the tap is installed already.

    Returns:
        The `BatchLossAccumulator`.
    """
    existing = installed_accumulator(model)
    if existing is not None:
        _pack(model)  # `compile` again puts a `Mean` back
        _refold(existing, model, steps)
        existing._soft = None  # a new fit starts with a full reset
        return existing
    _pack(model)
    if capacity is None:
        capacity = _capacity_for(steps)
    accumulator = _new_accumulator(model, capacity)
    accumulator.counts_validation = bool(
        validation_counter(model) is None if count_validation is None
        else count_validation)
    labels = accumulator.labels
    accumulator.fold_in_graph = not steps or steps > accumulator.capacity
    original = model.compute_loss
    passes_training = getattr(model, "_compute_loss_has_training_arg", True)

    def compute_loss(x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if passes_training:
            loss = original(x, y, y_pred, sample_weight, training=training)
        else:
            loss = original(x, y, y_pred, sample_weight)
        # Symbolic calls (Keras building the loss) are not batches.
        if loss is not None and not isinstance(loss, keras.KerasTensor):
            try:
                _tap_batch(accumulator, labels, model, loss, x, y, y_pred,
                           training)
            except Exception as error:  # Never break training.
                accumulator.trace_error = error
        return loss

    setattr(compute_loss, _MARKER, accumulator)
    compute_loss._curvewatch_original = original
    # Keras only passes `training` if the signature has it; ours does.
    model._compute_loss_has_training_arg = True
    model.compute_loss = compute_loss
    model._metrics.append(accumulator)
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    return accumulator
