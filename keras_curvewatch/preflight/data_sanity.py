"""Pre-flight checks that make training meaningless from the first step:
NaN/inf in the arrays, and targets with a single class.

Pure numpy: imports neither keras nor tensorflow. Like
`keras_curvewatch.preflight.data`, each check returns a list of `Finding`.
"""

import numpy as np

from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.format import fmt
from keras_curvewatch.engine.findings import rank_causes


def nonfinite_inputs(arrays):
    """`nonfinite_inputs`: NaN or inf anywhere in the arrays.

    Every value is checked, not a sample: one NaN in one row is enough to
    turn the loss, and then the weights, into NaN.

    Args:
        arrays: list of `(name, np.ndarray)`, e.g. `[("x", x), ("y", y)]`.

    Returns:
        list of `Finding`: one, naming every array with non-finite values.
    """
    bad = {}
    for name, array in arrays:
        array = np.asarray(array)
        if array.dtype.kind not in "fc" or array.size == 0:
            continue
        count = int(array.size - np.count_nonzero(np.isfinite(array)))
        if count:
            bad[name] = (count, array.size)
    if not bad:
        return []
    where = ", ".join(f"{name} has {count} of {size}" for name, (count, size)
                      in bad.items())
    return [Finding(
        code="nonfinite_inputs",
        severity=CRITICAL,
        message=(
            f"NaN/inf in the training data ({where} values not finite): the "
            "first batch that holds one makes the loss NaN, and the weights "
            "after it."
        ),
        evidence={f"{name}_nonfinite_values": float(count)
                  for name, (count, _) in bad.items()},
        causes=rank_causes([
            (3.0, "data_quality",
             "missing values or a division by zero in preprocessing left "
             "NaN/inf in the arrays."),
        ]),
        suggestion=(
            "Find them with np.argwhere(~np.isfinite(x)), then drop those "
            "rows or impute the values (e.g. np.nan_to_num, or the column "
            "mean) before fit()."
        ),
    )]


def single_class(labels, values):
    """`single_class`: classification targets that hold one class only.

    Args:
        labels: 1-D int array, one class index per sample (from
            `class_labels`).
        values: list. The label of each class index.

    Returns:
        list of `Finding`.
    """
    labels = np.asarray(labels)
    if len(labels) < 2:
        return []
    present = np.unique(labels)
    if len(present) != 1:
        return []
    label = values[int(present[0])]
    return [Finding(
        code="single_class",
        severity=CRITICAL,
        message=(
            f"y holds a single class ({fmt(float(len(labels)))} samples, all "
            f"{label!r}): the model learns to answer it always, the loss "
            "falls to near zero and the curves look perfect, but nothing "
            "about the task is learnt."
        ),
        evidence={"n_samples": float(len(labels)), "n_classes_present": 1.0},
        causes=rank_causes([
            (3.0, "data_quality",
             "the labels were filtered, sliced or loaded wrongly (e.g. a "
             "class-sorted file cut before the second class)."),
        ]),
        suggestion=(
            "Check np.unique(y, return_counts=True) (on one-hot targets, of "
            "y.argmax(-1)) and load every class before fit()."
        ),
    )]
