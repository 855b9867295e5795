"""Pre-flight lint: model and data mistakes that make curves misbehave.

`lint()` looks at a model (and optionally the `x`, `y` about to be passed
to `fit`) before training and returns findings with the same codes as
`analyze()`. The model checks are in `keras_curvewatch.preflight.model`, the
data checks in `keras_curvewatch.preflight.data`; batch size, parameters per
sample and the validation-set size come from
`keras_curvewatch.engine.rules.context`, shared with `analyze()`.
"""

import os
import warnings

import numpy as np

from keras_curvewatch.engine import arguments
from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.preflight.data import class_imbalance
from keras_curvewatch.preflight.data import class_labels
from keras_curvewatch.preflight.data import unscaled_inputs
from keras_curvewatch.preflight.data import unshuffled_data
from keras_curvewatch.preflight.data_sanity import nonfinite_inputs
from keras_curvewatch.preflight.data_sanity import single_class
from keras_curvewatch.preflight.model import model_findings
from keras_curvewatch.preflight.model_info import CROSSENTROPY_KINDS
from keras_curvewatch.preflight.model_info import describe_model
from keras_curvewatch.engine.report import Report

# Layers that already rescale or encode the inputs: raw x is expected.
_INPUT_PREPROCESSING = (
    "Rescaling", "Normalization", "Embedding", "IntegerLookup",
    "StringLookup", "CategoryEncoding", "Hashing", "TextVectorization",
    "Discretization",
)


def lint(model, x=None, y=None, *, batch_size=None, validation_split=None,
         shuffle=True, signal=False):
    """Checks a model and its training data for mistakes that show in the
    curves, before training.

    Checks `relu_before_softmax`, `logits_mismatch` and `dropout_too_high`
    on the model; `nonfinite_inputs`, `single_class`, `class_imbalance`,
    `unscaled_inputs` and `unshuffled_data` on `x` and `y`; `small_batch`, `overparameterized`
    and `small_validation_set` on the run context.

    Limits: Sequential and Functional models, nested at any depth, are read
    exactly from their graph. A built subclassed model is traced once on a
    symbolic input (best effort: layers reached through `keras.ops` calls
    are not seen). An unbuilt subclassed model, or one nested in another
    model, has no known graph: its layers are still checked one by one
    (dropout rates), but not which feeds which, nor its output activation.
    `lint_report` lists what was skipped in its `notes`. Lint never raises
    on an unusual model.

    Args:
        model: keras.Model or None. The compiled (or not) model.
        x: array-like, list or dict of arrays, or None. The inputs that
            will be passed to `fit`. Datasets and generators are not read.
        y: array-like or None. The targets that will be passed to `fit`.
        batch_size: int or None. The `batch_size` for `fit`.
        validation_split: float or None. The `validation_split` for `fit`.
        shuffle: bool. The `shuffle` for `fit`. Defaults to `True`.
        signal: bool. Also run `keras_curvewatch.signal_check(x, y)`: does
            a nearest-neighbours classifier beat chance on `x` (the model
            is not trained yet, so only `weak_signal`)? Defaults to
            `False`.

    Returns:
        list of `Finding`, most severe first.

    Raises:
        ConfigError: if an argument is invalid: `model` is not a model
            (e.g. a History), `batch_size` or `validation_split` is out of
            range, or `x` and `y` hold different numbers of samples.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(3, activation="relu"),
    ...     keras.layers.Softmax(),
    ... ])
    >>> [f.code for f in lint(model)]
    ['relu_before_softmax']
    """
    return lint_report(
        model, x, y, batch_size=batch_size,
        validation_split=validation_split, shuffle=shuffle, signal=signal,
    ).findings


def lint_report(model, x=None, y=None, *, batch_size=None,
                validation_split=None, shuffle=True, source="lint",
                signal=False):
    """Like `lint`, but returns a `Report` whose `notes` say what could not
    be inspected and whose `context` holds the run context used.

    Args:
        model, x, y, batch_size, validation_split, shuffle, signal: as for
            `lint`.
        source: str. The report's `source`. Defaults to `"lint"`.

    Returns:
        A `Report` with no curves.

    Raises:
        ConfigError: as for `lint`.
    """
    model = arguments.model(model, "lint")
    batch_size = arguments.count(batch_size, "batch_size", "lint")
    validation_split = arguments.fraction(validation_split,
                                          "validation_split", "lint")
    if not isinstance(shuffle, (bool, np.bool_)) and not (
            isinstance(shuffle, str) and shuffle == "batch"):
        raise ConfigError(
            f"lint received shuffle={arguments.short(shuffle)}; expected "
            "True or False, as for fit().")
    notes = []
    info = describe_model(model) if model is not None else None
    n_samples = _n_samples(x, notes)
    _check_lengths(x, y)
    n_train = n_val = None
    if n_samples is not None:
        n_train = n_samples
        if validation_split:
            # Keras's own split point (train_validation_split).
            n_train = int(n_samples * (1.0 - float(validation_split)))
            n_val = n_samples - n_train
    ctx = RunContext(
        batch_size=batch_size,
        n_train=n_train or None,
        n_val=n_val or None,
        n_params=info["n_params"] if info else None,
        layers=info["layers"] if info else (),
        learning_rate=info["learning_rate"] if info else None,
        optimizer=info["optimizer"] if info else None,
        validation_split=validation_split,
        known_from=_known_from(batch_size, validation_split, n_train, info),
    )
    findings = []
    if info is not None:
        notes += info["notes"]
        findings += _guarded(notes, "model", lambda: model_findings(
            model, info, notes))
    findings += _guarded(notes, "data", lambda: _data_findings(
        model, info, x, y, shuffle, validation_split, notes))

    from keras_curvewatch.engine.rules.context import context_findings

    findings += context_findings(ctx)
    if signal and x is not None and y is not None:  # issue 16
        findings += _guarded(notes, "signal", lambda: _signal(x, y, notes))
    return Report(findings=findings, context=ctx.to_dict(), notes=notes,
                  source=source)


def lint_file(path):
    """Loads a saved `.keras` model and lints it.

    Args:
        path: str or path-like. A file written by `model.save()`.

    Returns:
        A `Report`, as from `lint_report`, with `source` set to `path`.

    Raises:
        InputError: if the file does not exist.
        FormatError: if it cannot be loaded as a Keras model.
    """
    from keras_curvewatch.errors import FormatError
    from keras_curvewatch.errors import InputError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(
            f"Cannot lint {path!r}: no such file. Expected a model saved "
            "with model.save('model.keras')."
        )
    import keras

    try:
        with warnings.catch_warnings():
            # A model saved before its first fit() has no optimizer state.
            warnings.filterwarnings(
                "ignore", message="Skipping variable loading for optimizer")
            model = keras.saving.load_model(path, compile=True)
    except Exception as exc:
        raise FormatError(
            f"Cannot load {path!r} as a Keras model: {exc}. Expected a "
            "'.keras' file written by model.save(); models with custom "
            "layers need them registered with "
            "@keras.saving.register_keras_serializable()."
        ) from exc
    return lint_report(model, source=path)


def _signal(x, y, notes):
    from keras_curvewatch.preflight.signal import signal_check

    check = signal_check(x, y)
    notes.extend(check.notes)
    return check.findings


def _known_from(batch_size, validation_split, n_train, info):
    known = {}
    if batch_size is not None:
        known["batch_size"] = "argument"
    if validation_split is not None:
        known["validation_split"] = "argument"
    if n_train is not None:
        known["n_train"] = "inferred"
    if info is not None:
        for key in ("n_params", "layers", "learning_rate", "optimizer"):
            if info[key] not in (None, []):
                known[key] = "model"
    return known


def _guarded(notes, what, function):
    try:
        return function()
    except Exception as exc:  # Lint must never break on an unusual model.
        notes.append(f"The {what} checks stopped early: {exc!r}.")
        return []


def _check_lengths(x, y):
    """x and y must hold as many samples as each other, as fit requires."""
    arrays = _arrays(x) if x is not None else []
    if y is not None and hasattr(y, "shape") and np.ndim(y):
        arrays = arrays + [("y", y)]
    sizes = {name: len(array) for name, array in arrays if np.ndim(array)}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name} has {size}" for name, size in sizes.items())
        raise ConfigError(
            f"lint received arrays with different numbers of samples "
            f"({shown}); expected the same first dimension in x and y, as "
            "fit() requires.")


def _n_samples(x, notes):
    if x is None:
        return None
    arrays = _arrays(x)
    if not arrays:
        notes.append(
            f"x of type {type(x).__name__} was not read (datasets and "
            "generators are not iterated); pass arrays for the data checks."
        )
        return None
    return len(arrays[0][1])


def _arrays(x):
    """`(name, array)` pairs from an array, list or dict of arrays."""
    if isinstance(x, dict):
        items = list(x.items())
    elif isinstance(x, (list, tuple)):
        items = [(f"x[{i}]", v) for i, v in enumerate(x)]
    else:
        items = [("x", x)]
    arrays = []
    for name, value in items:
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            return []
        if not np.ndim(value):
            raise ConfigError(
                f"lint received {name}={arguments.short(value)}, a scalar; "
                "expected an array with one row per sample, as for fit().")
        arrays.append((str(name), np.asarray(value)))
    return arrays


def _to_arrays(y):
    """`[("y", array)]` for an array-like `y`, else `[]`."""
    if y is None or not hasattr(y, "shape") or not hasattr(y, "dtype"):
        return []
    if not np.ndim(y):
        raise ConfigError(
            f"lint received y={arguments.short(y)}, a scalar; expected an "
            "array with one target per sample, as for fit().")
    return [("y", np.asarray(y))]


def _data_findings(model, info, x, y, shuffle, validation_split, notes):
    findings = nonfinite_inputs(
        (_arrays(x) if x is not None else []) + _to_arrays(y))
    layer_kinds = set(info["layers"]) if info else set()
    if x is not None:
        preprocessing = sorted(layer_kinds.intersection(_INPUT_PREPROCESSING))
        if preprocessing:
            notes.append(
                "x was not checked for scale: the model has "
                f"{', '.join(preprocessing)}, which takes raw inputs."
            )
        else:
            for name, array in _arrays(x):
                findings += unscaled_inputs(array, name=name)
    if y is None:
        return findings
    losses = info["losses"] if info else []
    if losses and not any(d["kind"] in CROSSENTROPY_KINDS for d in losses):
        notes.append("y was not checked for classes: the loss is not a "
                     "cross-entropy.")
        return findings
    labels, values = class_labels(y)
    if labels is None:
        notes.append(f"y was not checked for classes: {values}.")
        return findings
    findings += single_class(labels, values)
    findings += class_imbalance(labels, values)
    findings += unshuffled_data(labels, shuffle=shuffle,
                                validation_split=validation_split)
    return findings
