"""Rules on the run context: batch size, parameters per sample and
validation-set size. Tuned to small-data LSTM and CNN runs.

`context_findings` is shared by `analyze()`, the live callback and
`lint()`, so every threshold lives here once.
"""

import math

from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import INFO
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.engine.findings import rank_causes
from keras_curvewatch.engine.format import fmt
from keras_curvewatch.engine.rules import causes as cz

# Batch sizes up to 8 make the per-batch gradient (and loss) noisy: the
# standard error of a batch mean scales as 1/sqrt(batch), so batch 8 is
# twice as noisy as Keras's default of 32 (forum seed: "a batch of 2-8").
SMALL_BATCH_MAX = 8
# At batch 4 or below the noise is 3x that of batch 32 (sqrt(32/4) = 2.8),
# which the seed LSTM runs (batch 4, then 2) show as a wandering loss.
SMALL_BATCH_WARN = 4
# Keras's default batch size, the reference for the noise ratio.
DEFAULT_BATCH_SIZE = 32

# Parameters per training sample. A dense net can interpolate n samples
# with about n parameters; 100x that leaves most directions of the fit
# unconstrained by data, so overfitting needs regularisation.
PARAMS_PER_SAMPLE_INFO = 100.0
# 1,000x: the fit wanders instead of converging without strong
# regularisation (seed: an LSTM of ~200k parameters on 98 sequences is
# 2,040 parameters per sample).
PARAMS_PER_SAMPLE_WARN = 1000.0
# 10,000x: the model can memorise every sample many times over.
PARAMS_PER_SAMPLE_CRITICAL = 10000.0
# Recurrent weights are reused at every time step, so an LSTM or GRU fits a
# small set of sequences with fewer parameters: thresholds are halved.
RECURRENT_FACTOR = 0.5

# Accuracy measured on n samples has standard error 0.5/sqrt(n) at p=0.5:
# below 100 samples that is more than 5 accuracy points per epoch.
SMALL_VAL_WARN_N = 100
# Below 30 samples it exceeds 9 points: the validation curve is mostly
# sampling noise.
SMALL_VAL_CRITICAL_N = 30
# A validation split below 5% is far from the usual 0.2 (seed: "a 2%
# validation split gives a noisy estimate").
SMALL_VAL_SPLIT = 0.05


def _small_batch(ctx):
    batch = ctx.batch_size
    if batch is None or batch > SMALL_BATCH_MAX:
        return []
    noise_ratio = math.sqrt(DEFAULT_BATCH_SIZE / batch)
    severity = WARNING if batch <= SMALL_BATCH_WARN else INFO
    evidence = {"batch_size": batch, "noise_vs_batch_32": noise_ratio}
    if ctx.n_train:
        evidence["n_train"] = ctx.n_train
        evidence["steps_per_epoch"] = math.ceil(ctx.n_train / batch)
    causes = [
        (cz.LIKELY, "batch_size",
         f"a batch of {batch} gives per-batch losses about "
         f"{fmt(noise_ratio)}x noisier than batch {DEFAULT_BATCH_SIZE}."),
        (cz.UNLIKELY, "learning_rate",
         "with small batches the same learning rate takes larger noisy "
         "steps; it may need lowering."),
    ]
    suggestion = (
        "Use a batch of 16-32 if memory allows"
        + (f" (n_train={ctx.n_train})" if ctx.n_train else "")
        + "; if the batch must stay small, lower the learning rate "
        "(e.g. halve it) and judge progress on smoothed epoch curves."
    )
    return [
        Finding(
            code="small_batch",
            severity=severity,
            message=(
                f"Batch size {batch} is small: each step sees {batch} "
                f"samples, so the batch loss and the gradient are noisy."
            ),
            evidence=evidence,
            causes=rank_causes(causes),
            suggestion=suggestion,
        )
    ]


def _overparameterized(ctx):
    ratio = ctx.params_per_sample
    if ratio is None:
        return []
    factor = RECURRENT_FACTOR if ctx.recurrent else 1.0
    if ratio >= PARAMS_PER_SAMPLE_CRITICAL * factor:
        severity = CRITICAL
    elif ratio >= PARAMS_PER_SAMPLE_WARN * factor:
        severity = WARNING
    elif ratio >= PARAMS_PER_SAMPLE_INFO * factor:
        severity = INFO
    else:
        return []
    kind = "recurrent " if ctx.recurrent else ""
    causes = [
        (cz.LIKELY, "model_capacity",
         f"{ctx.n_params:,} trainable parameters for {ctx.n_train:,} "
         f"training samples is {fmt(ratio)} parameters per sample."),
        (cz.POSSIBLE, "regularization",
         "nothing in the run context limits how far those parameters can "
         "fit noise."),
    ]
    return [
        Finding(
            code="overparameterized",
            severity=severity,
            message=(
                f"The {kind}model has {fmt(ratio)} trainable parameters per "
                f"training sample ({ctx.n_params:,} for {ctx.n_train:,}); "
                "it can memorise the data, so the curves wander and "
                "overfit."
            ),
            evidence={
                "n_params": ctx.n_params,
                "n_train": ctx.n_train,
                "params_per_sample": ratio,
                "threshold": PARAMS_PER_SAMPLE_WARN * factor,
            },
            causes=rank_causes(causes),
            suggestion=(
                "Shrink the model (fewer units or layers), add dropout or "
                "L2 weight decay, augment or collect more data, and keep "
                "the best epoch with EarlyStopping(restore_best_weights="
                "True)."
            ),
        )
    ]


def _small_validation_set(ctx):
    n_val = ctx.n_val
    split = ctx.validation_split
    if n_val is None and split is not None and ctx.n_train:
        # n_train counts the samples left after the split.
        n_val = int(round(ctx.n_train * split / (1.0 - split)))
    evidence = {}
    severity = None
    if n_val is not None:
        evidence["n_val"] = n_val
        evidence["accuracy_standard_error"] = 0.5 / math.sqrt(max(n_val, 1))
        if n_val < SMALL_VAL_CRITICAL_N:
            severity = CRITICAL
        elif n_val < SMALL_VAL_WARN_N:
            severity = WARNING
    if split is not None and 0 < split < SMALL_VAL_SPLIT:
        evidence["validation_split"] = split
        if severity is None:
            severity = INFO if n_val is None or n_val >= 1000 else WARNING
    if severity is None:
        return []
    if n_val is not None:
        detail = (
            f"{n_val} validation samples measure accuracy to within about "
            f"+/-{fmt(100 * evidence['accuracy_standard_error'], 2)} points "
            "(one standard error at 50%)"
        )
    else:
        detail = f"validation_split={split} holds out very few samples"
    return [
        Finding(
            code="small_validation_set",
            severity=severity,
            message=(
                f"The validation set is small: {detail}, so val_loss and "
                "val_accuracy jump from epoch to epoch by chance."
            ),
            evidence=evidence,
            causes=rank_causes(
                [(cz.LIKELY, "validation_size", detail + ".")]
            ),
            suggestion=(
                "Hold out more data (validation_split=0.2 is usual), use "
                "k-fold cross-validation on very small data sets, and pick "
                "the epoch on the smoothed validation curve."
            ),
        )
    ]


def context_findings(ctx):
    """Findings that follow from the run context alone.

    Args:
        ctx: `RunContext`.

    Returns:
        list of `Finding` with codes `small_batch`, `overparameterized`
        and `small_validation_set`.

    Example:

    >>> from keras_curvewatch.engine.context import RunContext
    >>> [f.code for f in context_findings(RunContext(batch_size=2))]
    ['small_batch']
    """
    return _small_batch(ctx) + _overparameterized(ctx) + _small_validation_set(
        ctx
    )


def context_rule(inp):
    """Registry adapter: `context_findings` on the rule input's context."""
    return context_findings(inp.context)
