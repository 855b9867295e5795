"""`signal_check()`: do the inputs carry signal about the targets, and does
the model reach what a k-nearest-neighbours classifier reaches?

numpy and scipy only: a model passed in is used through its own `predict`.
The findings are built in `keras_curvewatch.preflight.signal_findings`.
"""

import math

import numpy as np
import scipy.linalg

from keras_curvewatch.errors import ConfigError
from keras_curvewatch.errors import InputError
from keras_curvewatch.preflight.signal_data import MIN_SAMPLES
from keras_curvewatch.preflight.signal_data import flatten_inputs
from keras_curvewatch.preflight.signal_data import prepare_targets
from keras_curvewatch.preflight.signal_data import subsample

# The neighbourhood sizes tried; the best one is reported. 1-NN is the
# Cover-Hart estimate, 3 and 5 smooth label noise.
KNN_KS = (1, 3, 5)
# Inputs wider than this are projected on their first principal
# components: distances in 64 dimensions keep most of the variance and
# make the neighbour search cost 5,000 x 5,000 x 64.
MAX_PCA_DIMS = 64
# Randomised PCA (Halko, Martinsson & Tropp 2011): 10 extra directions
# and one power iteration recover the leading subspace of data with a
# decaying spectrum; an exact SVD of 5,000 x 1,000 costs 10x more.
PCA_OVERSAMPLING = 10
PCA_POWER_ITERATIONS = 1
# The principal directions are fitted on at most this many rows (all rows
# are projected): 2,000 rows pin down 64 directions of 1,000 features and
# halve the cost of the projection for 5,000 samples.
PCA_FIT_ROWS = 2000
# Extra weight per rank of nearness in a vote: breaks ties toward nearer
# neighbours and, summed over 5 ranks (0.015), never outweighs one vote.
TIE_BREAK = 1e-3
# Rows of the distance matrix computed at once: 1,024 x 5,000 float32 is
# 20 MB.
CHUNK_ROWS = 1024
# Shuffles of the targets in the permutation test of weak_signal: the
# smallest p-value is 1/101, below the 0.05 level tested.
N_PERMUTATIONS = 100
# Seed of the subsample, the randomised PCA and the shuffles: results
# repeat.
SEED = 0


def signal_check(x, y, *, val_error=None, model=None, max_samples=5000,
                 n_val=None, task=None):
    """Estimates, with k-nearest neighbours, the error the inputs allow,
    and compares it with chance and with the model.

    The leave-one-out kNN error (k = 1, 3, 5) is measured on standardised,
    flattened inputs, projected on their first 64 principal components
    when wider, on a class-stratified subsample of `max_samples`. If kNN
    is within noise of the majority-class error, the inputs carry little
    signal about the labels (`weak_signal`). If the model's validation
    error is worse than kNN's beyond its standard error, the training or
    the model is the problem, not the data (`model_below_knn`).

    Limits: kNN on raw inputs is an upper bound on the best error any
    model can reach (the Bayes error), and a loose one for images, audio
    and sequences, where nearby inputs in pixel or time space need not
    share a label: `weak_signal` there means "no signal kNN can see", and
    a network may still learn. A bound on a subsample is looser still.

    Args:
        x: array of shape `(n, ...)`, or a list or dict of such arrays
            (multi-input models; their features are concatenated).
        y: array of `n` targets: class labels (ints), one-hot rows, or
            floats for regression.
        val_error: float or None. The model's validation error: 1 -
            accuracy for classification, mean squared error for
            regression. Defaults to `None`.
        model: a fitted `keras.Model` or None. Evaluated on `x`, `y` when
            `val_error` is not given; pass held-out data. Defaults to
            `None`.
        max_samples: int. Larger inputs are subsampled (in proportion to
            the classes). Defaults to `5000`.
        n_val: int or None. Samples behind `val_error`, for its standard
            error. Defaults to `None`: the samples checked here.
        task: `"classification"`, `"regression"` or None. Defaults to
            `None`: inferred from `y`.

    Returns:
        A `Report` with no curves: `findings` (`weak_signal`,
        `model_below_knn`), `context` (`knn_error`, `knn_k`,
        `majority_error`, `chance_error`, `model_error`, ...) and `notes`.

    Raises:
        ConfigError: if an argument is invalid.
        InputError: if `x` and `y` do not match, or hold NaN or inf.

    Example:

    ```python
    report = keras_curvewatch.signal_check(x_val, y_val, model=model)
    print(report)
    report.context["knn_error"]
    ```
    """
    from keras_curvewatch.preflight import signal_findings

    if isinstance(max_samples, bool) or not isinstance(
            max_samples, int) or max_samples < MIN_SAMPLES:
        raise ConfigError(
            f"max_samples must be an int >= {MIN_SAMPLES}. Received "
            f"max_samples={max_samples!r}.")
    features = flatten_inputs(x)
    target = prepare_targets(y, len(features), task)
    keep = subsample(target, max_samples)
    estimate = knn_estimate(features[keep], target.subset(keep))
    estimate["n_total"] = len(features)
    model_error = signal_findings.model_error(
        model, val_error, x, target, keep)
    return signal_findings.build_report(estimate, model_error, n_val)


def project(features):
    """Standardises the features and keeps at most `MAX_PCA_DIMS`
    principal components (float32)."""
    data = features - features.mean(axis=0)
    scale = data.std(axis=0)
    data = data[:, scale > 0] / scale[scale > 0]
    n, width = data.shape
    if width <= MAX_PCA_DIMS:
        return data
    rng = np.random.default_rng(SEED)
    fit = data
    if n > PCA_FIT_ROWS:
        fit = data[np.sort(rng.choice(n, size=PCA_FIT_ROWS, replace=False))]
    rank = min(MAX_PCA_DIMS + PCA_OVERSAMPLING, len(fit), width)
    basis = fit @ rng.standard_normal((width, rank)).astype(np.float32)
    for _ in range(PCA_POWER_ITERATIONS):
        basis = fit @ (fit.T @ _orthonormal(basis))
    small = _orthonormal(basis).T @ fit
    # The SVD of the small (rank x width) matrix through its rank x rank
    # Gram matrix: LAPACK on the wide matrix is slow when other processes
    # share the cores (threads spin), a rank x rank one is not.
    gram = small.astype(np.float64) @ small.T.astype(np.float64)
    u, s2, _ = scipy.linalg.svd(gram)
    keep = min(MAX_PCA_DIMS, int(np.sum(s2 > s2[0] * 1e-12)))
    vt = (u[:, :keep].T @ small) / np.sqrt(s2[:keep])[:, None]
    return data @ vt.astype(np.float32).T


def _orthonormal(basis):
    """An orthonormal basis of the columns of a tall matrix: Cholesky QR
    (one small factorisation), or Householder QR if it is too
    ill-conditioned for that."""
    b = basis.astype(np.float64)
    try:
        factor = scipy.linalg.cholesky(b.T @ b, lower=False)
        q = scipy.linalg.solve_triangular(factor, b.T, trans="T").T
    except np.linalg.LinAlgError:
        q = scipy.linalg.qr(b, mode="economic")[0]
    return q.astype(np.float32)


def neighbours(points, k):
    """Indices of each point's `k` nearest other points, nearest first."""
    n = len(points)
    k = min(k, n - 1)
    sq = np.einsum("ij,ij->i", points, points)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        rows = np.arange(stop - start)
        dist = sq[start:stop, None] + sq[None, :] - 2.0 * (
            points[start:stop] @ points.T)
        dist[rows, np.arange(start, stop)] = np.inf
        # k passes of argmin: about 10x faster than argpartition for
        # k <= 5, and already sorted.
        for rank in range(k):
            nearest = np.argmin(dist, axis=1)
            out[start:stop, rank] = nearest
            dist[rows, nearest] = np.inf
    return out


def knn_estimate(features, target):
    """Leave-one-out kNN errors for `KNN_KS`, the baselines, and a
    permutation test of "no better than with the labels shuffled".

    Returns:
        dict: `task`, `n_samples`, `n_features`, `n_dims`, `errors` (k to
        error: misclassification rate, or mean squared error relative to
        the variance), `knn_k`, `knn_error`, `knn_standard_error`,
        `baseline_error`, `null_error` (mean best-k error with shuffled
        labels), `p_value`; for classification `majority_error`,
        `chance_error`, `n_classes`; for regression `variance`.
    """
    points = project(features)
    near = neighbours(points, max(KNN_KS))
    out = {"task": target.task, "n_samples": len(features),
           "n_features": features.shape[1], "n_dims": points.shape[1]}
    if target.task == "classification":
        errors_of = _classification_errors
        out.update(_class_baselines(target.values))
    else:
        errors_of = _regression_errors
        variance = float(np.var(target.values))
        if variance <= 0:
            raise InputError("signal_check found a constant regression "
                             "target y: there is nothing to predict.")
        out.update({"baseline_error": 1.0, "variance": variance})
    errors, se = errors_of(near, target.values)
    best = min(KNN_KS, key=lambda k: (errors[k], k))
    out.update({"errors": errors, "knn_k": best, "knn_error": errors[best],
                "knn_standard_error": se[best]})
    out.update(_permutation_test(near, target.values, errors_of,
                                 errors[best]))
    return out


def _permutation_test(near, values, errors_of, observed):
    """Best-k error with the targets shuffled: its mean and the share of
    shuffles that do at least as well as the real targets."""
    rng = np.random.default_rng(SEED)
    null = np.empty(N_PERMUTATIONS)
    for i in range(N_PERMUTATIONS):
        null[i] = min(errors_of(near, rng.permutation(values))[0].values())
    p_value = (1.0 + np.sum(null <= observed)) / (1.0 + N_PERMUTATIONS)
    return {"null_error": float(null.mean()), "p_value": float(p_value)}


def _class_baselines(labels):
    n_classes = int(labels.max()) + 1
    share = np.bincount(labels, minlength=n_classes) / len(labels)
    majority = float(1.0 - share.max())
    return {"majority_error": majority, "baseline_error": majority,
            "chance_error": float(1.0 - np.sum(share ** 2)),
            "n_classes": n_classes}


def _classification_errors(near, labels):
    n = len(labels)
    rows = np.arange(n)
    votes = np.zeros((n, int(labels.max()) + 1), dtype=np.float32)
    errors, se = {}, {}
    for rank in range(near.shape[1]):
        # Nearer neighbours weigh a little more: ties go to their class.
        votes[rows, labels[near[:, rank]]] += 1.0 + TIE_BREAK * (
            near.shape[1] - rank)
        k = rank + 1
        if k in KNN_KS:
            error = float(np.mean(np.argmax(votes, axis=1) != labels))
            errors[k] = error
            se[k] = math.sqrt(error * (1.0 - error) / n)
    return errors, se


def _regression_errors(near, values):
    variance = float(np.var(values))
    sums = np.cumsum(values[near], axis=1)
    errors, se = {}, {}
    for k in KNN_KS:
        k_used = min(k, near.shape[1])
        squared = (values - sums[:, k_used - 1] / k_used) ** 2 / variance
        errors[k] = float(squared.mean())
        se[k] = float(squared.std() / math.sqrt(len(values)))
    return errors, se
