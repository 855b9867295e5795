"""Columns of logged values into `Curves`: the conversion every reader
shares (a dict of lists, a list of per-epoch dicts, a parsed CSV table).

Imports neither keras nor tensorflow.
"""

import collections.abc

import numpy as np

from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.engine.curves import rename_aliases
from keras_curvewatch.errors import InputError
from keras_curvewatch.io import csv_reader

# Keys that label rows instead of holding a curve.
EPOCH_KEYS = ("epoch", "epochs")
MAX_EPOCH = csv_reader.MAX_EPOCH


def short(value, limit=60):
    """`repr(value)`, cut to `limit` characters."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # e.g. an int of 5,000 digits
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def from_records(records, name):
    keys = list(dict.fromkeys(k for r in records for k in r))
    columns = {k: [r.get(k) for r in records] for k in keys}
    return from_mapping(columns, name)


def _cell(value, key, index, source):
    """Converts one logged value to a float, a 1-D array or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return csv_reader.parse_cell(value)
        except csv_reader.BadCell:
            pass
    else:
        try:
            array = np.asarray(value, dtype=np.float64)
        except OverflowError:
            raise InputError(
                f"{source}: key {key!r}, value {index}: found an integer "
                "too large for a float (over 1e308); expected a number."
            ) from None
        except (TypeError, ValueError, RecursionError):
            array = None
        if array is not None:
            if array.size <= 1:
                return float(array.reshape(-1)[0]) if array.size else None
            return array.reshape(-1)
    raise InputError(
        f"{source}: key {key!r}, value {index}: found {short(value, 40)} "
        f"({type(value).__name__}); expected a number."
    )


def _is_list(value):
    if (
        isinstance(value, (str, bytes, collections.abc.Mapping))
        or value is None
    ):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim >= 1
    return hasattr(value, "__len__") and hasattr(value, "__iter__")


def from_mapping(mapping, source, epochs=None):
    columns, skipped, lengths = {}, [], {}
    for key, value in mapping.items():
        key = str(key)
        if not _is_list(value):
            skipped.append(key)
            continue
        values = list(value)
        if key in EPOCH_KEYS and epochs is None:
            epochs = values
            continue
        lengths[key] = len(values)
        columns[key] = [_cell(v, key, i, source) for i, v in enumerate(values)]
    if not columns:
        found = {k: type(v).__name__ for k, v in list(mapping.items())[:8]}
        raise InputError(
            f"{source} has no lists of numbers (found {found or 'nothing'}); "
            "expected one list per metric with one value per epoch, like "
            "history.history: {'loss': [0.9, 0.7], 'val_loss': [1.0, 0.8]}."
        )
    reference = "loss" if "loss" in lengths else next(iter(lengths))
    for key, length in lengths.items():
        if length != lengths[reference]:
            raise InputError(
                f"{source}: key {key!r} has {length} values, {reference!r} has "
                f"{lengths[reference]}; expected one value per epoch in every "
                "list (with validation_freq > 1, pad val_* lists with NaN)."
            )
    notes = []
    if skipped:
        notes.append(f"Ignored keys that are not lists: {skipped}.")
    n = lengths[reference]
    if epochs is not None:
        epochs = _dict_epochs(epochs, n, source, notes)
    table = {
        "columns": columns,
        "epochs": epochs,
        "lines": list(range(n)),
        "notes": notes,
    }
    return from_table(table, source, unit="value")


def _dict_epochs(epochs, n, source, notes):
    try:
        labels = [float(e) for e in epochs]
    except (TypeError, ValueError, OverflowError):
        labels = None
    if (
        labels is None
        or len(labels) != n
        or not all(np.isfinite(e) and e == int(e) and abs(e) <= MAX_EPOCH
                   for e in labels)
    ):
        notes.append(
            f"Ignored the epoch labels {short(list(epochs), 40)} "
            f"(expected {n} whole numbers); numbered the rows "
            f"0-{max(n - 1, 0)}."
        )
        return None
    return [int(e) for e in labels]


def from_table(table, source, unit):
    """Turns raw columns (see `csv_reader.read_csvlogger`) into `Curves`."""
    notes = list(table["notes"])
    positions, epochs = table["lines"], table["epochs"]
    if not positions:
        raise InputError(f"{source}: no epochs (every list is empty); "
                         "expected at least one value per list.")
    values, empty = {}, []
    for name, cells in table["columns"].items():
        if all(c is None for c in cells):
            empty.append(name)
            continue
        values.update(_expand(name, cells, source, notes))
    if empty:
        notes.append(
            f"Dropped {empty}, which hold no values (CSVLogger "
            "writes NA for metrics that were never logged)."
        )
    if not values:
        raise InputError(
            f"{source}: no metric values (columns: "
            f"{list(table['columns']) or 'none besides the epoch'}, all "
            "empty); "
            "expected at least one metric such as 'loss'."
        )
    start = 0
    if epochs is not None:
        start, epochs = _last_run(epochs, positions, unit, source, notes)
    values = {k: v[start:] for k, v in values.items()}
    values = rename_aliases(values, notes)
    return Curves(values=values, epochs=epochs, source=source, notes=notes)


def _expand(name, cells, source, notes):
    """Returns {name: array}, or {name_0: ..., name_k: ...} for array cells."""
    sizes = {c.size for c in cells if isinstance(c, np.ndarray)}
    if not sizes:
        return {
            name: np.array(
                [np.nan if c is None else c for c in cells], np.float64
            )
        }
    if len(sizes) > 1:
        raise InputError(
            f"{source}: {name!r} holds arrays of different lengths "
            f"{sorted(sizes)}; expected the same number of values every epoch."
        )
    (size,) = sizes
    table = np.full((len(cells), size), np.nan)
    for row, cell in enumerate(cells):
        if cell is not None:
            table[row] = cell
    notes.append(
        f"Split the per-class column {name!r} into {name}_0..{name}_{size - 1}."
    )
    return {f"{name}_{i}": table[:, i] for i in range(size)}


def step_labels(steps, notes):
    """Whole-number steps (an exporter's `Step` column) as epoch labels;
    None, with a note, when they are not."""
    if all(isinstance(s, float) and s.is_integer() and abs(s) <= MAX_EPOCH
           for s in steps):
        return [int(s) for s in steps]
    notes.append("Ignored the step column (not whole numbers); numbered "
                 "the rows from 0.")
    return None


def restarts(labels):
    """Indices where an epoch or step counter restarts (a label not above
    the one before): where a run appended to the same log begins.

    Args:
        labels: sequence of numbers. Epoch labels or steps, in file order.

    Returns:
        list of int.
    """
    return [i for i in range(1, len(labels)) if labels[i] <= labels[i - 1]]


def _last_run(epochs, positions, unit, source, notes):
    """Returns (first kept row, epoch labels of the kept rows)."""
    n = len(epochs)
    if n >= 2 and len(set(epochs)) == 1:
        notes.append(
            f"Every row has epoch {epochs[0]} (fit(epochs=1) called in "
            f"a loop with CSVLogger(append=True)); read the {n} rows as "
            f"consecutive epochs 0-{n - 1}."
        )
        return 0, np.arange(n)
    starts = restarts(epochs)
    if not starts:
        return 0, np.array(epochs)
    start = starts[-1]
    notes.append(
        f"Found {len(starts) + 1} runs appended in one log (the "
        f"epoch counter restarts at {unit} {positions[starts[0]]}); kept the "
        f"last run: {unit}s {positions[start]}-{positions[-1]}, epochs "
        f"{epochs[start]}-{epochs[-1]} ({n - start} of {n} rows)."
    )
    return start, np.array(epochs[start:])
