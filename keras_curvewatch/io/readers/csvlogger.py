"""`keras.callbacks.CSVLogger` files, and any table of per-epoch values
with a header (pandas' `to_csv`, spreadsheets): the general reader, tried
last. Parsing is `keras_curvewatch.io.csv_reader`.
"""

from keras_curvewatch.errors import FormatError
from keras_curvewatch.io import csv_reader
from keras_curvewatch.io import tables
from keras_curvewatch.io import text

NAME = "a CSVLogger file"


def sniff(path):
    """True when the first line is a header: names separated by `,`, `;`,
    a tab or spaces."""
    head = text.head_text(path)
    if head is None:
        return False
    line = text.first_line(head.lstrip("\ufeff"))
    try:
        csv_reader.sniff_separator(line, str(path))
    except FormatError:
        return False
    return bool(line)


def read(path):
    """Reads the table; see `csv_reader.read_csvlogger`."""
    name = str(path)
    content = text.decode(text.read_bytes(path), name)
    return tables.from_table(csv_reader.read_csvlogger(content, name), name,
                             unit="line")
