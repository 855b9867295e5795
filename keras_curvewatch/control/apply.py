"""Reading and setting a model's learning rate live, and host snapshots for
rollback.

The optimizers are always found again through the model (`model.optimizer`
and any other optimizer attribute), never cached: the JAX trainer and a
re-`compile()` may swap them.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_curvewatch.control.schedule import ScaledSchedule
from keras_curvewatch.errors import ConfigError

_SCHEDULES = keras.optimizers.schedules


def _inner(optimizer):
    """The optimizer that owns the rate (unwraps `LossScaleOptimizer`)."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def optimizers_of(model):
    """The model's optimizers: `model.optimizer`, then any other optimizer
    attribute (e.g. a GAN's `d_optimizer`), each once.

    Args:
        model: `keras.Model`.

    Returns:
        list of `keras.optimizers.Optimizer` (outer, not unwrapped).
    """
    found = []

    def add(value):
        if isinstance(value, keras.optimizers.Optimizer) and not any(
                value is o for o in found):
            found.append(value)

    add(getattr(model, "optimizer", None))
    for value in list(vars(model).values()):
        if isinstance(value, (list, tuple)):
            for item in value:
                add(item)
        else:
            add(value)
    return found


def _kind(optimizer):
    rate = _inner(optimizer)._learning_rate
    if isinstance(rate, ScaledSchedule):
        return "scaled"
    if isinstance(rate, _SCHEDULES.LearningRateSchedule):
        return "schedule"
    if isinstance(rate, keras.Variable):
        return "variable"
    return "fixed"


def prepare(model):
    """Makes every optimizer's rate changeable live; call at train begin.

    A plain `LearningRateSchedule` is wrapped in a `ScaledSchedule` (and the
    train function rebuilt once); under JAX the multiplier is added to the
    optimizer's variables so the compiled step reads it as state.

    Args:
        model: a compiled `keras.Model`.

    Returns:
        list of multiplier variables tracked for JAX, for `release()`.

    Raises:
        ConfigError: if a rate cannot be changed live (a callable or a
            constant); the message says what to pass instead.
    """
    optimizers = optimizers_of(model)
    if not optimizers:
        raise ConfigError(
            "lr_control needs a compiled model with an optimizer; "
            "model.optimizer is None. Call model.compile(optimizer=...) "
            "first, or pass lr_control=False.")
    wrapped = False
    for optimizer in optimizers:
        inner, kind = _inner(optimizer), _kind(optimizer)
        if kind == "fixed":
            rate = inner._learning_rate
            raise ConfigError(
                f"lr_control cannot change the learning rate of "
                f"{type(inner).__name__} live: it was given "
                f"{type(rate).__name__} {rate!r}. Pass a float "
                "(e.g. learning_rate=1e-3) or a keras.optimizers.schedules."
                "LearningRateSchedule (optionally wrapped in "
                "keras_curvewatch.ScaledSchedule), or pass lr_control=False.")
        if kind == "schedule":
            inner.learning_rate = ScaledSchedule(inner._learning_rate)
            wrapped = True
    if wrapped and getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    _build_default_optimizer(model)
    tracked = []
    if keras.backend.backend() == "jax":
        for optimizer in optimizers:
            inner = _inner(optimizer)
            if _kind(inner) == "scaled":
                scale = inner._learning_rate.scale
                if not any(scale is v for v in inner.variables):
                    inner._track_variable(scale)
                    tracked.append((inner, scale))
    return tracked


def _build_default_optimizer(model):
    """Builds `model.optimizer` as its first step would, so the snapshot
    taken at train begin holds its state; only for Keras's own train step
    (a custom one may apply it to a subset of the variables)."""
    optimizer = getattr(model, "optimizer", None)
    step = getattr(type(model), "train_step", None)
    if (optimizer is None or optimizer.built or step is None
            or not step.__module__.startswith("keras.src.backend")
            or not model.trainable_variables):
        return
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None:
        with strategy.scope():
            optimizer.build(model.trainable_variables)
    else:
        optimizer.build(model.trainable_variables)


def release(tracked):
    """Removes the multipliers `prepare()` tracked, so the optimizer saves
    as the user built it."""
    for inner, scale in tracked:
        for i, variable in enumerate(inner._variables):
            if variable is scale:
                del inner._variables[i]
                break


def get_learning_rate(model):
    """The current learning rate of the model's first optimizer, as a float
    (NaN if it has none)."""
    optimizers = optimizers_of(model)
    if not optimizers:
        return math.nan
    return _rate_of(optimizers[0])


def _rate_of(optimizer):
    inner = _inner(optimizer)
    return float(np.asarray(ops.convert_to_numpy(inner.learning_rate)))


def scale_learning_rate(model, ratio, min_lr):
    """Multiplies every optimizer's rate by `ratio`; a cut (ratio < 1)
    never goes below `min_lr` and leaves a rate already under it alone.

    Args:
        model: `keras.Model`.
        ratio: float > 0. Below 1 for a cut, above 1 for a warm-up or an
            undo (the policy keeps those within its bounds).
        min_lr: float > 0.

    Returns:
        list of `(old, new)` floats, one per optimizer.
    """
    changes = []
    for optimizer in optimizers_of(model):
        inner = _inner(optimizer)
        old = _rate_of(optimizer)
        new = old * ratio
        if ratio < 1 and math.isfinite(new):
            new = max(new, min_lr) if old > min_lr else old
        if not (math.isfinite(old) and old > 0 and math.isfinite(new)
                and new > 0) or new == old:
            changes.append((old, old))
            continue
        if _kind(optimizer) == "scaled":
            scale = inner._learning_rate.scale
            current = float(ops.convert_to_numpy(scale))
            scale.assign(current * new / old)
        else:
            inner._learning_rate.assign(new)
        changes.append((old, _rate_of(optimizer)))
    return changes


def get_multipliers(model):
    """What the control changed, per optimizer, to save beside a backup:
    `["scale", s]` for a `ScaledSchedule` (its multiplier, which a
    checkpoint of the optimizer does not hold), `["rate", r]` for a rate
    variable."""
    out = []
    for optimizer in optimizers_of(model):
        inner = _inner(optimizer)
        if _kind(optimizer) == "scaled":
            scale = inner._learning_rate.scale
            out.append(["scale", float(ops.convert_to_numpy(scale))])
        else:
            out.append(["rate", _rate_of(optimizer)])
    return out


def set_multipliers(model, values):
    """Restores `get_multipliers()` output; skips entries whose kind or
    count no longer match."""
    optimizers = optimizers_of(model)
    if len(values) != len(optimizers):
        return
    for optimizer, (kind, value) in zip(optimizers, values):
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            continue
        inner = _inner(optimizer)
        scaled = _kind(optimizer) == "scaled"
        if kind == "scale" and scaled:
            inner._learning_rate.scale.assign(value)
        elif kind == "rate" and not scaled:
            inner._learning_rate.assign(value)


def take_snapshot(model):
    """Copies the weights and every optimizer's variables to the host.

    Returns:
        dict with `"weights"` and `"optimizers"` (lists of numpy arrays).
    """
    return {
        "weights": [np.array(w, copy=True) for w in model.get_weights()],
        "optimizers": [[np.array(ops.convert_to_numpy(v), copy=True)
                        for v in optimizer.variables]
                       for optimizer in optimizers_of(model)],
    }


def restore_snapshot(model, snapshot):
    """Restores `take_snapshot()` output; the learning rates are restored
    too, so set the new rate afterwards.

    Returns:
        bool. True if the optimizer state was restored as well as the
        weights (False when the optimizers changed shape since).
    """
    model.set_weights(snapshot["weights"])
    optimizers = optimizers_of(model)
    saved = snapshot["optimizers"]
    if len(saved) != len(optimizers):
        return False
    full = True
    for optimizer, values in zip(optimizers, saved):
        variables = optimizer.variables
        if len(variables) != len(values) or any(
                tuple(v.shape) != a.shape for v, a in zip(variables, values)):
            # Built after the snapshot: at least clear the NaN/inf state
            # (moments start at zero in SGD, Adam, RMSprop).
            full = False
            for variable in variables:
                value = ops.convert_to_numpy(variable)
                if not np.isfinite(value).all():
                    variable.assign(np.where(np.isfinite(value), value, 0)
                                    .astype(value.dtype))
            continue
        for variable, value in zip(variables, values):
            variable.assign(value)
    return full


def set_rates(model, rates):
    """Sets each optimizer's rate back to `rates` (as read before a
    restore), by scaling; skips any that differ in count."""
    optimizers = optimizers_of(model)
    for optimizer, rate in zip(optimizers, rates):
        inner = _inner(optimizer)
        if not (math.isfinite(rate) and rate > 0):
            continue
        if _kind(optimizer) == "scaled":
            now = _rate_of(optimizer)
            scale = inner._learning_rate.scale
            if math.isfinite(now) and now > 0:
                scale.assign(float(ops.convert_to_numpy(scale)) * rate / now)
        else:
            inner._learning_rate.assign(rate)


def rates_of(model):
    """Current rate of every optimizer, in `optimizers_of` order."""
    return [_rate_of(o) for o in optimizers_of(model)]
