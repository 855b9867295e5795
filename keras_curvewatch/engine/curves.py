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
        gaps: dict of str to 1-D bool `np.ndarray`. For a curve that was
            not measured at every epoch (validation with
            `validation_freq > 1`), True marks the rows where it was not
            measured: gaps, not NaN. Defaults to none.
    """

    values: dict
    epochs: np.ndarray = None
    source: str = "<dict>"
    notes: list = dataclasses.field(default_factory=list)
    gaps: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.values = {
            str(k): np.asarray(v, dtype=np.float64).reshape(-1)
            for k, v in self.values.items()
        }
        n = len(next(iter(self.values.values()))) if self.values else 0
        if self.epochs is None:
            self.epochs = np.arange(n, dtype=np.int64)
        self.epochs = np.asarray(self.epochs, dtype=np.int64).reshape(-1)
        self.gaps = {
            str(k): np.asarray(v, dtype=bool).reshape(-1)
            for k, v in self.gaps.items()
            if str(k) in self.values and np.any(v)
        }

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

    def select(self, rows):
        """A `Curves` holding only the rows `rows` (indices or a mask),
        with their epoch labels; gaps are dropped."""
        rows = np.asarray(rows)
        return Curves(values={k: v[rows] for k, v in self.values.items()},
                      epochs=self.epochs[rows], source=self.source,
                      notes=list(self.notes))

    def without(self, names):
        """A `Curves` without the curves `names`."""
        return Curves(values={k: v for k, v in self.values.items()
                              if k not in names},
                      epochs=self.epochs, source=self.source,
                      notes=list(self.notes))


def validation_gaps(curves):
    """The rows where the validation curves were not measured.

    Explicit `curves.gaps` are kept. Otherwise NaN rows of the `val_*`
    curves are gaps when they follow `fit(validation_freq=k)`'s pattern:
    every `val_*` curve is NaN at every epoch `e` without
    `(e + 1) % k == 0` (Keras's rule) and finite on most of the others. A
    NaN where validation ran stays a NaN; a curve that turned NaN during
    training does not follow that pattern.

    Args:
        curves: `Curves`.

    Returns:
        `(gaps, k)`: dict of curve name to bool mask (True = not
        measured), empty when there are none, and the inferred
        `validation_freq` (None when the gaps were given).
    """
    if curves.gaps:
        return dict(curves.gaps), None
    names = [n for n in curves.keys() if n.startswith("val_")]
    if not names or curves.n_epochs < 2:
        return {}, None
    masks = [np.isnan(curves.get(n)) for n in names]
    if not masks[0].any() or masks[0].all():
        return {}, None
    for k in range(2, curves.n_epochs + 1):
        unmeasured = (curves.epochs + 1) % k != 0
        # Every unmeasured row is NaN in every val_* curve, and most
        # measured rows are finite: a NaN where validation did run is a
        # real NaN and stays one.
        if unmeasured.all() or not all(
                (m[unmeasured]).all()
                and (~m[~unmeasured]).sum() * 2 > (~unmeasured).sum()
                for m in masks):
            continue
        return {n: unmeasured for n in names}, k
    return {}, None


def pad_validation(mapping, epochs=None):
    """Pads the `val_*` lists of a History-like dict logged with
    `fit(validation_freq=k)`, which are shorter than the others.

    Keras validates after the epochs `e` with `(e + 1) % k == 0`, so a run
    of `n` epochs has `n // k` validation values; the smallest `k` that
    gives every short list's length is used.

    Args:
        mapping: dict of str to lists, like `history.history`.
        epochs: list of int or None. The History's epoch labels.

    Returns:
        `(mapping, gaps, k)`: the padded dict (None where validation did
        not run), the gaps as for `Curves.gaps`, and `k`; or the
        input unchanged, `{}` and None when nothing needs padding or no `k`
        fits.
    """
    lists = {k: v for k, v in mapping.items()
             if isinstance(v, (list, tuple)) and str(k) not in
             ("epoch", "epochs")}
    train = [len(v) for k, v in lists.items() if not str(k).startswith("val_")]
    short = {k: v for k, v in lists.items() if str(k).startswith("val_")}
    if not train or len(set(train)) != 1 or not short:
        return mapping, {}, None
    n = train[0]
    lengths = {len(v) for v in short.values()}
    if len(lengths) != 1 or not 0 < min(lengths) < n:
        return mapping, {}, None
    m = lengths.pop()
    labels = np.arange(n)
    if epochs is not None and len(epochs) == n:
        try:
            labels = np.asarray(epochs, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            pass
    for k in range(2, n + 1):
        measured = np.flatnonzero((labels + 1) % k == 0)
        if len(measured) != m:
            continue
        padded = dict(mapping)
        for key, values in short.items():
            column = [None] * n
            for row, value in zip(measured, values):
                column[row] = value
            padded[key] = column
        gap = np.ones(n, dtype=bool)
        gap[measured] = False
        return padded, {str(key): gap for key in short}, k
    return mapping, {}, None
