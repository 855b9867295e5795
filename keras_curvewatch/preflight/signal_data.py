"""Reading the inputs and targets of `signal_check()`: flattening, class
labels or a regression target, and a class-stratified subsample.

numpy only.
"""

import numpy as np

from keras_curvewatch.errors import ConfigError
from keras_curvewatch.errors import InputError

# Fewer samples than this and a leave-one-out 5-NN error has a standard
# error above 0.15: nothing to conclude.
MIN_SAMPLES = 12
# Integer-valued float targets with at most this many distinct values are
# class labels; more are a regression target.
MAX_CLASSES = 100
# Seed of the subsample: results repeat.
SEED = 0
TASKS = ("classification", "regression")


class Targets:
    """Targets as the kNN sees them: class indices or centred floats."""

    def __init__(self, task, values, raw):
        self.task = task
        self.values = values  # class index (int) or float target
        self.raw = raw  # the label value a model predicts (classes)

    def subset(self, index):
        return Targets(self.task, self.values[index], self.raw[index])


def flatten_inputs(x):
    """`x` as a float32 `(n, features)` array (float32 halves the time of
    the projection; distances need no more precision)."""
    if isinstance(x, dict):
        parts = list(x.values())
    elif isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        parts = list(x)
    else:
        parts = [x]
    try:
        arrays = [np.asarray(p, dtype=np.float32) for p in parts]
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"signal_check needs x as numeric arrays; {exc}.") from exc
    n = {len(a) if a.ndim else 0 for a in arrays}
    if len(n) != 1 or 0 in n:
        raise InputError(
            "signal_check needs x with the samples on the first axis, the "
            f"same number in every input; found lengths {sorted(n)}.")
    flat = np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1)
    bad = int(np.size(flat) - np.isfinite(flat).sum())
    if bad:
        raise InputError(
            f"signal_check found {bad} NaN or inf values in x; it needs "
            "finite inputs (impute or drop them first).")
    return flat


def prepare_targets(y, n, task=None):
    """Reads `y` as class labels or a regression target."""
    if task is not None and task not in TASKS:
        raise ConfigError(
            f"task must be one of {TASKS} or None. Received task={task!r}.")
    y = np.asarray(y)
    if len(y) != n:
        raise InputError(
            f"signal_check got {n} samples in x but {len(y)} in y.")
    if n < MIN_SAMPLES:
        raise InputError(
            f"signal_check needs at least {MIN_SAMPLES} samples; got {n}.")
    if y.ndim == 2 and y.shape[1] > 1:
        if task == "regression" or y.dtype.kind not in "fiub" or not (
                np.allclose(y.sum(axis=1), 1.0) and y.min() >= 0):
            raise InputError(
                f"signal_check needs one target per sample; y has shape "
                f"{y.shape} and its rows are not one-hot. Expected class "
                "labels, one-hot rows or one regression value per sample.")
        y = np.argmax(y, axis=1)  # one-hot (or probability) rows
    y = y.reshape(n, -1)[:, 0] if y.ndim > 1 else y
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        raise InputError("signal_check found NaN or inf values in y.")
    if task is None:
        task = "classification" if _looks_like_labels(y) else "regression"
    if task == "regression":
        values = y.astype(np.float64)
        return Targets(task, values, values)
    raw = y.astype(np.int64) if y.dtype.kind in "fb" else y
    _, index = np.unique(raw, return_inverse=True)
    return Targets(task, index.reshape(-1), raw)


def _looks_like_labels(y):
    if y.dtype.kind in "biuUSO":
        return True
    values = y.astype(np.float64)
    return bool(np.all(values == np.round(values))
                and len(np.unique(values)) <= MAX_CLASSES)


def subsample(target, max_samples):
    """Indices of at most `max_samples` samples, classes in proportion."""
    n = len(target.values)
    if n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng(SEED)
    if target.task == "regression":
        return np.sort(rng.choice(n, size=max_samples, replace=False))
    picked = []
    classes, counts = np.unique(target.values, return_counts=True)
    quota = np.floor(counts * max_samples / n).astype(int)
    # Largest remainders fill the samples lost to rounding down.
    order = np.argsort(-(counts * max_samples / n - quota), kind="stable")
    quota[order[:max_samples - quota.sum()]] += 1
    for label, size in zip(classes, quota):
        members = np.flatnonzero(target.values == label)
        picked.append(rng.choice(members, size=size, replace=False))
    return np.sort(np.concatenate(picked))
