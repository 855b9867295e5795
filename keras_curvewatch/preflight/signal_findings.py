"""The findings of `signal_check()`: `weak_signal` and `model_below_knn`,
the model's error they compare with, and the hook the live callback calls.

numpy only: a model is used through its own `predict`.
"""

import math

import numpy as np

from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import sort_findings
from keras_curvewatch.engine.report import Report
from keras_curvewatch.errors import ConfigError

# weak_signal: kNN's best error (over k = 1, 3, 5) is not lower than with
# the targets shuffled, at the 5 % level of a permutation test. A shuffle
# keeps the class shares and the neighbours, so the test needs no
# binomial formula (kNN errors of neighbouring samples are correlated)
# and accounts for picking the best k.
WEAK_SIGNAL_ALPHA = 0.05
# model_below_knn: the model's error exceeds kNN's by more than one
# standard error of the difference (info), or two (warning: an equal
# model passes two standard errors only 2.3 % of the time).
MODEL_BELOW_KNN_Z = 1.0
MODEL_BELOW_KNN_WARNING_Z = 2.0
# Batch size for the model's predictions on the checked samples.
PREDICT_BATCH_SIZE = 256
# Validation-accuracy keys the live check reads, Keras 3 names first.
VAL_ACCURACY_KEYS = ("val_accuracy", "val_sparse_categorical_accuracy",
                     "val_categorical_accuracy", "val_binary_accuracy",
                     "val_acc")
VAL_MSE_KEYS = ("val_mse", "val_mean_squared_error")

LIMITS_NOTE = (
    "kNN on the raw inputs is an upper bound on the best reachable error "
    "(the Bayes error), loose for images, audio and sequences, where "
    "nearby inputs need not share a label."
)


def model_error(model, val_error, x, target, keep):
    """The model's error as a dict (`error`, relative to the variance for
    regression; `raw`; `n`; `source`), or None."""
    if val_error is not None:
        value = float(val_error)
        if not math.isfinite(value) or value < 0 or (
                target.task == "classification" and value > 1):
            raise ConfigError(
                "val_error must be a finite error (1 - accuracy, in [0, 1], "
                "for classification; a mean squared error for regression). "
                f"Received val_error={val_error!r}.")
        return {"raw": value, "n": None, "source": "val_error"}
    if model is None:
        return None
    xs = _subset(x, keep)
    pred = np.asarray(model.predict(xs, verbose=0,
                                    batch_size=PREDICT_BATCH_SIZE))
    n = len(keep)
    truth = target.raw[keep]
    if target.task == "regression":
        residual = pred.reshape(n, -1)[:, 0] - truth
        return {"raw": float(np.mean(residual ** 2)), "n": n,
                "source": "model", "squared": residual ** 2}
    if truth.dtype.kind not in "iu":
        return None  # string labels: the model's outputs cannot be matched
    pred = pred.reshape(n, -1)
    if pred.shape[1] == 1:
        threshold = 0.5 if pred.min() >= 0 and pred.max() <= 1 else 0.0
        labels = (pred[:, 0] > threshold).astype(np.int64)
    else:
        labels = np.argmax(pred, axis=1)
    return {"raw": float(np.mean(labels != truth)), "n": n,
            "source": "model"}


def _subset(x, keep):
    if isinstance(x, dict):
        return {k: np.asarray(v)[keep] for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        return [np.asarray(v)[keep] for v in x]
    return np.asarray(x)[keep]


def build_report(estimate, model, n_val):
    """The `Report` of a signal check."""
    context = {k: v for k, v in estimate.items() if k != "errors"}
    for k, error in estimate["errors"].items():
        context[f"knn_error_k{k}"] = error
    findings = []
    weak = weak_signal(estimate)
    if weak is not None:
        findings.append(weak)
    if model is not None:
        _model_standard_error(model, estimate, n_val)
        context["model_error"] = model["error"]
        context["model_error_from"] = model["source"]
        below = model_below_knn(estimate, model)
        if below is not None:
            findings.append(below)
    return Report(findings=sort_findings(findings), context=context,
                  notes=[summary(estimate), LIMITS_NOTE],
                  source="signal_check")


def _model_standard_error(model, estimate, n_val):
    # A model evaluated here was evaluated on the samples checked.
    n = int(model["n"] or n_val or estimate["n_samples"])
    if estimate["task"] == "classification":
        error = model["raw"]
        model["se"] = math.sqrt(error * (1 - error) / n)
    else:
        error = model["raw"] / estimate["variance"]
        if "squared" in model:
            spread = np.std(model.pop("squared")) / estimate["variance"]
        else:
            # Gaussian residuals: the mean of n squares has sd e*sqrt(2/n).
            spread = error * math.sqrt(2.0)
        model["se"] = float(spread / math.sqrt(n))
    model["error"] = float(error)


def weak_signal(estimate):
    """`weak_signal` when kNN does no better than with the targets
    shuffled (permutation p-value above `WEAK_SIGNAL_ALPHA`), else None."""
    n = estimate["n_samples"]
    base, knn = estimate["baseline_error"], estimate["knn_error"]
    if estimate["p_value"] <= WEAK_SIGNAL_ALPHA:
        return None
    k, null, p = estimate["knn_k"], estimate["null_error"], estimate[
        "p_value"]
    if estimate["task"] == "classification":
        message = (
            f"A {k}-nearest-neighbours classifier on the inputs errs on "
            f"{knn:.1%} of the samples, no better than with the labels "
            f"shuffled ({null:.1%}, permutation p = {p:.2g}; the majority "
            f"class errs on {base:.1%}): the inputs carry little signal "
            "about the labels that kNN can see.")
    else:
        message = (
            f"A {k}-nearest-neighbours regressor on the inputs leaves "
            f"{knn:.0%} of the target's variance unexplained, no better "
            f"than with the target shuffled ({null:.0%}, permutation p = "
            f"{p:.2g}): the inputs carry little signal about the target "
            "that kNN can see.")
    causes = [
        ("data_shuffling", "x and y were shuffled, split or sorted "
         "separately, so labels no longer belong to their inputs."),
        ("data_quality", "the targets are noise, or the inputs are not "
         "the features that predict them (a wrong column, a "
         "preprocessing bug)."),
    ]
    if estimate["task"] == "classification" and base < 0.5 * (
            1 - 1 / max(estimate["n_classes"], 1)):
        causes.append(("class_imbalance", "one class dominates, so the "
                       "majority guess is already hard to beat."))
    return Finding(
        code="weak_signal", severity="warning", message=message,
        evidence={"knn_error": knn, "knn_k": k, "shuffled_error": null,
                  "p_value": p, "baseline_error": base, "n_samples": n,
                  "n_dims": estimate["n_dims"]},
        causes=causes,
        suggestion="Print a few (x, y) pairs to check they still belong "
        "together. For images or sequences kNN on raw values is a weak "
        "test: repeat it on features from a pretrained network.")


def model_below_knn(estimate, model):
    """`model_below_knn` when the model's error exceeds kNN's by more than
    the standard error of the difference, else None."""
    knn, error = estimate["knn_error"], model["error"]
    se = math.hypot(model["se"], estimate["knn_standard_error"])
    z = (error - knn) / se if se > 0 else (math.inf if error > knn else 0)
    if z <= MODEL_BELOW_KNN_Z:
        return None
    severity = "warning" if z > MODEL_BELOW_KNN_WARNING_Z else "info"
    k, base = estimate["knn_k"], estimate["baseline_error"]
    what = ("validation error" if model["source"] == "val_error"
            else "error on the samples given")
    if estimate["task"] == "classification":
        numbers = f"{error:.1%} against {knn:.1%}"
    else:
        numbers = (f"{error:.0%} of the variance against {knn:.0%}")
    untrained = error >= base - estimate["knn_standard_error"]
    causes = _untrained_causes() if untrained else _capacity_causes()
    return Finding(
        code="model_below_knn", severity=severity,
        message=(f"The model's {what} is worse than a {k}-nearest-"
                 f"neighbours model's on the same inputs ({numbers}, "
                 f"{z:.1f} standard errors): the data allow better, so the "
                 "training or the model is the problem, not the data."),
        evidence={"model_error": error, "knn_error": knn, "knn_k": k,
                  "baseline_error": base, "standard_error": se,
                  "z": z},
        causes=causes,
        suggestion="Train longer or tune the learning rate first; if the "
        "training loss is already flat, try a larger model or less "
        "regularization.")


def _untrained_causes():
    return [
        ("learning_rate", "no better than the baseline: a learning rate "
         "too low to move or too high to settle."),
        ("training_length", "too few epochs to learn what kNN finds."),
        ("initialization", "a poor start, e.g. saturated units."),
        ("output_activation", "an output activation or loss that does "
         "not match the targets."),
    ]


def _capacity_causes():
    return [
        ("model_capacity", "too small, or the wrong architecture for the "
         "local structure kNN uses."),
        ("training_length", "stopped before it caught up."),
        ("learning_rate", "a rate that keeps it from settling."),
        ("regularization", "dropout or weight decay too strong."),
    ]


def summary(estimate):
    """One sentence with the numbers of the estimate."""
    errors = "/".join(f"{estimate['errors'][k]:.3g}"
                      for k in sorted(estimate["errors"]))
    ks = "/".join(str(k) for k in sorted(estimate["errors"]))
    what = ("error" if estimate["task"] == "classification"
            else "MSE relative to the variance")
    text = (f"Leave-one-out kNN {what} (k={ks}): {errors}, on "
            f"{estimate['n_samples']} of {estimate['n_total']} samples, "
            f"{estimate['n_features']} features")
    if estimate["n_dims"] < estimate["n_features"]:
        text += f" projected on {estimate['n_dims']} principal components"
    text += (f"; with the targets shuffled {estimate['null_error']:.3g} "
             f"(permutation p = {estimate['p_value']:.2g})")
    if estimate["task"] == "classification":
        text += (f"; majority-class error {estimate['majority_error']:.3g},"
                 f" chance (guessing by class shares) "
                 f"{estimate['chance_error']:.3g}")
    return text + "."
