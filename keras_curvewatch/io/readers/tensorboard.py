"""TensorBoard logs: a `keras.callbacks.TensorBoard` log directory or one
`events.out.tfevents.*` file (see `keras_curvewatch.io.tensorboard_reader`).
"""

import os

from keras_curvewatch.engine.curves import rename_aliases
from keras_curvewatch.io import tensorboard_reader

NAME = "a TensorBoard log directory or event file"


def sniff(path):
    """True for a directory, or a file named or shaped like an event
    file."""
    if os.path.isdir(path):
        return True
    return ("tfevents" in os.path.basename(path)
            or tensorboard_reader.is_event_file(path))


def read(path):
    """Reads the per-epoch scalars; see `load_tensorboard`."""
    curves = tensorboard_reader.load_tensorboard(path)
    curves.values = rename_aliases(curves.values, curves.notes)
    return curves
