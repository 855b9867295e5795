"""What a Keras model tells about a run: parameters, layers, optimizer, loss.

keras is imported inside the functions, so importing this module stays
cheap. Nothing here raises on an unusual model: what cannot be read is
left as None and explained in `notes`.
"""

import re

# Layers that only feed data in; they are not part of the architecture.
_SKIPPED_LAYERS = ("InputLayer",)

# Cross-entropy losses: the only ones where `from_logits` means something.
CROSSENTROPY_KINDS = (
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
)

# Short names Keras accepts for losses, mapped to the canonical name.
_LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "logcosh": "log_cosh",
    "bce": "binary_crossentropy",
}


def describe_model(model):
    """Describes a Keras model for curvewatch's context and lint.

    Works on Sequential, Functional and subclassed models, built or not,
    compiled or not. It never raises: what cannot be read is None and is
    explained in the `notes` entry.

    Args:
        model: keras.Model. The model to describe.

    Returns:
        A dict with:
        - `model_class`: str. The model's class name.
        - `built`: bool. Whether the model has its weights.
        - `compiled`: bool. Whether `compile()` was called.
        - `n_params`: int or None. Trainable parameters; frozen layers
          (`trainable=False`) do not count. None when the model is unbuilt.
        - `n_params_total`: int or None. All parameters.
        - `layers`: list of str. Layer class names in order, nested models
          and wrapped layers (`Bidirectional`, `TimeDistributed`) included,
          each nested model or wrapper listed before its layers.
          `InputLayer` and RNN cells are left out.
        - `optimizer`: str or None. The optimizer's class name, the inner
          one for a `LossScaleOptimizer`.
        - `optimizer_wrapper`: str or None. E.g. `"LossScaleOptimizer"`.
        - `learning_rate`: float or None. The current learning rate, or the
          initial value of a `LearningRateSchedule`.
        - `learning_rate_schedule`: str or None. The schedule's class name.
        - `loss`: str or None. A short description of the compiled loss,
          e.g. `"CategoricalCrossentropy(from_logits=True)"`.
        - `from_logits`: bool or None. For a single cross-entropy loss.
        - `losses`: list of dict. One per loss: `output` (str or None),
          `name`, `kind` (canonical snake_case name such as
          `"categorical_crossentropy"`) and `from_logits` (bool or None).
        - `metric_directions`: dict of str to str. Each compiled metric's
          name and whether lower (`"min"`) or higher (`"max"`) is better,
          as its Keras metric object says; empty before the first `fit`
          builds the compiled metrics.
        - `notes`: list of str. What could not be read, and why.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> describe_model(model)["n_params"]
    10
    """
    notes = []
    info = {
        "model_class": type(model).__name__,
        "built": bool(getattr(model, "built", False)),
        "compiled": bool(getattr(model, "compiled", False)),
        "n_params": None,
        "n_params_total": None,
        "layers": [],
        "optimizer": None,
        "optimizer_wrapper": None,
        "learning_rate": None,
        "learning_rate_schedule": None,
        "loss": None,
        "from_logits": None,
        "losses": [],
        "metric_directions": {},
        "notes": notes,
    }
    _safely(notes, "layers", lambda: info.update(layers=layer_names(model)))
    _safely(notes, "parameters", lambda: info.update(_count_params(model)))
    _safely(notes, "optimizer",
            lambda: info.update(_describe_optimizer(model)))
    _safely(notes, "loss", lambda: info.update(_describe_losses(model)))
    _safely(notes, "metrics", lambda: info.update(
        metric_directions=metric_directions(model)))
    if not info["built"]:
        notes.append(
            f"{info['model_class']} is not built, so its parameters cannot be "
            "counted; call it on data or build it with a keras.Input first."
        )
    return info


# Keras metric objects say which way is better in `_direction`.
_KERAS_DIRECTIONS = {"up": "max", "down": "min"}


def metric_directions(model):
    """Which way each compiled metric improves, from its Keras object.

    Args:
        model: keras.Model.

    Returns:
        dict of metric name to `"min"` or `"max"`; metrics that do not say
        are left out.
    """
    out = {}
    pending = list(getattr(model, "metrics", None) or [])
    while pending:
        metric = pending.pop(0)
        direction = _KERAS_DIRECTIONS.get(getattr(metric, "_direction", None))
        name = getattr(metric, "name", None)
        if direction is not None and isinstance(name, str):
            out.setdefault(name, direction)
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)) and metric not in inner:
            pending.extend(inner)
    return out


def _safely(notes, what, function):
    try:
        function()
    except Exception as exc:  # An unusual model must not break describe.
        notes.append(f"Could not read the model's {what}: {exc!r}.")


def iter_layers(model):
    """Yields every layer inside `model`, depth first, in call order.

    Nested models and wrappers come before their own layers. `model` itself
    and `InputLayer`s are not yielded; RNN cells are not yielded either.

    Args:
        model: keras.Layer. Usually a `keras.Model`.

    Yields:
        `(path, layer)` pairs, where `path` is the `/`-joined layer names
        from the outermost model, e.g. `"encoder/dense_1"`.
    """
    seen = set()

    def walk(parent, prefix):
        for child in _children(parent):
            if id(child) in seen:
                continue
            seen.add(id(child))
            name = getattr(child, "name", type(child).__name__)
            path = f"{prefix}/{name}" if prefix else name
            if type(child).__name__ not in _SKIPPED_LAYERS:
                yield path, child
            yield from walk(child, path)

    seen.add(id(model))
    yield from walk(model, "")


def _children(layer):
    """The direct sublayers of `layer`, without RNN cells."""
    children = getattr(layer, "_layers", None)
    if children is None:
        try:
            children = layer.layers
        except Exception:
            children = []
    children = list(children or [])
    cell = getattr(layer, "cell", None)
    if cell is not None:
        # The cell of an RNN layer is an implementation detail of the layer.
        children = [c for c in children if c is not cell]
    return children


def layer_names(model):
    """Returns the class names of the layers inside `model` (see
    `iter_layers`)."""
    return [type(layer).__name__ for _, layer in iter_layers(model)]


def _count(variables):
    total = 0
    seen = set()
    for variable in variables:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        size = 1
        for dim in tuple(variable.shape):
            size *= int(dim)
        total += size
    return total


def _count_params(model):
    if not getattr(model, "built", False):
        return {}
    return {
        "n_params": _count(model.trainable_weights),
        "n_params_total": _count(model.weights),
    }


def _describe_optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return {}
    result = {}
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        result["optimizer_wrapper"] = type(optimizer).__name__
        optimizer = inner
    result["optimizer"] = type(optimizer).__name__

    from keras.optimizers.schedules import LearningRateSchedule

    # The public `learning_rate` evaluates a schedule at the current step;
    # the schedule object itself is only kept in `_learning_rate`.
    raw = getattr(optimizer, "_learning_rate", None)
    if isinstance(raw, LearningRateSchedule):
        result["learning_rate_schedule"] = type(raw).__name__
        result["learning_rate"] = _schedule_initial_value(raw)
        return result
    try:
        value = optimizer.learning_rate
        if callable(value):
            value = value()
        result["learning_rate"] = _as_float(value)
    except Exception:
        pass
    return result


def _as_float(value):
    """A float32 learning rate as the user wrote it: 0.01, not 0.0099999."""
    import numpy as np

    value = np.asarray(value)
    if value.dtype == np.float32:
        # str() of a float32 is its shortest round-tripping decimal.
        return float(str(np.float32(value)))
    return float(value)


def _schedule_initial_value(schedule):
    try:
        return _as_float(schedule(0))
    except Exception:
        pass
    for attribute in ("initial_learning_rate", "initial_lr"):
        value = getattr(schedule, attribute, None)
        if value is not None:
            try:
                return float(value)
            except Exception:
                pass
    return None


def _describe_losses(model):
    loss = getattr(model, "loss", None)
    if loss is None:
        return {}
    output_names = _output_names(model)
    if isinstance(loss, dict):
        pairs = list(loss.items())
    elif isinstance(loss, (list, tuple)):
        names = output_names if len(output_names) == len(loss) else []
        pairs = [
            (names[i] if names else None, item) for i, item in enumerate(loss)
        ]
    else:
        pairs = [(None, loss)]
    losses = [
        dict(output=output, **describe_loss(item)) for output, item in pairs
        if item is not None
    ]
    if isinstance(loss, (dict, list, tuple)):
        text = ", ".join(
            (f"{d['output']}: " if d["output"] else "") + d["description"]
            for d in losses
        )
        text = "{" + text + "}" if isinstance(loss, dict) else "[" + text + "]"
    else:
        text = losses[0]["description"] if losses else None
    for d in losses:
        d.pop("description")
    single = losses[0]["from_logits"] if len(losses) == 1 else None
    return {"loss": text, "from_logits": single, "losses": losses}


def describe_loss(loss):
    """Describes one Keras loss: a string, a function or a `Loss` object.

    Args:
        loss: str, callable or keras.losses.Loss. One compiled loss.

    Returns:
        A dict with `name` (str), `kind` (canonical snake_case name, e.g.
        `"categorical_crossentropy"`), `from_logits` (bool, or None when the
        loss has no such option or it cannot be read) and `description`.
    """
    if isinstance(loss, str):
        name = loss
        from_logits = None
        config = {}
    else:
        name = getattr(loss, "__name__", None) or type(loss).__name__
        if name == "LossFunctionWrapper":
            fn = getattr(loss, "fn", None)
            name = getattr(fn, "__name__", name)
        config = {}
        get_config = getattr(loss, "get_config", None)
        if callable(get_config) and not isinstance(loss, type):
            try:
                config = dict(get_config() or {})
            except Exception:
                config = {}
        from_logits = config.get("from_logits")
    kind = _canonical(name)
    if kind in CROSSENTROPY_KINDS:
        if from_logits is None:
            # Strings and plain functions use Keras's default.
            from_logits = False
        from_logits = bool(from_logits)
        description = f"{name}(from_logits={from_logits})"
    else:
        from_logits = None
        description = name
    if isinstance(loss, str):
        description = repr(loss)
    return {
        "name": name,
        "kind": kind,
        "from_logits": from_logits,
        "description": description,
    }


def _canonical(name):
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name)).lower()
    return _LOSS_ALIASES.get(snake, snake)


def _output_names(model):
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    try:
        return [
            t._keras_history.operation.name for t in _flat(model.outputs)
        ]
    except Exception:
        return []


def _flat(structure):
    if isinstance(structure, dict):
        return [v for item in structure.values() for v in _flat(item)]
    if isinstance(structure, (list, tuple)):
        return [v for item in structure for v in _flat(item)]
    return [structure]
