"""`Curves`: a training history as aligned numpy arrays.

Every loader in `keras_curvewatch.io.history` returns one. This module imports
neither keras nor tensorflow.
"""

import dataclasses

import numpy as np

# Old Keras 2 names and their Keras 3 spellings, so rules see one name.
KEY_ALIASES = {
    "acc": "accuracy",
    "val_acc": "val_accuracy",
    "lr": "learning_rate",
}


def rename_aliases(values, notes=None):
    """Renames old Keras keys (`acc`, ...) whose new name is not taken.

    Args:
        values: dict of curve name to values.
        notes: list of str or None. A note saying what was renamed is
            appended here.

    Returns:
        A dict with the renamed keys (the same dict if nothing changed).
    """
    pairs = {
        old: new
        for old, new in KEY_ALIASES.items()
        if old in values and new not in values
    }
    if not pairs:
        return values
    if notes is not None:
        notes.append(
            "Renamed old Keras keys: "
            + ", ".join(f"{old} -> {new}" for old, new in pairs.items())
            + "."
        )
    return {pairs.get(k, k): v for k, v in values.items()}


@dataclasses.dataclass
class Curves:
    """Per-epoch training curves, aligned on one epoch axis.

    Args:
        values: dict of str to 1-D float64 `np.ndarray`, one per logged key
            (`"loss"`, `"val_loss"`, `"accuracy"`, ...). All have the same
            length as `epochs`; NaN marks a missing or non-finite value.
        epochs: 1-D int `np.ndarray`. The epoch label of each row, 0-based
            as in `History` and `CSVLogger` (a resumed run may start at 15).
        source: str. Where the curves came from, for messages.
        notes: list of str. What the loader had to decide, e.g. which of
            several appended runs it kept.
    """

    values: dict
    epochs: np.ndarray = None
    source: str = "<dict>"
    notes: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self.values = {
            str(k): np.asarray(v, dtype=np.float64).reshape(-1)
            for k, v in self.values.items()
        }
        n = len(next(iter(self.values.values()))) if self.values else 0
        if self.epochs is None:
            self.epochs = np.arange(n, dtype=np.int64)
        self.epochs = np.asarray(self.epochs, dtype=np.int64).reshape(-1)

    @property
    def n_epochs(self):
        """int. Number of rows."""
        return int(len(self.epochs))

    def __contains__(self, key):
        return key in self.values

    def get(self, key):
        """Returns the curve for `key`, or None."""
        return self.values.get(key)

    def keys(self):
        return list(self.values.keys())
