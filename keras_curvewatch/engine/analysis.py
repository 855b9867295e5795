"""`analyze()`: the one diagnosis engine behind the CLI, the History
post-processor and the live callback.

Imports neither keras nor tensorflow (a `model=` argument is inspected
through `keras_curvewatch.preflight.model_info`, which imports keras lazily).
"""

import math
import warnings

import numpy as np

from keras_curvewatch.engine import stats
from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.engine.report import Report
from keras_curvewatch.engine.rules import RuleInput
from keras_curvewatch.engine.rules import run_rules
from keras_curvewatch.engine.rules.finetune import advise
from keras_curvewatch.engine.series import describe_series
from keras_curvewatch.engine.series import is_curve
from keras_curvewatch.engine.series import pick_curves

# Per-batch losses kept in the report for plots; older ones are dropped.
MAX_BATCH_LOSSES_IN_REPORT = 20000


def analyze(
    source,
    *,
    batch_size=None,
    n_train=None,
    n_val=None,
    n_params=None,
    layers=None,
    model=None,
    batch_losses=None,
    steps_per_epoch=None,
    class_counts=None,
):
    """Diagnoses a training run: what is wrong with its curves, why, what
    to do, and which epoch to keep.

    Args:
        source: a `keras.callbacks.History`, its `history.history` dict
            (str to list of floats), a `Curves`, or a path to a JSON dump,
            a `CSVLogger` file (`.csv`/`.log`) or a TensorBoard log
            directory.
        batch_size: int. Training batch size. Defaults to `None` (unknown).
        n_train: int. Training samples per epoch. Defaults to `None`.
        n_val: int. Validation samples. Defaults to `None`; without it the
            validation noise is compared with the training curve.
        n_params: int. Trainable parameters (a frozen pretrained base does
            not count). Defaults to `None`, or the model's.
        layers: list of str. Layer class names, e.g. `["LSTM", "Dense"]`.
            Defaults to `None`, or the model's.
        model: a `keras.Model`. Fills `n_params` (trainable), `layers`, the
            optimizer and its learning rate. Defaults to `None`.
        batch_losses: sequence of float. Per-batch training losses in
            order, for the per-batch diagnoses. Defaults to `None`.
        steps_per_epoch: int. Batches per epoch; inferred from `n_train`
            and `batch_size` when both are given. Defaults to `None`.
        class_counts: sequence of int. Training samples per class, e.g.
            `np.bincount(y_train)`; imbalanced classes get `class_weight`
            advice. Defaults to `None`.

    Returns:
        A `Report`: `report.findings` (most severe first),
        `report.best_epoch`, `report.series`, ...

    Raises:
        InputError: if `source` cannot be read (the message names the file,
            key or column, what was found and what was expected).
        ConfigError: if an argument is invalid.

    Example:

    ```python
    history = model.fit(x, y, validation_split=0.2, epochs=30)
    report = keras_curvewatch.analyze(history, batch_size=32, model=model)
    print(report)
    report.best_epoch
    ```
    """
    from keras_curvewatch.io.history import load_history

    curves = source if isinstance(source, Curves) else load_history(source)
    if batch_losses is None:
        batch_losses, steps_per_epoch = _tensorboard_batch_losses(
            source, curves, steps_per_epoch)
    context = build_context(
        curves,
        batch_size=batch_size,
        n_train=n_train,
        n_val=n_val,
        n_params=n_params,
        layers=layers,
        model=model,
        steps_per_epoch=steps_per_epoch,
        class_counts=class_counts,
    )
    return diagnose(curves, context, batch_losses=batch_losses)


def _tensorboard_batch_losses(source, curves, steps_per_epoch):
    """Per-batch losses from a TensorBoard log written with
    `update_freq="batch"`, or `(None, steps_per_epoch)`."""
    import os

    from keras_curvewatch.errors import InputError

    if not isinstance(source, (str, os.PathLike)) or not os.path.isdir(source):
        return None, steps_per_epoch
    from keras_curvewatch.io.tensorboard_reader import load_batch_losses

    try:
        losses = load_batch_losses(source)
    except InputError:
        return None, steps_per_epoch
    if len(losses) == 0:
        return None, steps_per_epoch
    if steps_per_epoch is None and curves.n_epochs and (
        len(losses) % curves.n_epochs == 0
    ):
        steps_per_epoch = len(losses) // curves.n_epochs
    return losses, steps_per_epoch


def build_context(curves, *, batch_size=None, n_train=None, n_val=None,
                  n_params=None, layers=None, model=None,
                  steps_per_epoch=None, validation_split=None,
                  class_counts=None):
    """Combines arguments, the model and the curves into a `RunContext`."""
    known_from = {}
    optimizer = learning_rate = frozen_base = unfrozen_base = None
    if model is not None:
        from keras_curvewatch.preflight.model_info import describe_model

        info = describe_model(model)
        if n_params is None and info.get("n_params") is not None:
            n_params = info["n_params"]
            known_from["n_params"] = "model"
        if layers is None and info.get("layers"):
            layers = info["layers"]
            known_from["layers"] = "model"
        optimizer = info.get("optimizer")
        learning_rate = info.get("learning_rate")
        frozen_base = info.get("frozen_base")
        unfrozen_base = info.get("unfrozen_base")
    if learning_rate is None and "learning_rate" in curves:
        lr = stats.finite(curves.get("learning_rate"))
        if len(lr):
            learning_rate = float(lr[0])
            known_from["learning_rate"] = "curves"
    for name, value in (("batch_size", batch_size), ("n_train", n_train),
                        ("n_val", n_val), ("n_params", n_params),
                        ("steps_per_epoch", steps_per_epoch)):
        if value is not None and name not in known_from:
            known_from[name] = "argument"
    if steps_per_epoch is None and n_train and batch_size:
        steps_per_epoch = math.ceil(int(n_train) / int(batch_size))
        known_from["steps_per_epoch"] = "inferred"
    if n_train is None and steps_per_epoch and batch_size:
        n_train = int(steps_per_epoch) * int(batch_size)
        known_from["n_train"] = "inferred"
    if layers is not None and isinstance(layers, str):
        raise ConfigError(
            "layers must be a list of layer class names, e.g. "
            f"['LSTM', 'Dense']. Received the string {layers!r}."
        )
    return RunContext(
        batch_size=batch_size,
        n_train=n_train,
        n_val=n_val,
        n_params=n_params,
        layers=tuple(layers or ()),
        steps_per_epoch=steps_per_epoch,
        learning_rate=learning_rate,
        optimizer=optimizer,
        validation_split=validation_split,
        class_counts=class_counts,
        frozen_base=frozen_base,
        unfrozen_base=unfrozen_base,
        known_from=known_from,
    )


def _as_losses(batch_losses):
    """Per-batch losses (floats, numpy or backend scalars) as a flat
    float64 array, or None."""
    if batch_losses is None:
        return None
    return np.asarray(
        [float(v) for v in np.asarray(batch_losses, dtype=object).ravel()],
        dtype=np.float64,
    )


def _batch_stats(losses, steps_per_epoch):
    if losses is None:
        return {}
    out = {"steps_per_epoch": steps_per_epoch}
    out.update(stats.batch_noise(losses, steps_per_epoch))
    if steps_per_epoch:
        out["periodicity"] = stats.batch_periodicity(losses, steps_per_epoch)
    return out


def diagnose(curves, context, batch_losses=None):
    """Runs every rule on `curves` and `context` and builds the `Report`.

    Numeric overflow on extreme values (1e300 and the like) is expected:
    the statistics come out NaN or inf and the rules skip them, so numpy's
    floating-point warnings are silenced here.

    Args:
        curves: `Curves`.
        context: `RunContext`.
        batch_losses: optional per-batch training losses, in order.

    Returns:
        `Report`.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _diagnose(curves, context, batch_losses)


def _diagnose(curves, context, batch_losses=None):
    names = [name for name in curves.keys() if is_curve(name)]
    series = {
        name: describe_series(name, curves.get(name), curves.epochs)
        for name in names
    }
    loss, val_loss, metric, val_metric = pick_curves(names)
    batch_losses = _as_losses(batch_losses)
    batch = _batch_stats(batch_losses, context.steps_per_epoch)
    inp = RuleInput(
        curves=curves,
        series=series,
        context=context,
        batch=batch,
        loss=loss,
        val_loss=val_loss,
        metric=metric,
        val_metric=val_metric,
    )
    findings = advise(run_rules(inp), inp)
    monitor = _monitor(series, val_loss, val_metric, loss)
    best = raw_best = None
    if monitor is not None:
        best = series[monitor].smoothed_best_epoch
        raw_best = series[monitor].raw_best_epoch
    notes = list(curves.notes)
    if val_loss is None and val_metric is None:
        notes.append(
            "No validation curves: overfitting and validation noise were "
            "not assessed (fit with validation_split= or "
            "validation_data=)."
        )
    if context.n_val is None and val_loss is not None:
        notes.append(
            "n_val unknown: validation noise was compared with the "
            "training curve; pass n_val= to test it against the "
            "validation set's sampling error."
        )
    report_batch = {}
    if batch_losses is not None:
        kept = [float(v) for v in batch_losses[-MAX_BATCH_LOSSES_IN_REPORT:]]
        report_batch = {k: v for k, v in batch.items()}
        report_batch["batch_losses"] = kept
    return Report(
        findings=findings,
        series=series,
        best_epoch=best,
        raw_best_epoch=raw_best,
        monitor=monitor,
        n_epochs=curves.n_epochs,
        context=context.to_dict(),
        notes=notes,
        source=curves.source,
        batch=report_batch,
    )


def _monitor(series, val_loss, val_metric, loss):
    for name in (val_loss, val_metric, loss):
        if name is not None and series[name].n_finite > 0:
            return name
    return None
