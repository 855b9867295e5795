"""`CurveWatch`: the live Keras callback, a thin adapter over `analyze()`.

The per-batch statistics are gathered on the device by
`keras_curvewatch.live.loss_tap` and read back once per epoch; the diagnosis is
`keras_curvewatch.analyze()`, the same engine as the offline path.
"""

import logging
import math
import os
import sys
import warnings

import keras

from keras_curvewatch.live import state as callback_state
from keras_curvewatch.live import label_counts
from keras_curvewatch.live import loss_tap
from keras_curvewatch.live.stopping import Stopper
from keras_curvewatch.engine.rules.split import blame_split
from keras_curvewatch.engine.analysis import analyze
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.engine.curves import rename_aliases
from keras_curvewatch.live.distributed import is_chief
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.engine.findings import LINT_CODES
from keras_curvewatch.engine.findings import sort_findings
from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float
from keras_curvewatch.engine.floats import to_float
from keras_curvewatch.live.warning_types import CurvewatchDisabledWarning
from keras_curvewatch.live.warning_types import LOGGER_NAME
from keras_curvewatch.live.warning_types import Notifier

# Per-batch losses kept on the host for the per-batch diagnoses: about
# 400 KiB of floats; the oldest whole epochs are dropped beyond it.
MAX_BATCH_LOSSES = 50000

# Findings about the run as a whole: "still falling at the end" is true of
# every run part-way through, so these are raised at train end, not live.
END_OF_RUN_CODES = ("not_converged",)

_PER_BATCH_OFF = (
    "Per-batch statistics are off ({why}); the diagnosis uses the epoch "
    "logs only, so the batch size and the in-epoch noise are unknown unless "
    "passed to CurveWatch(batch_size=..., n_train=...)."
)


class CurveWatch(keras.callbacks.Callback):
    """Diagnoses the loss curves while `fit` runs and warns as findings arise.

    At each epoch end it runs `keras_curvewatch.analyze()` on the epoch logs
    so far plus per-batch training losses gathered inside the compiled train
    step (whatever `steps_per_execution` is) and read back once per epoch.
    Each finding code warns once, and again only if its severity rises. Its
    per-epoch batch statistics (`loss_batch_std`, `loss_flip_rate`,
    `loss_batch_min`, `loss_batch_max`) are added to the epoch logs, so
    History, CSVLogger and TensorBoard record them. It never breaks
    training: an internal error becomes one `CurvewatchDisabledWarning` and
    the callback switches itself off.

    The per-batch tap wraps `model.compute_loss` and adds a metric with an
    empty result to the model (neither is saved with the model). It is
    installed at the first `fit` and reused by later ones. A custom
    `train_step` that never calls `compute_loss` gets no per-batch
    statistics; the report then says so and uses the epoch logs alone.
    Place CurveWatch before `CSVLogger` and `TensorBoard` in `callbacks`
    so that they record its statistics.

    Args:
        batch_size: int or None. Training batch size. Defaults to `None`:
            measured on the device.
        n_train: int or None. Training samples per epoch. Defaults to
            `None`: counted on the device.
        n_val: int or None. Validation samples. Defaults to `None`:
            counted on the device when `fit` validates (findings that need
            it ask for it otherwise).
        warn: `"warnings"`, `"logging"` or a callable receiving each
            `Finding`. Defaults to `"warnings"`: one `CurveWarning`
            subclass per code, e.g. `SmallBatchWarning`.
        per_batch: bool. Gather per-batch statistics on the device.
            Defaults to `True`.
        backup_dir: str, a `keras.callbacks.BackupAndRestore` or None. Where
            to save the callback's state at each epoch end, so that a run
            resumed by `BackupAndRestore` ends with the same report.
            Defaults to `None`.
        display: bool. Show the report live in a notebook. Defaults to
            `True`.
        lr_control: bool or `keras_curvewatch.LRControl`. Lower the
            learning rate when the curves say it is too high (noise-aware
            plateau, oscillation, spikes), roll back to the best weights on
            NaN or a divergence spike, and record every change in
            `report.actions` and the `learning_rate` log. `True` uses
            `LRControl()`. Defaults to `False`.
        stop_on: str or list of str. Stop training when one of these
            finding codes turns critical: codes such as `"nan_loss"`,
            `"chance_level"` (after 8 epochs, 4 in a row at chance: a
            constant loss at chance, or a constant prediction), or the
            preset `"hopeless"` (`nan_loss`, `diverging`, `not_learning`
            after 8 epochs, `chance_level`). The reason is kept in
            `report.stopped`. Defaults to `()`: never stop.
        restore_best: bool. When `stop_on` stops the run, restore the
            weights of the recommended epoch (`report.best_epoch`), kept
            on the host as the run goes. Defaults to `False`.

    Raises:
        ConfigError: if an argument is invalid.

    Example:

    ```python
    watch = keras_curvewatch.CurveWatch()
    model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[watch])
    print(watch.report)

    # Resumable: CurveWatch's state is saved beside the backup.
    backup = keras.callbacks.BackupAndRestore("/tmp/backup")
    watch = keras_curvewatch.CurveWatch(backup_dir=backup)
    model.fit(x, y, epochs=50, callbacks=[watch, backup])

    # Live learning-rate control.
    watch = keras_curvewatch.CurveWatch(lr_control=True)

    # Stop hopeless runs of a sweep or a Keras Tuner search.
    watch = keras_curvewatch.CurveWatch(stop_on="hopeless", restore_best=True)
    ```
    """

    def __init__(self, batch_size=None, n_train=None, n_val=None,
                 warn="warnings", per_batch=True, backup_dir=None,
                 display=True, lr_control=False, stop_on=(),
                 restore_best=False):
        super().__init__()
        from keras_curvewatch.control.controller import LRController
        from keras_curvewatch.control.controller import as_control

        control = as_control(lr_control)
        self._lr = LRController(control) if control is not None else None
        for name, value in (("batch_size", batch_size), ("n_train", n_train),
                            ("n_val", n_val)):
            if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int)
                    or value < 1):
                raise ConfigError(
                    f"CurveWatch {name} must be a positive int or None. "
                    f"Received {name}={value!r}."
                )
        if backup_dir is not None and not isinstance(backup_dir,
                                                     (str, os.PathLike)):
            backup_dir = getattr(backup_dir, "backup_dir", None)
            if backup_dir is None:
                raise ConfigError(
                    "CurveWatch backup_dir must be a path or a "
                    "keras.callbacks.BackupAndRestore. Received "
                    f"backup_dir={backup_dir!r}."
                )
        self.batch_size = batch_size
        self.n_train = n_train
        self.n_val = n_val
        self.per_batch = bool(per_batch)
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self.display = bool(display)
        self._notifier = Notifier(warn)
        self._accumulator = None
        self._live = None
        self._stopper = Stopper(stop_on, restore_best)
        self._reset()

    def _reset(self):
        self._pending_lr_state = None
        self._lint_findings = []
        self.report = None
        self.history = {}
        self.disabled = False
        self.error = None
        self.resumed_at = None
        self._chief = True
        self._epochs = []
        self._epoch_batch_losses = []
        self._measured = {}
        self._notes = []
        self._notifier.reset()
        self._stopper.reset()
        self._labels_read, self._label_counts, self._split = False, None, []

    # Keras hooks: only epoch and train hooks, so batch callbacks stay async.

    def on_train_begin(self, logs=None):
        self._reset()
        try:
            self._chief = is_chief(self.model)
            if self.backup_dir is not None:
                self._restore()
            self._accumulator = None
            if self.per_batch:
                self._accumulator = loss_tap.install(
                    self.model, steps=(self.params or {}).get("steps"))
            else:
                self._notes.append(
                    _PER_BATCH_OFF.format(why="per_batch=False"))
            self._live = None
            if self.display and self._chief:
                self._live = _create_live_display()
            self._lint_model()
        except Exception as error:
            self._disable(error)
        if self._lr is not None:
            # Outside the guard: a rate that cannot be changed live must
            # stop fit here with a message saying what to pass instead.
            self._lr.on_train_begin(self.model)
            if self._pending_lr_state is not None:
                self._lr.set_state(self._pending_lr_state)
                self._pending_lr_state = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.disabled or self._accumulator is None:
            return
        try:
            self._accumulator.clear()
        except Exception as error:
            self._disable(error)

    def on_epoch_end(self, epoch, logs=None):
        if self.disabled:
            return
        try:
            if self._lr is not None and logs is not None:
                for key, value in self._lr.epoch_logs(self.model).items():
                    logs.setdefault(key, value)
            self._epoch_end(epoch, logs if logs is not None else {})
        except Exception as error:
            self._disable(error)

    def on_train_end(self, logs=None):
        if not self.disabled and self.report is not None and self._chief:
            try:
                # The end-of-run findings held back during training.
                self._notifier.notify(self.report.findings,
                                      shown_live=self._live is not None)
            except Exception as error:
                self._disable(error)
        if self._lr is not None and not self.disabled:
            try:
                self._lr.on_train_end(self.model)
            except Exception as error:
                self._disable(error)
        if self._live is not None and hasattr(self._live, "flush"):
            try:
                self._live.flush()
            except Exception:  # The display warns about its own failures.
                pass

    # The work.

    def _epoch_end(self, epoch, logs):
        entry = {k: to_float(v) for k, v in logs.items()}
        batch_stats = self._read_batch_stats()
        if batch_stats is not None:
            for key, value in batch_stats.to_logs().items():
                if key not in logs:  # Never overwrite what Keras wrote.
                    logs[key] = value
                    entry[key] = value
        if not self._labels_read and self._accumulator is not None:
            self._labels_read = True
            self._label_counts, self._split = label_counts.read_first_epoch(
                self._accumulator)
        self._append(epoch, entry)
        self.report = self._amend_report(epoch, logs, self._diagnose())
        self._stopper.on_epoch_end(self.model, epoch, self.report,
                                   self.history, self._label_counts)
        if self._chief:
            self._notifier.notify(
                [f for f in self.report.findings
                 if f.code not in END_OF_RUN_CODES],
                shown_live=self._live is not None)
            if self._live is not None:
                self._live.update(self.report)
            if self.backup_dir is not None:
                self._save()

    def _amend_report(self, epoch, logs, report):
        """Applies the learning-rate control, if any, and adds its actions
        and finding to the report before the findings are raised."""
        if self._lr is None:
            return report
        result = self._lr.on_epoch_end(self.model, epoch, logs, report)
        report.actions = list(self._lr.actions)
        if result["finding"] is not None:
            report.findings = sort_findings(
                report.findings + [result["finding"]])
        if result["message"] and self._chief:
            logging.getLogger(LOGGER_NAME).info(result["message"])
        return report

    def _lint_model(self):
        """Pre-flight lint of the model (relu before softmax, logits, too
        much dropout), merged into every epoch's report."""
        from keras_curvewatch.preflight.lint import lint_report

        report = lint_report(self.model, source="CurveWatch")
        self._lint_findings = [f for f in report.findings
                               if f.code in LINT_CODES]
        self._notes.extend(n for n in report.notes if n not in self._notes)

    def _read_batch_stats(self):
        if self._accumulator is None:
            return None
        if self._accumulator.trace_error is not None:
            raise self._accumulator.trace_error
        batch_stats = self._accumulator.read()
        if batch_stats.n_batches == 0:
            # A custom train_step that never calls compute_loss.
            self._notes.append(_PER_BATCH_OFF.format(
                why="the train step never called model.compute_loss"))
            self._accumulator = None
            return None
        self._measured = {
            "batch_size": batch_stats.batch_size,
            "n_train": batch_stats.samples,
            "steps_per_epoch": batch_stats.n_batches,
            "n_val": batch_stats.val_samples or self._measured.get("n_val"),
            "complete": bool(batch_stats.complete
                             and self._measured.get("complete", True)),
        }
        self._epoch_batch_losses.append(
            [float(v) for v in batch_stats.losses])
        while (len(self._epoch_batch_losses) > 1 and sum(
                map(len, self._epoch_batch_losses)) > MAX_BATCH_LOSSES):
            self._epoch_batch_losses.pop(0)
        return batch_stats

    def _append(self, epoch, entry):
        n = len(self._epochs)
        for key in entry:
            if key not in self.history:
                self.history[key] = [math.nan] * n
        for key, values in self.history.items():
            values.append(entry.get(key, math.nan))
        self._epochs.append(int(epoch))

    def _diagnose(self):
        measured = self._measured
        batch_losses = None
        if self._epoch_batch_losses and measured.get("complete"):
            batch_losses = [v for e in self._epoch_batch_losses for v in e]
        steps = (self.params or {}).get("steps") or measured.get(
            "steps_per_epoch")
        curves = Curves(values=rename_aliases(self.history),
                        epochs=list(self._epochs),
                        source="CurveWatch")
        report = analyze(
            curves,
            batch_size=self.batch_size or measured.get("batch_size"),
            n_train=self.n_train or measured.get("n_train"),
            n_val=self.n_val or measured.get("n_val"),
            model=self.model,
            batch_losses=batch_losses,
            steps_per_epoch=steps,
            class_counts=(self._label_counts or {}).get("train"),
        )
        for note in self._notes:
            if note not in report.notes:
                report.notes.append(note)
        report.findings = sort_findings(blame_split(
            report.findings + self._lint_findings, self._split))
        return report

    def _disable(self, error):
        self.disabled = True
        self.error = error
        message = (
            "keras_curvewatch hit an internal error and switched itself off; "
            f"training goes on. {type(error).__name__}: {error}"
        )
        try:
            logging.getLogger(LOGGER_NAME).error(message, exc_info=error)
            warnings.warn(message, CurvewatchDisabledWarning, stacklevel=2)
        except Exception:  # e.g. warnings turned into errors: stay silent.
            pass

    # State beside the BackupAndRestore backup.

    def get_state(self):
        """Returns the callback's state as a JSON-ready dict."""
        return {
            "version": callback_state.STATE_VERSION,
            "epochs": list(self._epochs),
            "history": {k: [encode_float(v) for v in vs]
                        for k, vs in self.history.items()},
            "epoch_batch_losses": [[encode_float(v) for v in e]
                                   for e in self._epoch_batch_losses],
            "measured": dict(self._measured),
            "notifier": self._notifier.get_state(),
            "lr_control": (self._lr.get_state() if self._lr is not None
                           else None),
        }

    def set_state(self, state, n_epochs=None):
        """Restores `get_state()` output, keeping its first `n_epochs`."""
        callback_state.check_version(state)
        keep = len(state["epochs"]) if n_epochs is None else int(n_epochs)
        self._epochs = [int(e) for e in state["epochs"][:keep]]
        self.history = {k: [decode_float(v) for v in vs[:keep]]
                        for k, vs in state["history"].items()}
        losses = state["epoch_batch_losses"]
        drop = len(state["epochs"]) - keep
        if drop > 0:
            losses = losses[:max(len(losses) - drop, 0)]
        self._epoch_batch_losses = [[decode_float(v) for v in e]
                                    for e in losses]
        self._measured = dict(state.get("measured", {}))
        self._notifier.set_state(state.get("notifier", {}))
        # Applied after the controller's own reset in on_train_begin.
        self._pending_lr_state = state.get("lr_control")

    def _save(self):
        callback_state.save_state(self.backup_dir, self.get_state())

    def _restore(self):
        loaded = callback_state.load_state(self.backup_dir)
        if loaded is None:
            return
        resume_epoch, state = loaded
        kept = [e for e in state["epochs"] if e < resume_epoch]
        self.set_state(state, n_epochs=len(kept))
        self.resumed_at = resume_epoch
        if len(kept) < resume_epoch:
            self._notes.append(
                f"Resumed at epoch {resume_epoch} but CurveWatch's saved "
                f"state covers {len(kept)} epochs; the missing ones are not "
                "in the report."
            )


def _create_live_display():
    if "IPython" not in sys.modules:  # Not in a notebook: skip the import.
        return None
    try:
        from keras_curvewatch.render.live import LiveDisplay
    except ImportError:
        return None
    return LiveDisplay.create()
