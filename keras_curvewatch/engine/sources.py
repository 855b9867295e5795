"""The history given to `analyze()`, loaded into `Curves`.

History-like dicts are checked before they are converted
(`keras_curvewatch.engine.arguments.history_values`), and the shorter
`val_*` lists of `fit(validation_freq=k)` are placed at the epochs where
validation ran, as gaps. Imports neither keras nor tensorflow.
"""

import collections.abc

from keras_curvewatch.engine import arguments
from keras_curvewatch.engine.curves import KEY_ALIASES
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.engine.curves import pad_validation

GAPS_NOTE = (
    "{names} measured every {freq} epochs (fit(validation_freq={freq})); "
    "the epochs in between are not measured, not NaN."
)


def load_source(source):
    """Loads `source` into `Curves`, checking History-like dicts first and
    placing the validation values of `fit(validation_freq=k)` (shorter
    `val_*` lists) at the epochs where they were measured."""
    from keras_curvewatch.io.history import load_history

    if isinstance(source, Curves):
        return source
    mapping, epochs, name = None, None, "dict"
    if isinstance(source, collections.abc.Mapping):
        mapping = source
    elif isinstance(getattr(source, "history", None),
                    collections.abc.Mapping) and not isinstance(
                        source, (str, bytes)):
        mapping, name = source.history, "History"
        epochs = getattr(source, "epoch", None)
        arguments.history_epochs(epochs, name)
    if mapping is None:
        return load_history(source)
    arguments.history_values(mapping, name)
    padded, gaps, freq = pad_validation(mapping, epochs)
    if not gaps:
        return load_history(source)
    if epochs is not None and "epoch" not in padded:
        padded = dict(padded, epoch=list(epochs))
    curves = load_history(padded)
    curves.source = name
    if curves.n_epochs == len(next(iter(gaps.values()))):
        curves.gaps = {
            (key if key in curves else KEY_ALIASES.get(key, key)): mask
            for key, mask in gaps.items()}
        curves.notes.append(GAPS_NOTE.format(names=", ".join(gaps),
                                              freq=freq))
    return curves
