"""`split_mismatch`: the training and validation batches hold different
classes, from the label counts CurveWatch gathers in the first epoch.

Keras's `validation_split` takes the last samples of the arrays before any
shuffling, so class-sorted arrays leave whole classes on one side. Pure
functions over per-class counts; imports neither keras nor tensorflow.
"""

import dataclasses

import numpy as np
from scipy import stats as scipy_stats

from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import CURVE_CODES
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.rules.base import fmt

# A class absent from one side is a mismatch when its pooled share predicts
# at least this many samples there: a Poisson count with mean 10 is 0 with
# probability e**-10 = 4.5e-5, far beyond sampling.
MISSING_MIN_EXPECTED = 10.0
# The chi-square test of homogeneity on the 2 x K table must reject at
# this level: with K <= 1000 classes a random split stays above it.
SPLIT_P_VALUE = 1e-6
# ... and the class shares must differ by this total-variation distance:
# on 1e5 samples a negligible shift is "significant", so an effect floor
# keeps the finding to shifts that change val_loss (lint's split check
# uses 0.5 on whole arrays; the live counts see every sample, so 0.1).
SPLIT_MIN_TVD = 0.1
# Classes listed in the message; the evidence keeps the totals.
MAX_CLASSES_SHOWN = 10

_SPLIT_CAUSE = (
    "data_shuffling",
    "the training and validation sets hold different classes "
    "(split_mismatch): validation_split takes the last samples before "
    "shuffling, so this curve compares two different tasks.",
)


def split_mismatch(train_counts, val_counts):
    """`split_mismatch`: class shares of the two sides differ far beyond
    sampling.

    Args:
        train_counts: sequence of float. Training samples per class in the
            first epoch.
        val_counts: sequence of float. Validation samples per class.

    Returns:
        list of `Finding`: empty, or one `split_mismatch`.
    """
    train = np.asarray(train_counts, dtype=np.float64).ravel()
    val = np.asarray(val_counts, dtype=np.float64).ravel()
    n_train, n_val = float(train.sum()), float(val.sum())
    if train.shape != val.shape or n_train <= 0 or n_val <= 0:
        return []
    used = (train + val) > 0
    train, val = train[used], val[used]
    classes = np.flatnonzero(used)
    if len(classes) < 2:
        return []
    pooled = (train + val) / (n_train + n_val)
    missing_val = (val == 0) & (pooled * n_val >= MISSING_MIN_EXPECTED)
    missing_train = (train == 0) & (pooled * n_train >= MISSING_MIN_EXPECTED)
    tvd = 0.5 * float(np.abs(train / n_train - val / n_val).sum())
    _, p_value, _, _ = scipy_stats.chi2_contingency(np.stack([train, val]))
    missing = bool(missing_val.any() or missing_train.any())
    if not missing and not (p_value < SPLIT_P_VALUE and tvd >= SPLIT_MIN_TVD):
        return []
    message = _split_message(classes, train, val, tvd, missing_val,
                             missing_train)
    return [Finding(
        code="split_mismatch",
        severity=CRITICAL if missing else WARNING,
        message=message,
        series="val_loss",
        epoch=0,
        evidence={
            "class_share_distance": tvd,
            "chi2_p_value": float(p_value),
            "n_train_counted": n_train,
            "n_val_counted": n_val,
            "classes_missing_in_validation": int(missing_val.sum()),
            "classes_missing_in_training": int(missing_train.sum()),
        },
        causes=(
            ("data_shuffling",
             "the arrays are ordered (e.g. sorted by class) and "
             "validation_split slices off their end before fit shuffles."),
            ("validation_size",
             "the validation set does not represent the training classes."),
        ),
        suggestion=(
            "Shuffle x and y together once before fit (idx = "
            "np.random.permutation(len(x)); x, y = x[idx], y[idx]), or "
            "pass validation_data= drawn from the same classes, e.g. "
            "sklearn's train_test_split(x, y, stratify=y)."
        ),
    )]


def _split_message(classes, train, val, tvd, missing_val, missing_train):
    """The finding's message: the class counts of both sides and the
    classes one side lacks."""
    shown = ", ".join(
        f"class {int(c)}: {int(t)} / {int(v)}"
        for c, t, v in list(zip(classes, train, val))[:MAX_CLASSES_SHOWN])
    if len(classes) > MAX_CLASSES_SHOWN:
        shown += f", ... ({len(classes)} classes)"
    absent = [_absent(classes[mask], side) for mask, side in (
        (missing_val, "validation"), (missing_train, "training"))
        if mask.any()]
    return (
        "The training and validation batches of the first epoch hold "
        f"different classes (total variation {fmt(tvd)}"
        + (f"; {'; '.join(absent)}" if absent else "")
        + f"). Counts per class, training / validation: {shown}. "
        "Keras's validation_split takes the LAST samples of x and y, "
        "before any shuffling, so class-sorted arrays put whole classes on "
        "one side: val_loss then measures a task the model never trains on "
        "(with validation_data, the two sets hold different classes)."
    )


def _absent(classes, side):
    """'class 2 has no validation sample' or 'classes 0, 1 have no ...'."""
    ids = ", ".join(str(int(c)) for c in classes[:MAX_CLASSES_SHOWN]) + (
        ", ..." if len(classes) > MAX_CLASSES_SHOWN else "")
    if len(classes) == 1:
        return f"class {ids} has no {side} sample"
    return f"classes {ids} have no {side} sample"


def blame_split(findings, split):
    """Adds the `split_mismatch` finding and names it as the first cause
    of every curve finding.

    Args:
        findings: list of `Finding`.
        split: list of `Finding`, empty or one `split_mismatch`.

    Returns:
        list of `Finding`.
    """
    if not split:
        return list(findings)
    out = []
    for finding in findings:
        if finding.code in CURVE_CODES:
            causes = (_SPLIT_CAUSE,) + tuple(
                c for c in finding.causes if c[0] != "data_shuffling")
            finding = dataclasses.replace(finding, causes=causes)
        out.append(finding)
    codes = {f.code for f in out}
    return out + [f for f in split if f.code not in codes]
