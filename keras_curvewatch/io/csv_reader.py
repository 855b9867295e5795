"""Parsing `keras.callbacks.CSVLogger` files as users actually have them.

Handles `,` `;` and tab separators (sniffed from the header), `\\n`,
`\\r\\n`, `\\r\\r\\n` and bare `\\r` line endings, quoted fields, the `NA`
that CSVLogger writes for a metric it never saw, `nan`/`inf` cells,
`"[0.1, 0.2]"` cells holding per-class arrays, a missing `epoch` column, a
pandas index column, and headers repeated by concatenated files.
Imports neither keras nor tensorflow.
"""

import csv
import re

import numpy as np

from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError

# Separators CSVLogger users pick (`separator=`), in order of preference.
SEPARATORS = (",", ";", "\t")
# Cells meaning "not logged": CSVLogger writes NA for a key missing from logs.
MISSING_CELLS = frozenset({"", "na", "n/a", "none", "null"})
# Names of the epoch column: CSVLogger's `epoch`, pandas' unnamed index.
EPOCH_COLUMN_NAMES = frozenset({"epoch", "epochs"})
INDEX_COLUMN_NAMES = frozenset({"", "unnamed: 0"})
# \n, \r\n, \r\r\n (a \r\n file re-saved in text mode on Windows) and bare \r.
_LINE_BREAK = re.compile(r"\r*\n|\r+")
# Largest epoch label taken as one: no run has a billion epochs, and larger
# labels (1e20, 1e300) overflow int64 or lose integer precision in float64.
MAX_EPOCH = 10**9
# A plausible column name, to accept whitespace-separated headers.
_NAME = re.compile(r"^[A-Za-z_][\w.\-/]*$")
# 0,5 with a `;` separator: a decimal comma written by a European locale.
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+([eE][-+]?\d+)?$")
# Values logged as tensors by old TF versions: tf.Tensor(0.5, shape=()...)
# or <tf.Tensor: shape=(), dtype=float32, numpy=0.5>.
_TENSOR_REPR = re.compile(
    r"^(?:tf\.Tensor\(\s*([^,]+),|<tf\.Tensor:.*numpy=([^>]+)>$)"
)


class BadCell(ValueError):
    """A cell that is neither a number nor a missing-value marker."""


def parse_cell(cell, separator=","):
    """Converts one cell to a float, a 1-D array, or None when missing.

    Args:
        cell: str. The cell text.
        separator: str. The file's separator (a decimal comma is accepted
            when it is not `,`). Defaults to `","`.

    Returns:
        float, 1-D float64 `np.ndarray` (a `"[0.1, 0.2]"` cell) or None
        (empty, `NA`, ...). `nan`, `inf` and `-inf` give NaN and infinities.

    Raises:
        BadCell: if the cell is not numeric.
    """
    text = cell.strip().strip('"').strip()
    if text.lower() in MISSING_CELLS:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if text.startswith("[") and text.endswith("]"):
        parts = [p for p in re.split(r"[,\s]+", text[1:-1]) if p]
        try:
            return np.array([float(p) for p in parts], dtype=np.float64)
        except ValueError:
            raise BadCell(text) from None
    if separator != "," and _DECIMAL_COMMA.match(text):
        return float(text.replace(",", "."))
    match = _TENSOR_REPR.match(text)
    if match:
        try:
            return float((match.group(1) or match.group(2)).strip())
        except ValueError:
            pass
    raise BadCell(text)


def _is_number(cell):
    try:
        return parse_cell(cell) is not None
    except BadCell:
        return False


def sniff_separator(header_line, source):
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    if counts[best]:
        return best
    tokens = header_line.split()
    if tokens and all(_NAME.match(t) for t in tokens):
        return None  # one column, or columns separated by spaces
    raise FormatError(
        f"{source}: unknown format. Line 1 is {header_line[:80]!r}; expected a "
        "CSVLogger header such as 'epoch,loss,val_loss' (separated by ',', "
        "';' or tab), a JSON history, or a TensorBoard event file."
    )


def split_row(line, separator):
    """The cells of one line; `separator=None` splits on spaces."""
    if separator is None:
        return line.split()
    return next(csv.reader([line], delimiter=separator, skipinitialspace=True))


def split_lines(text):
    """Returns [(line_number, line)] of the non-blank lines, 1-based."""
    return [
        (number, line)
        for number, line in enumerate(_LINE_BREAK.split(text), start=1)
        if line.strip()
    ]


def _is_repeated_header(cells, names):
    stripped = [c.strip() for c in cells]
    if stripped == names:
        return True
    return any(c.lower() in EPOCH_COLUMN_NAMES for c in stripped) and not any(
        _is_number(c) for c in stripped
    )


def _check_header(names, line_number, source):
    names = [n.strip().lstrip("\ufeff").strip() for n in names]
    if all(_is_number(n) for n in names if n.strip()):
        raise FormatError(
            f"{source}, line {line_number}: found numbers {names[:6]} where a "
            "header naming the columns was expected (e.g. "
            "'epoch,loss,val_loss')."
        )
    seen = set()
    for name in names:
        if name and name in seen:
            raise FormatError(
                f"{source}, line {line_number}: column {name!r} appears twice "
                f"in the header {names}; expected unique column names."
            )
        seen.add(name)
    return names


def read_csvlogger(text, source):
    """Parses the text of a CSVLogger-style file into raw columns.

    Args:
        text: str. The decoded file content (a BOM is allowed).
        source: str. The file name, for messages.

    Returns:
        dict with `columns` (dict of name to list of cells: float, array or
        None), `epochs` (list of int, or None without an epoch column),
        `lines` (list of int, the line of each row) and `notes` (list of
        str).

    Raises:
        InputError: if the file has no header or no rows.
        FormatError: on unknown formats, ragged rows or non-numeric cells.
    """
    lines = split_lines(text.lstrip("\ufeff"))
    if not lines:
        raise InputError(f"{source} is empty; expected a CSVLogger file.")
    separator = sniff_separator(lines[0][1], source)
    notes = []
    header_line, names, rows = _read_rows(lines, separator, source, notes)
    if not rows:
        raise InputError(
            f"{source}: the header (line {header_line}) names columns {names} "
            "but no rows follow: no epochs were logged (was training stopped "
            "before the first epoch ended?)."
        )
    columns, epochs = _read_columns(rows, names, header_line, separator,
                                    source, notes)
    return {
        "columns": columns,
        "epochs": epochs,
        "lines": [number for number, _ in rows],
        "notes": notes,
    }


def _read_rows(lines, separator, source, notes):
    """The header and the rows after its last repetition.

    Returns:
        `(header_line, names, rows)`, rows as `[(line_number, cells)]`.
    """
    header_line, names = lines[0][0], _check_header(
        split_row(lines[0][1], separator), lines[0][0], source
    )
    rows = []
    for number, line in lines[1:]:
        cells = split_row(line, separator)
        if _is_repeated_header(cells, names):
            # A second header: another CSVLogger file was appended to this one.
            notes.append(
                f"The header repeats at line {number} (several logs "
                "concatenated); read only the rows after it, ignoring "
                f"{len(rows)} earlier rows."
            )
            header_line, names, rows = (
                number,
                _check_header(cells, number, source),
                [],
            )
            continue
        if len(cells) > len(names) and not any(
            c.strip() for c in cells[len(names) :]
        ):
            cells = cells[: len(names)]  # a trailing separator
        if len(cells) != len(names):
            raise FormatError(
                f"{source}, line {number}: found {len(cells)} fields, but the "
                f"header (line {header_line}) has {len(names)}: {names}. "
                "Expected one value per column, separated by "
                f"{separator or 'spaces'!r}."
            )
        rows.append((number, cells))
    return header_line, names, rows


def _read_columns(rows, names, header_line, separator, source, notes):
    """Parses the rows column by column.

    Returns:
        `(columns, epochs)`: dict of name to cells, and the epoch labels
        (None without an epoch column).
    """
    epoch_index = next(
        (j for j, n in enumerate(names) if n.lower() in EPOCH_COLUMN_NAMES),
        None,
    )
    if epoch_index is None and names[0].lower() in INDEX_COLUMN_NAMES:
        epoch_index = 0  # the index column of pandas' DataFrame.to_csv
    columns, epochs = {}, None
    for j, name in enumerate(names):
        cells = _column_cells(rows, j, name, separator, source,
                              text_ok=j != epoch_index)
        if cells is None:
            notes.append(
                f"Skipped the column {name!r}: it holds text such as "
                f"{rows[0][1][j].strip()[:30]!r}, not numbers.")
            continue
        if j == epoch_index:
            epochs = _epoch_labels(cells, rows, name, source)
        elif not name:
            if any(c is not None for c in cells):
                raise FormatError(
                    f"{source}, line {header_line}: column {j + 1} holds "
                    "values but has no name in the header; expected a name "
                    "such as 'loss'."
                )
        else:
            columns[name] = cells
    return columns, epochs


def _column_cells(rows, j, name, separator, source, text_ok):
    """The parsed cells of column `j`; None for a column of text only (a
    logged optimizer name, a run tag) when `text_ok`."""
    cells, bad = [], []
    for number, row in rows:
        try:
            cells.append(parse_cell(row[j], separator or ","))
        except BadCell as exc:
            bad.append((number, str(exc)))
            cells.append(None)
    if not bad:
        return cells
    filled = sum(1 for _, row in rows if row[j].strip().lower()
                 not in MISSING_CELLS)
    if text_ok and len(bad) == filled:
        return None
    number, text = bad[0]
    raise FormatError(
        f"{source}, line {number}, column {name or j + 1!r}: found "
        f"{text[:40]!r}; expected a number (or nan, inf, NA, or an empty "
        "cell)."
    )


def _epoch_labels(cells, rows, name, source):
    labels = []
    for cell, (number, _) in zip(cells, rows):
        if (
            not isinstance(cell, float)
            or not np.isfinite(cell)
            or cell != int(cell)
            or abs(cell) > MAX_EPOCH
        ):
            raise FormatError(
                f"{source}, line {number}, column {name!r}: found "
                f"{'an empty cell' if cell is None else repr(cell)}; "
                f"expected a whole epoch number of at most {MAX_EPOCH:,}."
            )
        labels.append(int(cell))
    return labels
