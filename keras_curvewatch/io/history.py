"""Loading a training history into `Curves`.

`load_history` accepts a `keras.callbacks.History`, its `history` dict, a
JSON dump, a `CSVLogger` file or a TensorBoard log directory. It imports
neither keras nor tensorflow: a History is recognised by its attributes.
"""

import collections.abc
import json
import os

import numpy as np

from keras_curvewatch.io import csv_reader
from keras_curvewatch.io import tensorboard_reader
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.engine.curves import rename_aliases
from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError

# Bytes read to tell text from binary files; a NUL byte there means binary.
SNIFF_BYTES = 4096
# Byte-order marks of UTF-16 text, as written by PowerShell `>` redirection.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Keys that label rows instead of holding a curve.
_EPOCH_KEYS = ("epoch", "epochs")

_EXPECTED_SOURCES = (
    "a keras History, a dict of lists such as history.history, or a path to "
    "a JSON dump, a CSVLogger file or a TensorBoard log directory"
)


def load_history(source):
    """Loads a training history into aligned per-epoch curves.

    Old Keras key names (`acc`, `val_acc`, `lr`) are renamed to their
    Keras 3 spelling when that name is not also present. When a log holds
    several runs appended one after the other (the epoch counter restarts),
    the last run is kept and `Curves.notes` says so.

    Args:
        source: The history. One of: a `keras.callbacks.History` (anything
            with a `history` dict; its `epoch` list labels the rows); a
            dict of str to lists of numbers, like `history.history`; a
            list of per-epoch dicts; a path (str or `os.PathLike`) to a
            JSON file (a dict of lists, a list of per-epoch dicts, or
            `{"history": {...}}`), to a `CSVLogger` file (any extension;
            the separator and line endings are sniffed), to a TensorBoard
            log directory or to one event file; or `Curves`, returned
            unchanged.

    Returns:
        `Curves`, whose `source` is the path, `"History"`, `"dict"` or
        `"list"`.

    Raises:
        InputError: if the source is missing, empty, has no epochs, or its
            lists have different lengths.
        FormatError: if a file's format is unknown or its content does not
            parse. Messages name the file, line and column.

    Example:

    ```python
    history = model.fit(x, y, validation_split=0.2, epochs=20)
    curves = load_history(history)
    curves = load_history("training.log")  # written by CSVLogger
    curves.get("val_loss")
    ```
    """
    if isinstance(source, Curves):
        return source
    if isinstance(source, (str, os.PathLike)):
        return _load_path(source)
    if isinstance(source, collections.abc.Mapping):
        return _from_mapping(source, "dict")
    history = getattr(source, "history", None)
    if isinstance(history, collections.abc.Mapping):
        return _from_mapping(
            history, "History", epochs=getattr(source, "epoch", None)
        )
    if (
        isinstance(source, list)
        and source
        and all(isinstance(r, dict) for r in source)
    ):
        return _from_records(source, "list")
    raise InputError(
        f"Cannot read a training history from {type(source).__name__} "
        f"{_short(source)}; expected {_EXPECTED_SOURCES}."
    )


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_path(path):
    name = os.fspath(path)
    if not os.path.exists(name):
        raise InputError(
            f"{name}: no such file or directory; expected a CSVLogger file, "
            "a JSON history or a TensorBoard log directory."
        )
    if os.path.isdir(name):
        return _from_tensorboard(name)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}).") from None
    if not data.strip():
        raise InputError(
            f"{name} is empty: no epochs; expected a CSVLogger file, a JSON "
            "history or a TensorBoard event file."
        )
    if "tfevents" in os.path.basename(name) or tensorboard_reader.is_event_file(
        name
    ):
        return _from_tensorboard(name)
    text = _decode(data, name)
    if text.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
        return _load_json(text, name)
    return _from_table(csv_reader.read_csvlogger(text, name), name, unit="line")


def _decode(data, name):
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"{name}: starts with a UTF-16 byte-order mark but does not "
                f"decode as UTF-16 ({exc.reason} at byte {exc.start})."
            ) from None
    if b"\x00" in data[:SNIFF_BYTES]:
        raise FormatError(
            f"{name}: unknown format (a binary file that is not a TensorBoard "
            "event file); expected a CSVLogger file, a JSON history or a "
            "TensorBoard event file."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails; only names may look odd


def _load_json(text, name):
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        obj = _json_lines(text)
        if obj is None:
            raise FormatError(
                f"{name}, line {exc.lineno}, column {exc.colno}: not valid "
                f"JSON ({exc.msg}); expected a dict of lists as written by "
                "json.dump(history.history)."
            ) from None
    epochs = None
    if isinstance(obj, dict) and isinstance(obj.get("history"), dict):
        epochs, obj = obj.get("epoch"), obj["history"]
    if isinstance(obj, dict):
        return _from_mapping(obj, name, epochs=epochs)
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        return _from_records(obj, name)
    raise FormatError(
        f"{name}: found a JSON {type(obj).__name__}{_item_type(obj)}; "
        "expected a dict of lists (json.dump(history.history)), a list of "
        'per-epoch dicts, or {"history": {...}}.'
    )


def _item_type(obj):
    if isinstance(obj, list) and obj:
        return f" of {type(obj[0]).__name__}"
    return ""


def _json_lines(text):
    """Parses one JSON object per line (JSON Lines), or returns None."""
    try:
        records = [json.loads(line) for _, line in csv_reader.split_lines(text)]
    except json.JSONDecodeError:
        return None
    return records if all(isinstance(r, dict) for r in records) else None


def _from_records(records, name):
    keys = list(dict.fromkeys(k for r in records for k in r))
    columns = {k: [r.get(k) for r in records] for k in keys}
    return _from_mapping(columns, name)


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
        except (TypeError, ValueError):
            array = None
        if array is not None:
            if array.size <= 1:
                return float(array.reshape(-1)[0]) if array.size else None
            return array.reshape(-1)
    raise InputError(
        f"{source}: key {key!r}, value {index}: found {_short(value, 40)} "
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


def _all_floats(value, values):
    """True if `value` is a 1-D numeric array or `values` holds only Python
    floats and ints, which `_cell` would convert one by one to the same
    floats."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.dtype.kind in "fiu"
    return all(type(v) in (float, int) for v in values)


def _from_mapping(mapping, source, epochs=None):
    columns, skipped, lengths = {}, [], {}
    for key, value in mapping.items():
        key = str(key)
        if not _is_list(value):
            skipped.append(key)
            continue
        values = list(value)
        if key in _EPOCH_KEYS and epochs is None:
            epochs = values
            continue
        lengths[key] = len(values)
        if _all_floats(value, values):
            # A long history of plain numbers: no per-value checks needed.
            columns[key] = np.asarray(value, dtype=np.float64).tolist()
            continue
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
    return _from_table(table, source, unit="value")


def _dict_epochs(epochs, n, source, notes):
    try:
        labels = [float(e) for e in epochs]
    except (TypeError, ValueError):
        labels = None
    if (
        labels is None
        or len(labels) != n
        or not all(np.isfinite(e) and e == int(e) for e in labels)
    ):
        notes.append(
            f"Ignored the epoch labels {_short(list(epochs), 40)} "
            f"(expected {n} whole numbers); numbered the rows "
            f"0-{max(n - 1, 0)}."
        )
        return None
    return [int(e) for e in labels]


def _from_table(table, source, unit):
    """Turns raw columns (see `csv_reader.read_csvlogger`) into `Curves`."""
    notes = list(table["notes"])
    positions, epochs = table["lines"], table["epochs"]
    if not positions:
        raise InputError(f"{source}: no epochs (every list is empty).")
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


def _from_tensorboard(path):
    curves = tensorboard_reader.load_tensorboard(path)
    curves.values = rename_aliases(curves.values, curves.notes)
    return curves


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
    restarts = [i for i in range(1, n) if epochs[i] <= epochs[i - 1]]
    if not restarts:
        return 0, np.array(epochs)
    start = restarts[-1]
    notes.append(
        f"Found {len(restarts) + 1} runs appended in one log (the "
        f"epoch counter restarts at {unit} {positions[restarts[0]]}); kept the "
        f"last run: {unit}s {positions[start]}-{positions[-1]}, epochs "
        f"{epochs[start]}-{epochs[-1]} ({n - start} of {n} rows)."
    )
    return start, np.array(epochs[start:])
