"""TensorBoard's own CSV download (the "Show data download links" option):
`Wall time,Step,Value`, one series per file.

TensorBoard names the download `run-<run>-tag-<tag>.csv`, e.g.
`run-validation-tag-epoch_loss.csv`; the curve name is taken from it
(`val_loss`), from a plain file name that is a curve name
(`val_loss.csv`), or else is `loss`, with a note.
"""

import os
import re

from keras_curvewatch.io import csv_reader
from keras_curvewatch.io import tables
from keras_curvewatch.io import text

NAME = "a TensorBoard CSV download (Wall time,Step,Value)"

_HEADER = ["wall time", "step", "value"]
# TensorBoard's download name; `/` in run and tag names becomes `_`.
_DOWNLOAD_NAME = re.compile(r"^run[-_](?P<run>.*?)[-_]tag[-_](?P<tag>.+)$")
# keras.callbacks.TensorBoard's epoch tags and validation run folder.
_EPOCH_TAG_PREFIX = "epoch_"
_VALIDATION_RUN = "validation"
# A plain file stem taken as the curve's name.
_CURVE_NAME = re.compile(r"^(val_)?[A-Za-z][\w]*$")


def sniff(path):
    """True when the header is `Wall time,Step,Value`."""
    head = text.head_text(path)
    if head is None:
        return False
    line = text.first_line(head.lstrip("\ufeff"))
    cells = [c.strip().strip('"').lower() for c in line.split(",")]
    return cells == _HEADER


def curve_name(path, notes):
    """The curve a download holds, from its file name."""
    stem = os.path.splitext(os.path.basename(path))[0]
    match = _DOWNLOAD_NAME.match(stem)
    if match:
        tag = match["tag"]
        if tag.startswith(_EPOCH_TAG_PREFIX):
            tag = tag[len(_EPOCH_TAG_PREFIX):]
        run = match["run"].replace("-", "_").split("_")
        prefix = "val_" if _VALIDATION_RUN in run else ""
        return tag if tag.startswith(prefix) else prefix + tag
    if _CURVE_NAME.match(stem):
        return stem
    notes.append(
        f"A TensorBoard CSV holds one unnamed series; read it as 'loss' (name "
        "the file after its curve, e.g. val_loss.csv, or keep TensorBoard's "
        "run-<run>-tag-<tag>.csv name).")
    return "loss"


def read(path):
    """Reads the series; `Step` labels the epochs."""
    name = str(path)
    table = csv_reader.read_csvlogger(
        text.decode(text.read_bytes(path), name), name)
    by_lower = {k.strip().lower(): v for k, v in table["columns"].items()}
    notes = list(table["notes"])
    key = curve_name(path, notes)
    epochs = tables.step_labels(by_lower["step"], notes)
    return tables.from_table(
        {"columns": {key: by_lower["value"]}, "epochs": epochs,
         "lines": table["lines"], "notes": notes}, name, unit="line")
