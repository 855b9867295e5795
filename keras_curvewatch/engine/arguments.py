"""Argument checks shared by `analyze()`, `CurveWatch` and `lint()`.

Every public entry point checks its arguments here, before converting
them, so that a wrong value is answered with a `ConfigError` naming the
argument, the value received and what is expected, not with a bare
`ValueError`, `TypeError` or `OverflowError` from deep inside.

Imports neither keras nor tensorflow: a model is recognised by its
attributes.
"""

import collections.abc
import math
import numbers

import numpy as np

from keras_curvewatch.errors import ConfigError
from keras_curvewatch.errors import InputError

# Counts (samples, batch size, parameters) above 2**53 are no longer exact
# as float64, which every ratio the rules take goes through; no dataset or
# model comes near it (GPT-4 class models have about 2**41 parameters).
MAX_COUNT = 2 ** 53
# Logged values beyond float64's range (about 1.8e308) cannot be analysed:
# an integer this long came from a bug, not from a loss.
MAX_FLOAT = float(np.finfo(np.float64).max)
# Epoch labels above 2**53 cannot be told apart as float64 (JSON numbers);
# no run has that many epochs.
MAX_EPOCH = 2 ** 53
# Per-epoch values nested deeper than this are not arrays a metric logs;
# the loader rejects them, so they are not searched further here.
MAX_NESTING = 8


def short(value, limit=60):
    """`repr(value)` cut to `limit` characters, for messages."""
    try:
        text = repr(value)
    except Exception:  # A broken __repr__ must not hide the real error.
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _received(owner, name, value):
    return f"{owner} received {name}={short(value)} ({type(value).__name__})"


def count(value, name, owner, *, minimum=1):
    """Checks an optional whole-number count (`batch_size`, `n_train`...).

    Args:
        value: the argument. None, an int, a numpy integer, or a float
            holding a whole number (`32.0`).
        name: str. The argument's name, for the message.
        owner: str. The function or class, for the message.
        minimum: int. The smallest value allowed. Defaults to 1.

    Returns:
        The value as an `int`, or None.

    Raises:
        ConfigError: if the value is of another type, not whole, not
            finite, below `minimum` or above `MAX_COUNT`.
    """
    if value is None:
        return None
    expected = (f"expected None or a whole number from {minimum} to "
                f"{MAX_COUNT}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        raise ConfigError(f"{_received(owner, name, value)}; {expected}.")
    if isinstance(value, numbers.Integral):
        whole = int(value)
    else:
        real = float(value)
        if not math.isfinite(real) or real != int(real):
            raise ConfigError(
                f"{_received(owner, name, value)}; {expected}.")
        whole = int(real)
    if whole < minimum or whole > MAX_COUNT:
        raise ConfigError(f"{_received(owner, name, value)}; {expected}.")
    return whole


def flag(value, name, owner):
    """Checks a bool argument (`display`, `per_batch`...).

    Returns:
        The value as a `bool`.

    Raises:
        ConfigError: if it is not True or False.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(
            f"{_received(owner, name, value)}; expected True or False.")
    return bool(value)


def fraction(value, name, owner):
    """Checks an optional fraction in [0, 1) such as `validation_split`.

    Returns:
        The value as a `float`, or None.

    Raises:
        ConfigError: if it is not a real number in [0, 1).
    """
    if value is None:
        return None
    expected = "expected None or a number in [0, 1), e.g. 0.2"
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, numbers.Real):
        raise ConfigError(f"{_received(owner, name, value)}; {expected}.")
    real = float(value)
    if not (0.0 <= real < 1.0):
        raise ConfigError(f"{_received(owner, name, value)}; {expected}.")
    return real


def layer_names(value, owner="analyze"):
    """Checks `layers=`: None or a list of layer class names.

    Returns:
        A tuple of str.

    Raises:
        ConfigError: if it is a string, not a sequence, or holds anything
            but strings.
    """
    if value is None:
        return ()
    expected = "expected a list of layer class names, e.g. ['LSTM', 'Dense']"
    if isinstance(value, (str, bytes)) or not isinstance(
            value, (list, tuple)):
        raise ConfigError(f"{_received(owner, 'layers', value)}; {expected}.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(
                f"{owner} received layers[{index}]={short(item)} "
                f"({type(item).__name__}); {expected}.")
    return tuple(value)


# Item types `batch_losses` lets through without looking at each item
# (`type(True)` is bool, not int).
_PLAIN_NUMBERS = frozenset({float, int})


def batch_losses(value, owner="analyze"):
    """Checks and flattens per-batch losses.

    Args:
        value: None, a numeric numpy array (any shape; flattened in
            order), or a sequence of numbers (Python, numpy or backend
            scalars). NaN and inf are allowed: they are findings.
        owner: str. The function, for the message.

    Returns:
        A 1-D float64 array, or None.

    Raises:
        ConfigError: if it is not a sequence, is ragged, or holds a string,
            a bool or a number beyond float64's range.
    """
    if value is None:
        return None
    expected = ("expected a flat sequence of per-batch losses (numbers), "
                "e.g. [0.9, 0.85, 0.8]")
    if isinstance(value, (str, bytes, collections.abc.Mapping,
                          collections.abc.Set)) or not (
            hasattr(value, "__len__") or hasattr(value, "__array__")):
        raise ConfigError(
            f"{_received(owner, 'batch_losses', value)}; {expected}.")
    if isinstance(value, (list, tuple)) and not _PLAIN_NUMBERS.issuperset(
            map(type, value)):
        # Only when something but plain floats and ints is in it (a
        # session's own lists are all floats: one pass in C, not 20,000
        # isinstance calls at 1,000 epochs of 20 batches).
        for index, item in enumerate(value):  # numpy would make 1.0 of True.
            if isinstance(item, (bool, np.bool_, str, bytes)):
                _batch_loss(item, index, owner, expected)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # numpy: inhomogeneous shape.
        raise ConfigError(
            f"{_received(owner, 'batch_losses', value)}, which is ragged "
            f"(nested lists of different lengths); {expected}.") from None
    if array.ndim == 0:
        raise ConfigError(
            f"{_received(owner, 'batch_losses', value)}; {expected}.")
    if array.dtype.kind in "iuf":
        return array.astype(np.float64).reshape(-1)
    flat = array.reshape(-1)
    if array.ndim == 1 and isinstance(value, (list, tuple)):
        flat = value  # numpy turned [1.0, 'x'] into strings: judge the items.
    out = np.empty(len(flat), dtype=np.float64)
    for index, item in enumerate(flat):
        out[index] = _batch_loss(item, index, owner, expected)
    return out


def _batch_loss(item, index, owner, expected):
    bad = isinstance(item, (str, bytes, bool, np.bool_, np.str_, np.bytes_))
    if not bad:
        try:
            number = float(item)
        except (TypeError, ValueError, OverflowError):
            bad = True
    if bad:
        raise ConfigError(
            f"{owner} received batch_losses[{index}]={short(item)} "
            f"({type(item).__name__}); {expected}.")
    return number


def model(value, owner="analyze"):
    """Checks `model=`: None or something shaped like a `keras.Model`
    (a layer is let through: lint describes what it can of it).

    Raises:
        ConfigError: if it is a History, a string, a number, or has no
            weights to train.
    """
    if value is None:
        return None
    if isinstance(getattr(value, "history", None), collections.abc.Mapping):
        raise ConfigError(
            f"{_received(owner, 'model', value)}, a training History; "
            "expected a keras.Model (a History's model is history.model)."
        )
    if isinstance(value, (str, bytes, numbers.Number)) or not hasattr(
            value, "trainable_weights"):
        raise ConfigError(
            f"{_received(owner, 'model', value)}; expected a keras.Model "
            "(or None).")
    return value


def history_values(mapping, source):
    """Checks the values of a History-like dict before they are converted.

    Bools and sets are not losses, integers beyond float64's range and
    epoch labels beyond `MAX_EPOCH` cannot be analysed: each gives an
    `InputError` naming the key, the value and what was expected.

    Args:
        mapping: dict of str to lists, like `history.history`.
        source: str. Where it came from (`"dict"`, `"History"`).

    Raises:
        InputError: on the first bad value.
    """
    for key, values in mapping.items():
        if isinstance(values, (collections.abc.Set, bool, np.bool_)):
            raise InputError(
                f"{source}: key {short(key)} holds {short(values)} "
                f"({type(values).__name__}); expected a list with one "
                "number per epoch.")
        if isinstance(values, (str, bytes, collections.abc.Mapping)) or not (
                isinstance(values, (list, tuple))):
            continue
        epoch_key = str(key).lower() == "epoch"
        if not epoch_key and all(type(v) in _PLAIN_FLOATS for v in values):
            continue  # The usual History: floats are always in range.
        for index, item in enumerate(values):
            _history_value(item, key, index, source, epoch_key)


# Value types that need no check (what Keras and JSON give).
_PLAIN_FLOATS = frozenset({float, np.float64, np.float32})


def _history_value(item, key, index, source, epoch_key, depth=0):
    where = _Where(source, key, index)
    if isinstance(item, (list, tuple)) and depth < MAX_NESTING:
        # A per-epoch array (several outputs): check what is inside.
        for inner in item:
            _history_value(inner, key, index, source, epoch_key, depth + 1)
        return
    if isinstance(item, (bool, np.bool_, collections.abc.Set)):
        raise InputError(
            f"{where}: found {short(item)} ({type(item).__name__}); "
            "expected a number.")
    if not isinstance(item, numbers.Real):
        return  # Strings, arrays and None are the loader's to judge.
    if isinstance(item, numbers.Integral) and abs(int(item)) > MAX_FLOAT:
        raise InputError(
            f"{where}: found an integer of {len(str(abs(int(item))))} "
            "digits; expected a number within float64's range (about "
            "1.8e308).")
    if epoch_key and math.isfinite(float(item)) and abs(
            float(item)) > MAX_EPOCH:
        raise InputError(
            f"{where}: found epoch {short(item)}; expected an epoch number "
            f"from 0 to {MAX_EPOCH}.")


class _Where:
    """`"<source>: key <key>, value <index>"`, formatted only when an
    error message needs it."""

    def __init__(self, source, key, index):
        self.source, self.key, self.index = source, key, index

    def __format__(self, spec):
        return format(f"{self.source}: key {short(self.key)}, value "
                      f"{self.index}", spec)


def history_epochs(epochs, source):
    """Checks a History's `epoch` list: whole numbers up to `MAX_EPOCH`.

    Raises:
        InputError: naming the first bad label.
    """
    if epochs is None or not isinstance(epochs, (list, tuple)):
        return
    for index, item in enumerate(epochs):
        if isinstance(item, numbers.Real) and not isinstance(
                item, (bool, np.bool_)) and (
                isinstance(item, numbers.Integral) or math.isfinite(
                    float(item))) and abs(item) > MAX_EPOCH:
            raise InputError(
                f"{source}: epoch label {index} is {short(item)}; expected "
                f"an epoch number from 0 to {MAX_EPOCH}.")
