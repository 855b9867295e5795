"""The registry of log-file readers: each format is one module here with
`NAME`, `sniff(path) -> bool` and `read(path) -> Curves`.

`read_path` asks each reader in `READERS` in turn whether it recognises
the file and reads it with the first that does; a file no reader
recognises is a `FormatError` naming the formats tried. A new format is one
module plus its entry in `READERS` (or `register_reader`). Specific formats
come before the general ones: the CSVLogger reader, last, accepts any
table with a header.
"""

import os

from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError
from keras_curvewatch.io import text
from keras_curvewatch.io.readers import csvlogger
from keras_curvewatch.io.readers import json_history
from keras_curvewatch.io.readers import tensorboard
from keras_curvewatch.io.readers import tensorboard_csv
from keras_curvewatch.io.readers import wandb_csv

READERS = [tensorboard, json_history, wandb_csv, tensorboard_csv, csvlogger]


def register_reader(reader, before=None):
    """Adds a reader: a module or object with `NAME`, `sniff` and `read`.

    Args:
        reader: the reader.
        before: a reader in `READERS` to insert it before, or None to insert
            it before the CSVLogger reader, which accepts any table.
            Defaults to `None`.

    Returns:
        `reader`.
    """
    if reader not in READERS:
        READERS.insert(READERS.index(before or csvlogger), reader)
    return reader


def unregister_reader(reader):
    """Removes a reader added by `register_reader`."""
    if reader in READERS:
        READERS.remove(reader)


def format_names():
    """list of str. The formats read, in the order they are tried."""
    return [reader.NAME for reader in READERS]


def read_path(path):
    """Reads a log file or directory with the first reader that sniffs it.

    Args:
        path: str or `os.PathLike`.

    Returns:
        `Curves`.

    Raises:
        InputError: if the path is missing or empty.
        FormatError: if no reader recognises it, or its content does not
            parse; the message names the file and the formats tried.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise InputError(
            f"{name}: no such file or directory; expected "
            f"{_expected()}.")
    if os.path.isfile(name):
        try:
            size = os.path.getsize(name)
            head = text.read_bytes(name, text.SNIFF_BYTES)
        except OSError as exc:
            raise InputError(
                f"{name}: cannot be read ({exc.strerror}).") from None
        if size <= text.SNIFF_BYTES and not head.strip():
            raise InputError(f"{name} is empty: no epochs; expected "
                             f"{_expected()}.")
    for reader in READERS:
        if reader.sniff(name):
            return reader.read(name)
    data = text.read_bytes(name)
    if text.sniff_encoding(data) is None:
        found = "a binary file"
    else:  # raises for UTF-16/32 text that does not decode
        found = f"line 1 is {text.first_line(text.decode(data, name))[:80]!r}"
    raise FormatError(
        f"{name}: unknown format ({found}); tried: "
        f"{', '.join(format_names())}.")


def _expected():
    names = format_names()
    return ", ".join(names[:-1]) + " or " + names[-1]
