"""The words of the headline: each finding as a short phrase with its
numbers, and the first change for each cause.

Evidence keys are read with defaults, so a rule that stops reporting one
number gives a shorter phrase, never an error.

This module imports neither keras nor tensorflow.
"""

import math


def fmt(value):
    """A number for a sentence: 2018 -> '2,018', 0.04123 -> '0.0412'."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "NaN" if math.isnan(number) else str(number)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:.3g}"


def _pct(fraction):
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(fraction):
        return None
    percent = 100 * fraction
    return f"{percent:.0f}%" if abs(percent) >= 10 else f"{percent:.2g}%"


def _get(finding, key):
    value = finding.evidence.get(key)
    if value is None or not math.isfinite(float(value)):
        return None
    return value


def _at(finding):
    return f" from epoch {finding.epoch}" if finding.epoch is not None else ""


def symptom_phrase(finding, context, n_epochs=None):
    """The finding as a short clause with its main numbers.

    Args:
        finding: `Finding`.
        context: dict. The run context.
        n_epochs: int or None. Epochs analysed.

    Returns:
        str. E.g. "the model memorises from epoch 12 (val_loss 35% above
        its minimum while loss keeps falling)".
    """
    series = finding.series or "the loss"
    if series == "loss":
        series = "the training loss"
    if finding.code in ("nan_loss", "diverging", "not_learning"):
        return _broken_phrase(finding, series, n_epochs)
    return _shape_phrase(finding, series, context)


def _broken_phrase(finding, series, n_epochs):
    """A NaN, diverging or (otherwise) stuck curve, with its numbers."""
    code = finding.code
    if code == "nan_loss":
        bad = _get(finding, "nonfinite_epochs")
        if bad is not None and n_epochs and bad >= n_epochs:
            return f"{series} is NaN or infinite in all {fmt(n_epochs)} epochs"
        of = f" ({fmt(bad)} of {fmt(n_epochs)} epochs)" if (
            bad is not None and n_epochs) else ""
        return f"{series} is NaN or infinite{_at(finding)}{of}"
    if code == "diverging":
        rise = _pct(_get(finding, "relative_rise"))
        by = f", {rise} above its minimum" if rise else ""
        return f"{series} diverges{_at(finding)}{by}"
    gain = _pct(_get(finding, "relative_improvement"))
    chance = _get(finding, "chance_level_classes")
    text = f"{series} is not learning"
    if chance is not None:
        return text + f" (stuck at chance level for {fmt(chance)} classes)"
    if gain and n_epochs:
        return text + f" (it improved {gain} in {fmt(n_epochs)} epochs)"
    return text


def _shape_phrase(finding, series, context):
    """An overfitting, slow, noisy or spiky curve, with its numbers."""
    code = finding.code
    if code == "overfitting":
        rise = _pct(_get(finding, "relative_rise"))
        detail = (f" ({series} {rise} above its minimum while the training "
                  "loss keeps falling)") if rise else ""
        return f"the model memorises{_at(finding)}{detail}"
    if code == "not_converged":
        rate = _pct(_get(finding, "relative_rate_per_epoch"))
        per = f" ({rate} per epoch)" if rate else ""
        return f"{series} is still improving at the end{per}"
    if code in ("train_oscillation", "val_fluctuation"):
        noise = _pct(_get(finding, "relative_noise")
                     or _get(finding, "val_loss_relative_noise"))
        size = f" (noise {noise} of its level)" if noise else ""
        verb = "oscillates" if code == "train_oscillation" else "fluctuates"
        return f"{series} {verb} from epoch to epoch{size}"
    if code == "loss_spike":
        count = _get(finding, "n_spikes")
        what = f"{fmt(count)} spikes" if count and count > 1 else "a spike"
        return f"{series} has {what}{_at(finding).replace('from', 'at')}"
    if code == "metric_loss_mismatch":
        return (f"{series} and the accuracy disagree{_at(finding)}: the "
                "loss and the metric tell different stories")
    if code == "plateau_then_drop":
        flat = _get(finding, "plateau_epochs")
        span = f" for {fmt(flat)} epochs" if flat else ""
        return f"the loss sat on a plateau{span} before it dropped"
    if code == "noisy_best_epoch":
        return (f"the best raw {series} (epoch {finding.epoch}) is a lucky "
                "dip")
    return explainer_phrase(finding, context)


def explainer_phrase(finding, context):
    """A context or lint finding as a short noun phrase with its numbers.

    Args:
        finding: `Finding`.
        context: dict. The run context.

    Returns:
        str. E.g. "2,018 parameters per sample on 98 samples".
    """
    code, ev = finding.code, finding.evidence
    if code == "overparameterized":
        n_train = ev.get("n_train", context.get("n_train"))
        ratio = ev.get("params_per_sample")
        if ratio is None and n_train and context.get("n_params"):
            ratio = context["n_params"] / n_train
        text = f"{fmt(ratio)} parameters per sample" if ratio else (
            "more parameters than the data can constrain")
        return text + (f" on {fmt(n_train)} samples" if n_train else "")
    if code == "small_batch":
        batch = ev.get("batch_size", context.get("batch_size"))
        return f"a batch of {fmt(batch)}" if batch else "a small batch"
    if code == "small_validation_set":
        n_val = ev.get("n_val", context.get("n_val"))
        return (f"only {fmt(n_val)} validation samples" if n_val else
                "a very small validation split")
    phrases = {
        "unshuffled_data": "unshuffled training data",
        "relu_before_softmax": "a ReLU just before the softmax output",
        "logits_mismatch": "a loss that does not match the output (logits)",
        "class_imbalance": "imbalanced classes",
        "unscaled_inputs": "unscaled inputs",
        "dropout_too_high": "too much dropout",
    }
    return phrases.get(code, finding.message.split(". ")[0].rstrip("."))


# What a run-context or lint finding does to training, told when no curve
# finding shows it yet.
EFFECTS = {
    "overparameterized": "the model can memorise the data",
    "small_batch": "the gradient and the loss are noisy",
    "small_validation_set": "val_loss and val_accuracy jump by chance",
    "unshuffled_data": "every epoch sees the batches in the same order",
    "relu_before_softmax": "the output can stall at a uniform guess",
    "logits_mismatch": "the loss is computed on the wrong scale",
    "class_imbalance": "accuracy can rise by predicting the majority class",
    "unscaled_inputs": "large inputs make the steps unstable",
    "dropout_too_high": "the model is starved of signal",
}


def effect_phrase(finding):
    """What a run-context or lint finding does, as a short clause."""
    if finding.code in EFFECTS:
        return EFFECTS[finding.code]
    return finding.message.split(". ")[0].rstrip(".")


# The first change for each cause, as the rest of a sentence that starts
# with "First". `{best}` is the recommended epoch.
CAUSE_CHANGES = {
    "learning_rate": "lower the learning rate (halve it)",
    "batch_size": "use a larger batch (16-32)",
    "model_capacity": "shrink the model or regularise it (Dropout, L2 "
                      "weight decay)",
    "regularization": "add Dropout or L2 weight decay",
    "validation_size": "hold out more validation data "
                       "(validation_split=0.2) or use k-fold",
    "data_shuffling": "shuffle the training data (shuffle=True, or "
                      "Dataset.shuffle before batch)",
    "initialization": "check the weight initialisation and normalisation",
    "output_activation": "check that the output activation, the loss and "
                         "the label encoding match",
    "class_imbalance": "weight the classes (class_weight=) or resample them",
    "data_quality": "check the inputs and labels (NaN, scale, mislabelled "
                    "samples)",
    "training_length": "train for more epochs",
}

# Changes that depend on the finding as well as on the cause.
FINDING_CHANGES = {
    ("nan_loss", "learning_rate"): "lower the learning rate 10x and add "
                                   "gradient clipping (clipnorm=1.0)",
    ("diverging", "learning_rate"): "lower the learning rate (10x if it "
                                    "exploded) and add gradient clipping",
    ("not_learning", "learning_rate"): "try a learning rate 10x higher and "
                                       "10x lower (1e-3 is Adam's default)",
    ("overfitting", "training_length"): "stop at epoch {best} "
                                        "(EarlyStopping(restore_best_"
                                        "weights=True))",
    ("not_converged", "learning_rate"): "raise the learning rate 2-3x",
    ("loss_spike", "learning_rate"): "add gradient clipping (clipnorm=1.0) "
                                     "or lower the learning rate",
    ("val_fluctuation", "validation_size"): "judge by the smoothed curve "
                                            "and hold out more validation "
                                            "data",
    ("metric_loss_mismatch", "output_activation"): "check that validation "
                                                   "is computed like "
                                                   "training (preprocessing,"
                                                   " labels, loss)",
    ("noisy_best_epoch", "validation_size"): "keep epoch {best}, not the "
                                             "raw best",
}

# The first change for an explaining finding.
EXPLAINER_CHANGES = {
    "overparameterized": "shrink the model or regularise it (Dropout, L2 "
                         "weight decay)",
    "small_batch": "use a batch of 16-32, or halve the learning rate if "
                   "the batch must stay small",
    "small_validation_set": "hold out more validation data or use k-fold",
    "unshuffled_data": CAUSE_CHANGES["data_shuffling"],
    "relu_before_softmax": "remove the ReLU before the softmax output",
    "logits_mismatch": "use from_logits=True with a linear output, False "
                       "after a softmax or sigmoid",
    "class_imbalance": CAUSE_CHANGES["class_imbalance"],
    "unscaled_inputs": "scale the inputs (divide by 255, or a "
                       "Normalization layer)",
    "dropout_too_high": "lower the dropout rate (0.2-0.5)",
}


def cause_change(cause, finding, context, best_epoch=None):
    """The first thing to change, as a sentence starting with "First".

    Args:
        cause: str or None. The cause to act on (one of `CAUSES`), or None
            to act on `finding` itself (an explaining finding).
        finding: `Finding`. The finding the change answers.
        context: dict. The run context.
        best_epoch: int or None. The recommended epoch.

    Returns:
        str.
    """
    if cause is None and finding.code in EXPLAINER_CHANGES:
        text = EXPLAINER_CHANGES[finding.code]
    elif (finding.code, cause) in FINDING_CHANGES:
        text = FINDING_CHANGES[(finding.code, cause)]
    elif cause in CAUSE_CHANGES:
        text = CAUSE_CHANGES[cause]
    else:
        text = finding.suggestion.split(". ")[0].rstrip(".")
        return text
    best = best_epoch if best_epoch is not None else "the best"
    return "first " + text.replace("{best}", str(best))
