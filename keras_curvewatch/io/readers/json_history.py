"""JSON histories: `json.dump(history.history)` (a dict of lists), a list
of per-epoch dicts, `{"history": {...}, "epoch": [...]}`, or JSON Lines.
"""

import json

from keras_curvewatch.errors import FormatError
from keras_curvewatch.io import csv_reader
from keras_curvewatch.io import tables
from keras_curvewatch.io import text

NAME = "a JSON history"

# JSON documents besides objects and arrays: a file holding `null` or
# `true` gets a JSON error rather than being read as a CSV header.
_JSON_SCALARS = ("null", "true", "false")


def sniff(path):
    """True when the file's text starts like a JSON document."""
    head = text.head_text(path)
    if head is None:
        return False
    words = head.split(None, 1)
    first = words[0] if words else ""
    return first[:1] in ("{", "[") or first in _JSON_SCALARS


def read(path):
    """Reads the history; messages name the line and column of bad JSON.

    Raises:
        FormatError: if the JSON does not parse or holds no history.
    """
    name = str(path)
    content = text.decode(text.read_bytes(path), name)
    try:
        obj = json.loads(content)
    except json.JSONDecodeError as exc:
        obj = _json_lines(content)
        if obj is None:
            raise FormatError(
                f"{name}, line {exc.lineno}, column {exc.colno}: not valid "
                f"JSON ({exc.msg}); expected a dict of lists as written by "
                "json.dump(history.history)."
            ) from None
    except RecursionError:
        raise FormatError(
            f"{name}: JSON nested too deeply to be a history; expected a "
            "dict of lists as written by json.dump(history.history)."
        ) from None
    except ValueError as exc:  # e.g. an integer of over 4,300 digits
        raise FormatError(f"{name}: not a readable JSON history ({exc}).") \
            from None
    epochs = None
    if isinstance(obj, dict) and isinstance(obj.get("history"), dict):
        epochs, obj = obj.get("epoch"), obj["history"]
    if isinstance(obj, dict):
        return tables.from_mapping(obj, name, epochs=epochs)
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        return tables.from_records(obj, name)
    raise FormatError(
        f"{name}: found {_kind(obj)}; expected a dict of lists "
        "(json.dump(history.history)), a list of per-epoch dicts, or "
        '{"history": {...}}.'
    )


def _kind(obj):
    if obj is None:
        return "JSON null"
    if isinstance(obj, list) and obj:
        return f"a JSON list of {type(obj[0]).__name__}"
    return f"a JSON {type(obj).__name__}"


def _json_lines(content):
    """Parses one JSON object per line (JSON Lines), or returns None."""
    try:
        records = [json.loads(line)
                   for _, line in csv_reader.split_lines(content)]
    except (json.JSONDecodeError, RecursionError):
        return None
    except ValueError:
        return None
    return records if all(isinstance(r, dict) for r in records) else None
