"""The pure diagnosis step: a `RunContext` from what is known about a run,
then every rule on the curves, into one `Report`.

`keras_curvewatch.engine.session.DiagnosisSession` is the one caller: both
`analyze()` and the live callback go through it. Imports neither keras nor
tensorflow (a `model=` argument is inspected through
`keras_curvewatch.preflight.model_info`, which imports keras lazily).
"""

import math
import warnings

import numpy as np

from keras_curvewatch.engine import arguments
from keras_curvewatch.engine import batch_series
from keras_curvewatch.engine import stats
from keras_curvewatch.engine.best_epoch import paired_metric
from keras_curvewatch.engine.best_epoch import recommend_epoch
from keras_curvewatch.engine.context import RunContext
from keras_curvewatch.engine.curves import validation_gaps
from keras_curvewatch.engine.report import Report
from keras_curvewatch.engine.rules import RuleInput
from keras_curvewatch.engine.rules.base import rate_course
from keras_curvewatch.engine.rules import merge_findings
from keras_curvewatch.engine.rules import run_rules
from keras_curvewatch.engine.rules.finetune import advise
from keras_curvewatch.engine.series import describe_series
from keras_curvewatch.engine.series import is_curve
from keras_curvewatch.engine.series import pick_curves
from keras_curvewatch.engine.sources import GAPS_NOTE
from keras_curvewatch.errors import ConfigError

# Per-batch losses kept in the report for plots; older ones are dropped.
MAX_BATCH_LOSSES_IN_REPORT = 20000

_SHORT_NOTE = (
    "Only {n} epoch(s): too short to judge the curves' shape (trend and "
    "noise need at least {minimum}); only NaN/inf and the run context "
    "were checked."
)


def build_context(curves, *, batch_size=None, n_train=None, n_val=None,
                  n_params=None, layers=None, model=None,
                  steps_per_epoch=None, validation_split=None,
                  class_counts=None):
    """Combines arguments, the model and the curves into a `RunContext`."""
    known_from = {}
    n_params, layers, facts = _model_facts(model, n_params, layers,
                                           known_from)
    learning_rate = facts["learning_rate"]
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
        optimizer=facts["optimizer"],
        validation_split=validation_split,
        class_counts=class_counts,
        frozen_base=facts["frozen_base"],
        unfrozen_base=facts["unfrozen_base"],
        known_from=known_from,
        metric_directions=facts["metric_directions"],
    )


def _model_facts(model, n_params, layers, known_from):
    """What the model tells: its parameter count and layers where the
    arguments left them out (recorded in `known_from`), its optimizer,
    learning rate, metric directions and frozen base.

    Returns:
        `(n_params, layers, facts)`, facts a dict of `RunContext` fields.
    """
    facts = {"optimizer": None, "learning_rate": None,
             "frozen_base": None, "unfrozen_base": None,
             "metric_directions": {}}
    if model is None:
        return n_params, layers, facts
    from keras_curvewatch.preflight.model_info import describe_model

    info = describe_model(model)
    if n_params is None and info.get("n_params") is not None:
        n_params = info["n_params"]
        known_from["n_params"] = "model"
    if layers is None and info.get("layers"):
        layers = info["layers"]
        known_from["layers"] = "model"
    facts["optimizer"] = info.get("optimizer")
    facts["learning_rate"] = info.get("learning_rate")
    facts["metric_directions"] = dict(info.get("metric_directions") or {})
    if info.get("built"):
        from keras_curvewatch.preflight.frozen import describe_frozen

        frozen = describe_frozen(model)
        facts["frozen_base"] = frozen["frozen_base"]
        facts["unfrozen_base"] = frozen["unfrozen_base"]
    return n_params, layers, facts


def _as_losses(batch_losses):
    """Per-batch losses (floats, numpy or backend scalars) as a flat
    float64 array, or None."""
    return arguments.batch_losses(batch_losses, "diagnose")


def _batch_stats(losses, steps_per_epoch):
    if losses is None:
        return {}
    out = {"steps_per_epoch": steps_per_epoch}
    out.update(batch_series.batch_noise(losses, steps_per_epoch))
    if steps_per_epoch:
        out["periodicity"] = batch_series.batch_periodicity(
            losses, steps_per_epoch)
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
    loss, val_loss, metric, val_metric = pick_curves(names)
    batch_losses = _as_losses(batch_losses)
    batch = _batch_stats(batch_losses, context.steps_per_epoch)
    gaps, freq = validation_gaps(curves)
    series = _describe(curves, names, gaps, context)
    monitor = _monitor(series, val_loss, val_metric, loss)
    best = recommend_epoch(
        series, monitor,
        paired_metric(monitor, loss, val_loss, metric, val_metric),
        n_val=context.n_val if monitor == val_loss else context.n_train)
    findings = _run_views(curves, names, gaps, series, context, batch,
                          best.epoch if best is not None else None)
    notes = list(curves.notes)
    if freq is not None:
        notes.append(GAPS_NOTE.format(names=", ".join(gaps), freq=freq))
    if 0 < curves.n_epochs < stats.MIN_POINTS_TREND:
        notes.append(_SHORT_NOTE.format(n=curves.n_epochs,
                                        minimum=stats.MIN_POINTS_TREND))
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
        kept = batch_losses[-MAX_BATCH_LOSSES_IN_REPORT:].tolist()
        report_batch = {k: v for k, v in batch.items()}
        report_batch["batch_losses"] = kept
    return Report(
        findings=findings,
        series=series,
        best_epoch=best.epoch if best is not None else None,
        raw_best_epoch=best.raw_best_epoch if best is not None else None,
        monitor=monitor,
        best_epoch_curve=best.curve if best is not None else None,
        best_epoch_reason=best.reason if best is not None else "",
        n_epochs=curves.n_epochs,
        context=_context_dict(context, curves),
        notes=notes,
        source=curves.source,
        batch=report_batch,
    )


def _context_dict(context, curves):
    """The context as a dict, with the logged learning rate's whole course
    (`learning_rate_logged`: first, last, lowest, highest) when it changed:
    its first value alone hides a ReduceLROnPlateau that already cut it."""
    out = context.to_dict()
    course = rate_course(curves)
    if course is not None and course[3] > course[2] * (1 + 1e-6):
        out["learning_rate_logged"] = list(course)
    return out


def _describe(curves, names, gaps, context):
    """Per-curve statistics; a validation curve measured every k epochs
    (`validation_freq`) is described on the epochs where it ran."""
    rows = ~next(iter(gaps.values())) if gaps else None
    series = {}
    for name in names:
        view = curves.select(rows) if name in gaps else curves
        series[name] = describe_series(name, view.get(name), view.epochs,
                                       context.direction_of(name))
    return series


def _run_views(curves, names, gaps, series, context, batch, best_epoch):
    """Runs the rules and returns the findings.

    Validation measured every k epochs (`validation_freq`) has gaps: the
    training curves are judged on every epoch, the validation curves (and
    how they compare with training) on the epochs where validation ran, so
    an unmeasured epoch is never read as NaN.
    """
    def run(view, view_names, view_series):
        loss, val_loss, metric, val_metric = pick_curves(view_names)
        inp = RuleInput(
            curves=view, series=view_series, context=context, batch=batch,
            loss=loss, val_loss=val_loss, metric=metric,
            val_metric=val_metric, best_epoch=best_epoch)
        # The model's part of the story (frozen base, class weights).
        return advise(run_rules(inp), inp)

    if not gaps:
        return run(curves, names, series)
    train_names = [name for name in names if name not in gaps]
    findings = run(curves.without(gaps), train_names,
                   {name: series[name] for name in train_names})
    rows = ~next(iter(gaps.values()))
    view = curves.select(rows)
    view_series = {name: series[name] if name in gaps else describe_series(
        name, view.get(name), view.epochs, context.direction_of(name))
        for name in names}
    findings += [f for f in run(view, names, view_series)
                 if f.series in gaps]
    return merge_findings(findings)


def _monitor(series, val_loss, val_metric, loss):
    for name in (val_loss, val_metric, loss):
        if name is not None and series[name].n_finite > 0:
            return name
    return None
