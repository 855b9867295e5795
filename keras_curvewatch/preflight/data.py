"""Pre-flight checks on the training arrays: labels, scale and order.

Pure numpy: this module imports neither keras nor tensorflow. `lint()`
calls these; each returns a list of `Finding` and never raises on odd data
(it returns no finding and a note instead).
"""

import numpy as np

from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.findings import rank_causes
from keras_curvewatch.engine.format import fmt

# Statistics are taken on at most this many samples (strided): enough for
# class shares and feature moments to 1-2 %, and fast on large arrays.
MAX_SAMPLES_SCANNED = 20000
# ...and at most this many input values (16 MB as float64), so a batch of
# large images is scanned in well under a second.
MAX_VALUES_SCANNED = 2_000_000
# A label vector with more distinct values than this is a regression
# target, not classes (ImageNet, the usual largest case, has 1,000).
MAX_LABEL_CLASSES = 1000
# ...and so is one where most samples have their own value.
MAX_CLASSES_PER_SAMPLE = 0.5
# A minority class under 20 % of a binary set (ratio 4:1) is "moderate"
# imbalance in Google's ML crash course (mild 20-40 %, extreme < 1 %).
CLASS_IMBALANCE_RATIO = 4.0
# A minority class under 1 % (ratio 99:1) is "extreme" imbalance there.
EXTREME_IMBALANCE_RATIO = 99.0
# Inputs whose per-feature |mean| or standard deviation exceeds 10 are an
# order of magnitude off unit scale: with Glorot initialisation the first
# pre-activations grow in proportion, saturating tanh/sigmoid and scaling
# the first layer's gradients by the same factor.
UNSCALED_FACTOR = 10.0
# Images are expected in [-1, 1] (or [0, 1]); a little slack for
# augmentation and rounding.
IMAGE_RANGE_SLACK = 0.05
# ...unless they are standardised (per-channel mean/std, as for ImageNet
# weights): |mean| below 0.5 and std within [0.5, 2] are accepted.
STANDARDISED_MAX_MEAN = 0.5
STANDARDISED_STD_RANGE = (0.5, 2.0)
# A shuffled label vector has about n * (1 - sum p_k^2) class changes;
# fewer than a tenth of that means classes come in long blocks, so most
# batches hold a single class.
SORTED_RUNS_FRACTION = 0.1
# A validation set whose class shares differ from the training set's by a
# total variation distance above 0.5 measures a different problem (a
# random split of 100 samples gives about 0.1).
VALIDATION_SHIFT_TVD = 0.5


def _subsample(array):
    row_size = int(np.prod(array.shape[1:])) if array.ndim > 1 else 1
    limit = max(1, min(MAX_SAMPLES_SCANNED,
                       MAX_VALUES_SCANNED // max(row_size, 1)))
    if len(array) <= limit:
        return array
    step = int(np.ceil(len(array) / limit))
    return array[::step]


def class_labels(y):
    """Turns `y` into one integer class id per sample.

    Args:
        y: array-like. Integer labels, binary 0/1 labels, or one-hot (or
            label-smoothed) rows.

    Returns:
        `(labels, values)`: a 1-D int array of class indices and the label
        of each index (one-hot: one per column, so classes without a sample
        are counted; otherwise the labels seen), or `(None, reason)` when
        `y` does not look like class labels.
    """
    try:
        y = np.asarray(y)
    except Exception as exc:
        return None, f"y could not be read as an array ({exc!r})"
    if y.dtype.kind not in "biuf" or y.ndim == 0 or len(y) == 0:
        return None, f"y has dtype {y.dtype} and shape {y.shape}"
    if y.ndim > 2:
        return None, f"y has shape {y.shape}, not one label per sample"
    if y.ndim == 2 and y.shape[1] > 1:
        rows = y.sum(axis=1)
        if y.min() < 0 or not np.allclose(rows, 1.0, atol=1e-3):
            return None, "y rows do not sum to 1 (multi-label targets)"
        return np.argmax(y, axis=1).astype(int), list(range(y.shape[1]))
    y = y.reshape(len(y))
    if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
        return None, "y holds non-integer values (a regression target)"
    values, labels = np.unique(y, return_inverse=True)
    if len(values) > MAX_LABEL_CLASSES or (
        len(values) > 2 and len(values) > MAX_CLASSES_PER_SAMPLE * len(y)
    ):
        return None, f"y has {len(values)} distinct values (not classes)"
    values = [int(v) if float(v).is_integer() else float(v) for v in values]
    return labels.astype(int).reshape(len(y)), values


def class_imbalance(labels, values):
    """`class_imbalance`: the largest class against the smallest."""
    n_classes = len(values)
    counts = np.bincount(labels, minlength=n_classes)
    present = counts[counts > 0]
    absent = int(np.sum(counts == 0))
    if len(present) < 2:
        return []
    ratio = float(present.max() / present.min())
    if ratio < CLASS_IMBALANCE_RATIO and not absent:
        return []
    largest = int(np.argmax(counts))
    smallest = int(np.flatnonzero(counts == present.min())[0])
    share = present.min() / counts.sum()
    degree = "extreme" if ratio >= EXTREME_IMBALANCE_RATIO else "strong"
    message = (
        f"The classes are imbalanced ({degree}): class {values[largest]} "
        f"has {int(counts[largest])} samples, class {values[smallest]} only "
        f"{int(present.min())} (ratio {fmt(ratio)}:1)."
    )
    if absent:
        message += f" {absent} of {n_classes} classes have no sample."
    message += (
        " If you pass class_weight or sample_weight, the training loss is "
        "weighted but val_loss is not, so the two curves are not "
        "comparable."
    )
    return [
        Finding(
            code="class_imbalance",
            severity=WARNING,
            message=message,
            evidence={
                "imbalance_ratio": ratio,
                "n_classes": n_classes,
                "largest_class_count": int(counts[largest]),
                "smallest_class_count": int(present.min()),
                "smallest_class_share": float(share),
                "absent_classes": absent,
            },
            causes=rank_causes([
                (2.0, "class_imbalance",
                 f"the smallest class is {fmt(100 * share)} % of the data, "
                 "so the loss is dominated by the largest class."),
                (0.5, "data_quality",
                 "classes with few samples are learnt late and noisily."),
            ]),
            suggestion=(
                f"Pass class_weight={_class_weight_text(counts, values)} to "
                "fit() "
                "(or resample the data), track "
                "a per-class metric such as keras.metrics.AUC or recall "
                "instead of accuracy, and compare loss and val_loss only "
                "when both are weighted the same way."
            ),
        )
    ]


def _class_weight_text(counts, values):
    """The balanced `class_weight` dict, keyed by label, as code."""
    from keras_curvewatch.engine.rules.finetune import class_weights

    items = ", ".join(f"{values[k]}: {fmt(v)}"
                      for k, v in class_weights(counts).items())
    return "{" + items + "}"


def unscaled_inputs(x, name="x", image=False):
    """`unscaled_inputs`: features far from zero mean and unit scale, or
    images outside [-1, 1]."""
    x = _subsample(np.asarray(x))
    if x.dtype.kind not in "biuf" or x.ndim < 2 or x.size == 0:
        return []
    as_float = x.astype(np.float64)
    finite = as_float[np.isfinite(as_float)]
    if not finite.size:
        return []
    features = as_float.reshape(len(as_float), -1) if x.ndim == 2 else (
        as_float.reshape(-1, as_float.shape[-1]))
    with np.errstate(all="ignore"):
        means = np.nanmean(features, axis=0)
        stds = np.nanstd(features, axis=0)
    worst_mean = float(np.nanmax(np.abs(means)))
    worst_std = float(np.nanmax(stds))
    low, high = float(finite.min()), float(finite.max())
    mean, std = float(finite.mean()), float(finite.std())
    image = image or x.dtype == np.uint8 or x.ndim == 4
    evidence = {
        "max_abs_feature_mean": worst_mean,
        "max_feature_std": worst_std,
        "min": low,
        "max": high,
    }
    if image:
        verdict = _image_verdict(name, low, high, mean, std)
    else:
        verdict = _feature_verdict(name, worst_mean, worst_std)
    if verdict is None:
        return []
    return [_unscaled_finding(*verdict, evidence)]


def _image_verdict(name, low, high, mean, std):
    """`(detail, fix)` for images neither standardised nor within
    [-1, 1]; None when they are."""
    standardised = abs(mean) <= STANDARDISED_MAX_MEAN and (
        STANDARDISED_STD_RANGE[0] <= std <= STANDARDISED_STD_RANGE[1])
    limit = 1.0 + IMAGE_RANGE_SLACK
    if standardised or (low >= -limit and high <= limit):
        return None
    detail = (
        f"{name} looks like images with values in [{fmt(low)}, "
        f"{fmt(high)}], outside [-1, 1]"
    )
    fix = (
        "Add keras.layers.Rescaling(1 / 255) as the first layer (or "
        "divide the images by 255 once, as float32)."
    )
    return detail, fix


def _feature_verdict(name, worst_mean, worst_std):
    """`(detail, fix)` for features far from zero mean and unit scale;
    None when they are close."""
    if max(worst_mean, worst_std) <= UNSCALED_FACTOR:
        return None
    detail = (
        f"{name} is far from zero mean and unit scale: a feature has "
        f"|mean| {fmt(worst_mean)} and another a standard deviation of "
        f"{fmt(worst_std)}"
    )
    fix = (
        "Standardise the inputs: add a keras.layers.Normalization layer "
        "and call its adapt(x) before fit(), or scale with the training "
        "set's mean and standard deviation."
    )
    return detail, fix


def _unscaled_finding(detail, fix, evidence):
    return Finding(
        code="unscaled_inputs",
        severity=WARNING,
        message=(
            f"{detail}. Large inputs make the first layer's activations "
            "and gradients large, so the loss starts high, spikes, or "
            "learns slowly."
        ),
        series=None,
        evidence=evidence,
        causes=rank_causes([
            (2.0, "data_quality", detail + "."),
            (1.0, "learning_rate",
             "the effective step size on the first layer scales with "
             "the input scale."),
            (0.5, "initialization",
             "Keras's default initialisers assume unit-scale inputs."),
        ]),
        suggestion=fix,
    )


def unshuffled_data(labels, *, shuffle=True, validation_split=None):
    """`unshuffled_data`: class-sorted labels with `shuffle=False`, or a
    `validation_split` that takes the last, single-class samples."""
    findings = []
    n = len(labels)
    if n < 4:
        return findings
    if validation_split:
        findings += _split_shift(labels, float(validation_split))
    if shuffle:
        return findings
    shares = np.bincount(labels) / n
    expected_changes = n * (1.0 - float(np.sum(shares ** 2)))
    changes = int(np.sum(labels[1:] != labels[:-1]))
    if expected_changes < 1 or changes > SORTED_RUNS_FRACTION * (
        expected_changes
    ):
        return findings
    findings.append(
        Finding(
            code="unshuffled_data",
            severity=WARNING,
            message=(
                f"y is grouped by class ({changes} class changes in {n} "
                f"samples; about {fmt(expected_changes)} if shuffled) and "
                "fit() is told shuffle=False, so each batch holds one class: "
                "the loss saw-tooths within every epoch as the model "
                "forgets the previous class."
            ),
            evidence={
                "class_changes": changes,
                "expected_class_changes": expected_changes,
                "n_samples": n,
            },
            causes=rank_causes([
                (2.0, "data_shuffling",
                 "the training order is sorted by class and never "
                 "shuffled."),
            ]),
            suggestion=(
                "Call fit(..., shuffle=True) (the default), or shuffle once "
                "with a permutation: idx = np.random.permutation(len(x)); "
                "x, y = x[idx], y[idx]."
            ),
        )
    )
    return findings


def _split_shift(labels, validation_split):
    n = len(labels)
    # Keras's own split point (array_slicing.train_validation_split).
    split_at = int(np.floor(n * (1.0 - validation_split)))
    if split_at <= 0 or split_at >= n:
        return []
    n_classes = int(labels.max()) + 1
    train = np.bincount(labels[:split_at], minlength=n_classes) / split_at
    val = np.bincount(labels[split_at:], minlength=n_classes) / (n - split_at)
    tvd = 0.5 * float(np.abs(train - val).sum())
    n_val_classes = int(np.sum(val > 0))
    n_train_classes = int(np.sum(train > 0))
    single = n_val_classes == 1 and n_train_classes > 1
    if not single and tvd <= VALIDATION_SHIFT_TVD:
        return []
    what = (
        "holds a single class" if single
        else f"has class shares {fmt(tvd)} (total variation) away from the "
        "training set's"
    )
    return [
        Finding(
            code="unshuffled_data",
            severity=CRITICAL,
            message=(
                f"validation_split={validation_split} takes the LAST "
                f"{n - split_at} samples before any shuffling, and because "
                f"y is ordered that validation set {what}: val_loss and "
                "val_accuracy do not measure the task the model trains on."
            ),
            evidence={
                "validation_split": validation_split,
                "n_val": n - split_at,
                "val_classes": n_val_classes,
                "train_classes": n_train_classes,
                "class_share_distance": tvd,
            },
            causes=rank_causes([
                (2.0, "data_shuffling",
                 "the data is ordered and validation_split slices it "
                 "before shuffle applies."),
                (1.0, "validation_size",
                 "the validation set does not represent the classes."),
            ]),
            suggestion=(
                "Shuffle x and y together once before fit() (idx = "
                "np.random.permutation(len(x))), or pass a stratified "
                "validation_data, e.g. from sklearn's train_test_split("
                "..., stratify=y)."
            ),
        )
    ]
