"""The registry of finding codes: each code is declared once, here.

The warning classes (`keras_curvewatch.live.warning_types`), the public
names in `keras_curvewatch`, the end-of-run codes of `CurveWatch`, the
README's table and the command line's help all derive from it. A new
diagnosis is one `register(Code(...))` here plus its rule in
`keras_curvewatch.engine.rules`.

This module imports neither keras nor tensorflow.
"""

import dataclasses

from keras_curvewatch.errors import ConfigError

INFO = "info"
WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)

# Where the evidence of a code comes from.
CURVE = "curve"  # the epoch curves
CONTEXT = "context"  # the run's context: batch size, samples, parameters
BATCH = "batch"  # the per-batch losses
LINT = "lint"  # the model and data before training
SOURCES = (CURVE, CONTEXT, BATCH, LINT)


@dataclasses.dataclass(frozen=True)
class Code:
    """One finding code.

    Args:
        name: str. The code, in snake case, e.g. `"small_batch"`.
        source: str. Where its evidence comes from: `"curve"`,
            `"context"`, `"batch"` or `"lint"`.
        severities: tuple of str. The severities it can have, least severe
            first; the last is its default.
        meaning: str. One line saying what it means, for the README and
            the command line's help.
        end_of_run: bool. Judged only on the whole run, so never warned
            while training runs (e.g. "still improving at the end" is true
            of every run part-way through). Defaults to `False`.

    Raises:
        ConfigError: if a field is outside its vocabulary.
    """

    name: str
    source: str
    severities: tuple
    meaning: str
    end_of_run: bool = False

    def __post_init__(self):
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ConfigError(
                f"A finding code must be a snake_case identifier. Received "
                f"name={self.name!r}.")
        if self.source not in SOURCES:
            raise ConfigError(
                f"Code {self.name!r}: source must be one of {SOURCES}. "
                f"Received source={self.source!r}.")
        severities = tuple(self.severities)
        if not severities or any(s not in SEVERITIES for s in severities):
            raise ConfigError(
                f"Code {self.name!r}: severities must be a non-empty tuple "
                f"of {SEVERITIES}. Received severities={self.severities!r}.")
        object.__setattr__(self, "severities", severities)

    @property
    def severity(self):
        """str. The default severity."""
        return self.severities[-1]

    @property
    def warning(self):
        """str. The name of its `CurveWarning` subclass:
        `small_batch` -> `SmallBatchWarning`."""
        return "".join(p.capitalize() for p in self.name.split("_")) + (
            "Warning")


_REGISTRY = {}


def register(code):
    """Adds a code to the registry.

    Args:
        code: `Code`.

    Returns:
        `code`.

    Raises:
        ConfigError: if a code of that name is already registered.
    """
    if code.name in _REGISTRY:
        raise ConfigError(f"Finding code {code.name!r} is already registered.")
    _REGISTRY[code.name] = code
    return code


def unregister(name):
    """Removes a code added by `register` (for tests and plugins)."""
    _REGISTRY.pop(name, None)


def get(name):
    """Returns the `Code` called `name`.

    Raises:
        ConfigError: if no such code is registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"Unknown finding code {name!r}. Expected one of {names()}."
        ) from None


def names(source=None):
    """tuple of str. The registered codes, in declaration order; only those
    from `source` when given."""
    return tuple(c.name for c in _REGISTRY.values()
                 if source is None or c.source == source)


def all_codes():
    """tuple of `Code`, in declaration order."""
    return tuple(_REGISTRY.values())


def order(name):
    """int. The position of `name` in the registry (unknown codes last)."""
    for index, key in enumerate(_REGISTRY):
        if key == name:
            return index
    return len(_REGISTRY)


def markdown_table():
    """The README's table of finding codes, as Markdown."""
    rows = ["| code | severity | judged | what it means |",
            "| --- | --- | --- | --- |"]
    for code in _REGISTRY.values():
        judged = "at the end" if code.end_of_run else "live"
        rows.append(f"| `{code.name}` | {'/'.join(code.severities)} | "
                    f"{judged} | {code.meaning} |")
    return "\n".join(rows)


def help_text():
    """The finding codes as plain text, for the command line's help."""
    width = max(len(c.name) for c in _REGISTRY.values())
    return "finding codes:\n" + "\n".join(
        f"  {c.name:<{width}}  {c.meaning}" for c in _REGISTRY.values())


for _code in (
    Code("nan_loss", CURVE, (WARNING, CRITICAL),
         "a loss became NaN/inf (warning when it recovered); causes: a "
         "too-large step (it rose first), bad data (NaN from the start)"),
    Code("diverging", CURVE, (WARNING, CRITICAL),
         "the training loss rises steadily or explodes over many epochs; a "
         "loss that runs away below zero is unbounded (loss, labels or "
         "output activation are wrong)"),
    Code("not_learning", CURVE, (CRITICAL,),
         "the loss stays near its start, or loss and accuracy sit at chance "
         "(ln K, 1/K or the majority share; K known from the accuracy), "
         "including a collapse to chance after chaotic epochs"),
    Code("overfitting", CURVE, (WARNING, CRITICAL),
         "the training loss keeps falling while the validation loss rises "
         "after its minimum or lies flat with a widening gap; in a short "
         "run, training accuracy near 1.0 with validation far below"),
    Code("not_converged", CURVE, (INFO, WARNING),
         "at the last epoch a loss is still falling clearly: the last "
         "tenth still gains several % of the level, or a slow straight "
         "line (a low learning rate)",
         end_of_run=True),
    Code("plateau_then_drop", CURVE, (INFO,),
         "flat at the start for several epochs (often at chance), then a "
         "sudden sustained drop"),
    Code("train_oscillation", CURVE, (WARNING, CRITICAL),
         "the training loss zig-zags from epoch to epoch by a visible "
         "share of its level instead of a mostly monotone decline"),
    Code("val_fluctuation", CURVE, (WARNING,),
         "the validation curve reverses far more than the training curve, "
         "by a visible share of its level (a small n_val is then its first "
         "cause), or is noisier than n_val explains"),
    Code("loss_spike", CURVE, (WARNING,),
         "one or a few isolated jumps, several times the usual "
         "epoch-to-epoch change and visible on the plot, after which the "
         "curve returns to its trend"),
    Code("metric_loss_mismatch", CURVE, (INFO, WARNING),
         "loss and metric tell different stories: validation loss 10x the "
         "training loss with an accuracy as good; a metric frozen while "
         "the loss moves (warning); accuracy flat at a class share"),
    Code("noisy_best_epoch", CURVE, (INFO,),
         "the raw best validation epoch is a dip inside the noise band; "
         "the smoothed best is recommended"),
    Code("small_batch", CONTEXT, (INFO, WARNING),
         "batch ≤ 8 (≤ 4: warning): noisy gradients and batch loss"),
    Code("overparameterized", CONTEXT, (INFO, WARNING, CRITICAL),
         "trainable parameters per training sample ≥ 100 / 1,000 / 10,000 "
         "(halved for LSTM/GRU)"),
    Code("small_validation_set", CONTEXT, (WARNING, CRITICAL),
         "n_val < 100 (< 30: critical), a split below 5 %, or validation "
         "noise that the validation size explains"),
    Code("unshuffled_data", BATCH, (INFO, WARNING, CRITICAL),
         "the batch loss repeats with period `steps_per_epoch`: a "
         "saw-tooth (class-sorted data, `shuffle=False`) or one order "
         "repeated every epoch (a fixed seed)"),
    Code("relu_before_softmax", LINT, (WARNING, CRITICAL),
         "a ReLU feeds the softmax output: negative logits are lost"),
    Code("logits_mismatch", LINT, (WARNING, CRITICAL),
         "`from_logits` does not match the output activation"),
    Code("class_imbalance", LINT, (WARNING,),
         "strongly imbalanced classes: accuracy near the majority share "
         "says little"),
    Code("unscaled_inputs", LINT, (WARNING,),
         "inputs far from unit scale: slow or unstable training"),
    Code("dropout_too_high", LINT, (WARNING,),
         "dropout rates that starve learning"),
    # Pre-flight data checks on x and y (preflight/data_sanity.py).
    Code("nonfinite_inputs", LINT, (CRITICAL,),
         "NaN or inf in x or y: the loss turns NaN at the first batch "
         "that holds one"),
    Code("single_class", LINT, (CRITICAL,),
         "y holds one class: there is nothing to tell apart"),
    # The signal check (preflight/signal.py): does the data carry signal,
    # and does the model reach what nearest neighbours reach?
    Code("weak_signal", LINT, (WARNING,),
         "a nearest-neighbours classifier does no better than shuffled "
         "labels on the inputs: they may carry no signal"),
    Code("model_below_knn", LINT, (INFO, WARNING),
         "the model's validation error is worse than a nearest-neighbours "
         "classifier's on the same inputs: a training problem, not a data "
         "problem"),
    # Acting on findings (issue 17): CurveWatch's live label counts of the
    # two sides of the split, and a plateau that a frozen base explains.
    Code("split_mismatch", BATCH, (WARNING, CRITICAL),
         "the training and validation batches hold different classes "
         "(live label counts, epoch 0): validation_split took the last, "
         "class-sorted samples; critical when a class is missing on one "
         "side"),
    Code("underfitting", CURVE, (WARNING,),
         "with a frozen base: the training accuracy levelled off below 0.8 "
         "(unfreeze the top block, with a rate 10x lower)"),
):
    register(_code)
del _code
