"""Loading a training history into `Curves`.

`load_history` accepts a `keras.callbacks.History`, its `history` dict, a
JSON dump, a `CSVLogger` file or a TensorBoard log directory. It imports
neither keras nor tensorflow: a History is recognised by its attributes.
"""

import collections.abc
import os

from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import InputError
from keras_curvewatch.io import tables
from keras_curvewatch.io.readers import read_path

_EXPECTED_SOURCES = (
    "a keras History, a dict of lists such as history.history, or a path to "
    "a JSON dump, a CSVLogger file, a TensorBoard log directory or a "
    "Weights & Biases or TensorBoard CSV export"
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
        return read_path(source)
    if isinstance(source, collections.abc.Mapping):
        return tables.from_mapping(source, "dict")
    history = getattr(source, "history", None)
    if isinstance(history, collections.abc.Mapping):
        return tables.from_mapping(
            history, "History", epochs=getattr(source, "epoch", None)
        )
    if (
        isinstance(source, list)
        and source
        and all(isinstance(r, dict) for r in source)
    ):
        return tables.from_records(source, "list")
    raise InputError(
        f"Cannot read a training history from {type(source).__name__} "
        f"{tables.short(source)}; expected {_EXPECTED_SOURCES}."
    )


