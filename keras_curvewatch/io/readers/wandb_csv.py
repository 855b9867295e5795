"""Weights & Biases CSV exports.

Two shapes are read:
- a chart's "Export CSV": `Step`, then per run `<run> - <metric>` with its
  `__MIN` and `__MAX` band columns;
- a run's history table (`run.history().to_csv()` or the Runs table):
  `_step`, `_runtime`, `_timestamp` system columns beside the metrics.

The main value columns become curves (`epoch/val_loss` -> `val_loss`); the
band columns and the system columns are dropped, and `Step`, `_step` or an
`epoch` column labels the rows.
"""

import re

from keras_curvewatch.errors import FormatError
from keras_curvewatch.io import csv_reader
from keras_curvewatch.io import tables
from keras_curvewatch.io import text

NAME = "a Weights & Biases CSV export"

# `<run> - <metric>`: how a W&B chart export names a run's column.
_RUN_COLUMN = re.compile(r"^(?P<run>.+?) - (?P<metric>.+)$")
# The min/max band W&B adds beside each smoothed or grouped line.
_BAND = re.compile(r"__(MIN|MAX)$")
# W&B's own bookkeeping columns in a run's history.
_SYSTEM_PREFIX = "_"
_STEP_COLUMNS = ("Step", "_step")
# Metric-name prefixes used by `wandb.keras.WandbMetricsLogger` and common
# `wandb.log` habits, and the Keras name they stand for.
_PREFIXES = {"epoch/": "", "train/": "", "training/": "", "val/": "val_",
             "validation/": "val_"}


def _header(path):
    head = text.head_text(path)
    if head is None:
        return None
    line = text.first_line(head.lstrip("\ufeff"))
    try:
        separator = csv_reader.sniff_separator(line, str(path))
    except FormatError:
        return None
    return [c.strip() for c in csv_reader.split_row(line, separator)]


def sniff(path):
    """True for a header with W&B's band columns, `<run> - <metric>`
    columns beside `Step`, or its `_runtime`/`_timestamp` columns."""
    names = _header(path)
    if not names:
        return False
    if any(_BAND.search(n) for n in names):
        return True
    if "Step" in names and any(_RUN_COLUMN.match(n) for n in names):
        return True
    return "_runtime" in names or "_timestamp" in names


def keras_name(metric):
    """`epoch/val_loss` -> `val_loss`, `val/accuracy` -> `val_accuracy`."""
    for prefix, replacement in _PREFIXES.items():
        if metric.startswith(prefix):
            metric = metric[len(prefix):]
            if replacement and not metric.startswith(replacement):
                metric = replacement + metric
            break
    return metric


def read(path):
    """Reads the main value columns of the first run.

    Raises:
        FormatError: if the table does not parse.
        InputError: if no metric column is left.
    """
    name = str(path)
    table = csv_reader.read_csvlogger(
        text.decode(text.read_bytes(path), name), name)
    columns, runs, notes = {}, [], list(table["notes"])
    steps = None
    for column, cells in table["columns"].items():
        if column in _STEP_COLUMNS:
            steps = cells
            continue
        if _BAND.search(column) or column.startswith(_SYSTEM_PREFIX):
            continue
        match = _RUN_COLUMN.match(column)
        metric = column
        if match:
            if match["run"] not in runs:
                runs.append(match["run"])
            if match["run"] != runs[0]:
                continue
            metric = match["metric"]
        metric = keras_name(metric)
        if metric in ("epoch", "epochs") and table["epochs"] is None:
            steps = cells
            continue
        columns.setdefault(metric, cells)
    notes.append(
        "Read as a Weights & Biases export: dropped the __MIN/__MAX band "
        "and the _runtime/_timestamp columns.")
    if len(runs) > 1:
        notes.append(f"The export holds {len(runs)} runs {runs}; read the "
                     f"first, {runs[0]!r}.")
    epochs = table["epochs"]
    if epochs is None and steps is not None:
        epochs = tables.step_labels(steps, notes)
    return tables.from_table(
        {"columns": columns, "epochs": epochs, "lines": table["lines"],
         "notes": notes}, name, unit="line")
