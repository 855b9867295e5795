"""`ScaledSchedule`: a learning-rate schedule times a live multiplier, the
handle through which the control changes a schedule's rate."""

import math

import keras
from keras import ops

from keras_curvewatch.errors import ConfigError

_SCHEDULES = keras.optimizers.schedules


@keras.saving.register_keras_serializable(package="keras_curvewatch")
class ScaledSchedule(_SCHEDULES.LearningRateSchedule):
    """A `LearningRateSchedule` times a live multiplier.

    The multiplier is a non-trainable `keras.Variable`, read by the compiled
    train step at every step, so changing it takes effect without
    recompiling. `CurveWatch(lr_control=True)` wraps a schedule in it.

    Args:
        schedule: `keras.optimizers.schedules.LearningRateSchedule` (or its
            serialised dict). The schedule to scale.
        scale: float. The initial multiplier, finite and > 0. Defaults to
            `1.0`.

    Raises:
        ConfigError: if `schedule` is not a schedule or `scale` is not
            finite and positive.

    Example:

    ```python
    schedule = ScaledSchedule(keras.optimizers.schedules.ExponentialDecay(
        1e-2, decay_steps=100, decay_rate=0.9))
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    schedule.scale.assign(0.5)  # halves every rate from now on
    ```
    """

    def __init__(self, schedule, scale=1.0):
        if isinstance(schedule, dict):
            schedule = _SCHEDULES.deserialize(schedule)
        if not isinstance(schedule, _SCHEDULES.LearningRateSchedule):
            raise ConfigError(
                "ScaledSchedule expects a keras.optimizers.schedules."
                "LearningRateSchedule. Received "
                f"schedule={type(schedule).__name__}.")
        scale = float(scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ConfigError(
                f"ScaledSchedule scale must be finite and > 0. Received "
                f"scale={scale!r}.")
        self.schedule = schedule
        self.scale = keras.Variable(scale, dtype="float32", trainable=False,
                                    name="learning_rate_scale")

    def __call__(self, step):
        rate = ops.convert_to_tensor(self.schedule(step))
        return rate * ops.cast(self.scale, rate.dtype)

    def get_config(self):
        return {"schedule": _SCHEDULES.serialize(self.schedule),
                "scale": float(ops.convert_to_numpy(self.scale))}
