"""`PackedMean`: Keras's loss tracker with its total and count in one
variable, which the tap (`keras_curvewatch.live.loss_tap.install`) puts
in the place of the model's own on JAX.

Keras's loss tracker is a `keras.metrics.Mean`: two variables, `total`
and `count`. On JAX each metric variable is one more array that every
train and test step takes and returns, and `fit` reads the tracker's
result eagerly at each epoch end and after each validation (a few eager
device operations each time) and resets it twice an epoch (one eager
array per variable). `PackedMean` computes the same loss, bit for bit,
from one variable of two slots, and its eager result on the host from one
transfer: that offsets what the tap's own variable costs the steps. In
`bench/epoch_lockstep.py --epochs 800 --modes bare,packed,tap,curvewatch`
(JAX, Dense batch 4, 6.2 ms epochs, one CPU core, 2026-12-03), median
[mean] paired differences to bare Keras: `PackedMean` alone -368 [-432]
us an epoch, the tap with it -302 [-350] us, `CurveWatch()` -192 [-106]
us; before it, the tap alone added 88-116 us.
"""

import inspect

import numpy as np

import keras
from keras import ops

# Keras's own reduction, so that the sums are those of `keras.metrics.Mean`
# to the bit; without it (a Keras that moved or changed it), no tracker is
# packed: an error in the traced update would stop `fit`.
try:
    from keras.src.metrics.reduction_metrics import (
        reduce_to_samplewise_values)
    if list(inspect.signature(reduce_to_samplewise_values).parameters) != [
            "values", "sample_weight", "reduce_fn", "dtype"]:
        reduce_to_samplewise_values = None  # pragma: no cover
except ImportError:  # pragma: no cover - depends on the Keras version
    reduce_to_samplewise_values = None

TOTAL, COUNT = 0, 1


class PackedMean(keras.metrics.Mean):
    """A `keras.metrics.Mean` of float32 values kept in one variable.

    `update_state` and the traced `result` are `Mean`'s, on the slots
    `TOTAL` and `COUNT` of the variable `state` (there are no `total` and
    `count` variables); the eager `result` (what `fit` logs at an epoch
    end) divides on the host, in float32 as the device does, from one
    transfer.

    Args:
        name: str. The metric name. Defaults to `"loss"`.
    """

    def __init__(self, name="loss"):
        # `Metric.__init__`, not `Mean.__init__`, which adds `total` and
        # `count`: an instance of `Mean` still, for code that checks.
        keras.metrics.Metric.__init__(self, name=name, dtype="float32")
        self.state = self.add_variable(
            shape=(2,), initializer="zeros", dtype="float32",
            name="total_and_count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = reduce_to_samplewise_values(
            values, sample_weight, reduce_fn=ops.mean, dtype=self.dtype)
        if sample_weight is not None:
            count = ops.sum(sample_weight)
        elif len(values.shape) >= 1:
            count = ops.shape(values)[0]
        else:
            count = 1
        self.state.assign(self.state.value + ops.stack([
            ops.sum(values), ops.cast(count, dtype=self.dtype)]))

    def reset_state(self):
        self.state.assign(ops.zeros((2,), dtype=self.dtype))

    def result(self):
        value = self.state.value
        if not _traced(value) and getattr(value, "is_fully_addressable",
                                          True):
            try:
                total, count = np.asarray(value, dtype=np.float32)
            except Exception:  # an array numpy cannot read: on the device
                pass
            else:
                if count == 0:  # `divide_no_nan`
                    return np.float32(0.0)
                with np.errstate(all="ignore"):
                    return total / count
        return ops.divide_no_nan(value[TOTAL], value[COUNT])

    def read_count(self):
        """The count, on the host (float): what `Mean.count` holds."""
        return float(np.asarray(self.state.value)[COUNT])


def _traced(value):
    import jax

    return isinstance(value, jax.core.Tracer)


def pack_loss_tracker(model):
    """Puts a `PackedMean` in the place of `model`'s loss tracker, on JAX,
    where that is Keras's own float32 `Mean`; returns whether it did.

    Args:
        model: keras.Model. A compiled model.

    Returns:
        bool. True if the tracker was replaced.
    """
    tracker = getattr(model, "_loss_tracker", None)
    if (keras.backend.backend() != "jax"
            or reduce_to_samplewise_values is None
            or type(tracker) is not keras.metrics.Mean
            or tracker.dtype != "float32"):
        return False
    # As `compile` sets it: not tracked as one of the model's own metrics.
    object.__setattr__(model, "_loss_tracker", PackedMean(name=tracker.name))
    return True
