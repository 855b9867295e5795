"""`LabelCounter`: per-class label counts of the training and validation
batches, kept on the device in the slots after the ring of the
`BatchLossAccumulator`'s variable (one variable: on JAX each metric
variable costs the fit loop a little at every step).

The compute_loss tap (`keras_curvewatch.live.loss_tap`) feeds it each
batch's `y`; the counts are read back once, at the end of the first epoch,
to check that both sides of the split hold the same classes
(`keras_curvewatch.engine.rules.split`). Only single-output classification
models are counted: integer labels (sparse cross-entropy), one-hot rows
(categorical cross-entropy) and 0/1 labels (binary cross-entropy with one
output unit).
"""

import keras
from keras import ops

# Classes counted at most: 2 x 1000 float32 is 8 KiB, and a sum over a
# one-hot row of that width costs no more than the softmax it follows.
MAX_COUNTED_CLASSES = 1000

SPARSE = "sparse"
ONE_HOT = "one_hot"
BINARY = "binary"

_KINDS = {
    "sparse_categorical_crossentropy": SPARSE,
    "categorical_crossentropy": ONE_HOT,
    "categorical_focal_crossentropy": ONE_HOT,
    "binary_crossentropy": BINARY,
    "binary_focal_crossentropy": BINARY,
}


def label_kind(model):
    """How `model`'s labels are counted: `(kind, n_classes)`, or
    `(None, reason)` when they are not (regression, several outputs, ...).
    """
    from keras_curvewatch.preflight.model_info import describe_model

    info = describe_model(model)
    losses = info.get("losses") or []
    if len(losses) != 1:
        return None, "the model does not have exactly one loss"
    kind = _KINDS.get(losses[0]["kind"])
    if kind is None:
        return None, f"the loss {losses[0]['name']} is not a classification loss"
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or outputs[0].shape[-1] is None:
        return None, "the model's single output width is unknown"
    units = int(outputs[0].shape[-1])
    if kind == BINARY:
        if units != 1:
            return None, "binary cross-entropy on several units is multi-label"
        units = 2
    if not 2 <= units <= MAX_COUNTED_CLASSES:
        return None, f"{units} output units is outside 2..{MAX_COUNTED_CLASSES}"
    return kind, units


class LabelCounter:
    """Per-class label counts, training then validation, in the `extra`
    slots of a `BatchLossAccumulator`.

    They are reset with the accumulator's `clear()` (not by Keras's metric
    resets, which happen at every epoch start and before validation).

    Args:
        kind: str. `"sparse"`, `"one_hot"` or `"binary"`.
        n_classes: int. Number of classes.
        accumulator: `BatchLossAccumulator`. Created with
            `extra=label_slots(n_classes)`.
        start: int. The first of its slots the counts use.
    """

    def __init__(self, kind, n_classes, accumulator, start):
        self.kind = kind
        self.n_classes = int(n_classes)
        self.accumulator = accumulator
        self.start = int(start)

    def add(self, y, training):
        """Adds one batch's labels; traced into the train and test steps."""
        y = ops.stop_gradient(y)
        k = self.n_classes
        if self.kind == SPARSE:
            ids = ops.reshape(ops.cast(y, "int32"), (-1,))
            row = ops.sum(ops.one_hot(ids, k, dtype="float32"), axis=0)
        elif self.kind == ONE_HOT:
            row = ops.sum(ops.reshape(ops.cast(y, "float32"), (-1, k)), axis=0)
        else:
            positive = ops.cast(ops.reshape(y, (-1,)) > 0.5, "float32")
            ones = ops.sum(positive)
            row = ops.stack([ops.cast(ops.size(positive), "float32") - ones,
                             ones])
        row = _global_sum(row)
        self.accumulator.add_slice(self.start + (0 if training else k), row)

    def read(self):
        """Returns `(train_counts, val_counts)` as float64 numpy arrays."""
        k = self.n_classes
        counts = self.accumulator.read_slice(self.start, 2 * k)
        return counts[:k], counts[k:]


def label_slots(n_classes):
    """The accumulator slots the counts of `n_classes` classes take."""
    return 2 * int(n_classes)


def _global_sum(row):
    """Sums a replica's counts over the replicas under `tf.distribute`."""
    if keras.backend.backend() != "tensorflow":
        return row
    import tensorflow as tf

    if (not tf.distribute.has_strategy()
            or tf.distribute.in_cross_replica_context()):
        return row
    context = tf.distribute.get_replica_context()
    if context.num_replicas_in_sync <= 1:
        return row
    return context.all_reduce(tf.distribute.ReduceOp.SUM, row)


def read_first_epoch(accumulator):
    """Reads the label counts at the end of the first epoch.

    Args:
        accumulator: `BatchLossAccumulator` or None.

    Returns:
        `(counts, findings)`: `counts` is a dict with the `"train"` and
        `"val"` counts per class (lists of int), or None when labels are
        not counted; `findings` holds the `split_mismatch` finding, if any.
    """
    from keras_curvewatch.engine.rules.split import split_mismatch

    counter = getattr(accumulator, "labels", None)
    if counter is None:
        return None, []
    train, val = counter.read()
    if train.sum() <= 0:
        return None, []
    findings = split_mismatch(train, val) if val.sum() > 0 else []
    return {"train": [int(round(c)) for c in train],
            "val": [int(round(c)) for c in val]}, findings
