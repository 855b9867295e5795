"""`CurveWatch`: the live Keras callback, a thin adapter over the engine.

The per-batch statistics are gathered on the device by
`keras_curvewatch.live.loss_tap` and read back once per epoch; the diagnosis,
the merging of the lint and learning-rate findings and the bookkeeping of
warnings are `keras_curvewatch.engine.session.DiagnosisSession`, the same
engine as `analyze()`.
"""

import logging
import os
import sys
import warnings

import numpy as np

import keras

from keras_curvewatch.engine import codes
from keras_curvewatch.engine import arguments
from keras_curvewatch.engine.batch_stats import rows_to_logs
from keras_curvewatch.live.cadence import DiagnosisCadence
from keras_curvewatch.control.inputs import segment_curves
from keras_curvewatch.engine.diagnosis import diagnose
from keras_curvewatch.engine.findings import sort_findings
from keras_curvewatch.engine.rules.split import blame_split
from keras_curvewatch.engine.floats import to_float
from keras_curvewatch.engine.session import MAX_BATCH_LOSSES  # noqa: F401
from keras_curvewatch.engine.session import DiagnosisSession
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.live import label_counts
from keras_curvewatch.live import loss_tap
from keras_curvewatch.live.distributed import is_chief
from keras_curvewatch.live.monitor import MonitorCheck
from keras_curvewatch.live.resume import ResumeMixin
from keras_curvewatch.live.resume import backup_path as _backup_path
from keras_curvewatch.live.stopping import Stopper
from keras_curvewatch.live.warning_types import CurvewatchDisabledWarning
from keras_curvewatch.live.warning_types import LOGGER_NAME
from keras_curvewatch.live.warning_types import debug_requested
from keras_curvewatch.live.warning_types import Notifier
# At module level, not in `on_train_begin`: importing the pre-flight
# modules took 5-20 ms of the first epoch of a fit.
from keras_curvewatch.preflight.lint import lint_report

# Findings about the run as a whole, raised at train end, not live; from
# the registry of codes.
END_OF_RUN_CODES = tuple(c.name for c in codes.all_codes() if c.end_of_run)

_PER_BATCH_OFF = (
    "Per-batch statistics are off ({why}); the diagnosis uses the epoch "
    "logs only, so the batch size and the in-epoch noise are unknown unless "
    "passed to CurveWatch(batch_size=..., n_train=...)."
)


class CurveWatch(ResumeMixin, keras.callbacks.Callback):
    """Diagnoses the loss curves while `fit` runs and warns as findings arise.

    It runs `keras_curvewatch.analyze()` on the epoch logs so far plus
    per-batch training losses gathered inside the compiled train step
    (whatever `steps_per_execution` is) and read back at most once per
    epoch, for all the epochs since the last read at once: at epoch ends
    while that costs under 0.5% of the training time, at once when cheap
    per-epoch checks see a NaN or a possible divergence or spike, and
    at train end, so `report` then equals `analyze()` on the same history.
    Each finding code warns once, and again only if its severity rises. Its
    per-epoch batch statistics (`loss_batch_std`, `loss_flip_rate`,
    `loss_batch_min`, `loss_batch_max`) are in `report` and `history`
    (during training, the rows of epochs since the last diagnosis are
    filled in at the next one; all are at train end);
    with `log_batch_stats=True` they are also added to the epoch logs, so
    History, CSVLogger and TensorBoard record them. It never breaks
    training: an internal error becomes one `CurvewatchDisabledWarning` and
    the callback switches itself off.

    The per-batch tap wraps `model.compute_loss` and adds a metric with an
    empty result to the model (neither is saved with the model); on JAX it
    also puts a one-variable twin of Keras's loss tracker in its place,
    which logs the same loss to the bit and costs each step less (see
    `keras_curvewatch.live.loss_tracker`). It is
    installed at the first `fit` and reused by later ones. A custom
    `train_step` that never calls `compute_loss` gets no per-batch
    statistics; the report then says so and uses the epoch logs alone.
    With `log_batch_stats=True`, place CurveWatch before `CSVLogger` and
    `TensorBoard` in `callbacks` so that they record its statistics. With
    `fit(validation_freq=k)`, the epochs without validation are gaps in the
    validation curves, not NaN.

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
        log_batch_stats: bool. Add the per-batch statistics to the epoch
            logs (and so to the progress bar, History, CSVLogger and
            TensorBoard). Defaults to `False`: they stay out of the
            progress bar and are kept in `report`.
        lr_control: bool or `keras_curvewatch.LRControl`. Cut the
            learning rate only on evidence that it is the cause
            (oscillation, a climb or spikes the engine blames on the rate,
            or a plateau beyond the noise that no batch-noise finding
            explains), verify each cut and undo it if it did not help, warm
            back up after an over-cut, roll back to the best weights on NaN
            or a divergence spike, and record every decision and verdict in
            `report.actions` and the rate in the `learning_rate` log.
            `True` uses `LRControl()`; see its docstring for every knob.
            Defaults to `False`.
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
        signal_check: `(x, y)` or None. At train end, run
            `keras_curvewatch.signal_check` on these arrays with the final
            validation error (`weak_signal`, `model_below_knn`); once, never
            per batch. Defaults to `None`.

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
                 display=True, lr_control=False, signal_check=None,
                 log_batch_stats=False, stop_on=(), restore_best=False):
        super().__init__()
        from keras_curvewatch.control.controller import LRController
        from keras_curvewatch.control.controller import as_control

        control = as_control(lr_control)
        self._lr = LRController(control) if control is not None else None
        batch_size, n_train, n_val = (
            arguments.count(value, name, "CurveWatch") for name, value in (
                ("batch_size", batch_size), ("n_train", n_train),
                ("n_val", n_val)))
        backup_dir = _backup_path(backup_dir)
        self.batch_size = batch_size
        self.n_train = n_train
        self.n_val = n_val
        self.log_batch_stats = arguments.flag(
            log_batch_stats, "log_batch_stats", "CurveWatch")
        self.per_batch = arguments.flag(per_batch, "per_batch", "CurveWatch")
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self.display = arguments.flag(display, "display", "CurveWatch")
        self._session = DiagnosisSession(batch_size, n_train, n_val)
        self._monitor = (MonitorCheck(control.monitor)
                         if control is not None else None)
        if signal_check is not None and (
                not isinstance(signal_check, (tuple, list))
                or len(signal_check) != 2):
            raise ConfigError(
                "CurveWatch signal_check must be an (x, y) pair or None. "
                f"Received {type(signal_check).__name__}.")
        self.signal_check = signal_check
        self._notifier = Notifier(warn)
        self._accumulator = None
        self._live = None
        self._cadence = DiagnosisCadence()
        self._stopper = Stopper(stop_on, restore_best)
        self._reset()

    def _reset(self):
        self._pending_lr_state = None
        self.report = None
        self.disabled = False
        self.error = None
        self.resumed_at = None
        self._chief = True
        if self._monitor is not None:
            self._monitor.reset()
        self._session.reset()
        self._notifier.reset()
        self._cadence.start()
        self._stopper.reset()
        self._labels_read, self._label_counts, self._split = False, None, []
        self._marks = []  # (row, mark) of epochs whose batches wait
        # The validation set's size from Keras's loss tracker, read at the
        # first epoch that validated (see `_read_val_count`); None before.
        self._tracked_n_val = None

    @property
    def history(self):
        """dict of str to list of float. The epoch logs seen so far."""
        return self._session.history

    @property
    def _epochs(self):
        return self._session.epochs

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
                self._session.add_note(
                    _PER_BATCH_OFF.format(why="per_batch=False"))
            self._live = None
            if self.display and self._chief:
                self._live = _create_live_display()
            self._lint_model()
        except Exception as error:
            self._disable(error)
        if self._lr is not None:
            try:
                self._lr.on_train_begin(self.model,
                                        resume=self._pending_lr_state)
            except ConfigError:
                # A rate that cannot be changed live must stop fit here,
                # with a message saying what to pass instead.
                raise
            except Exception as error:
                self._disable(error)
            self._pending_lr_state = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.disabled:
            return
        try:
            if self._lr is not None:
                # After every on_train_begin: BackupAndRestore's weights are
                # in place whatever the order of the callbacks.
                self._lr.on_epoch_begin(epoch)
        except Exception as error:
            self._disable(error)
            return
        if self._accumulator is None:
            return
        try:
            # The label counts are read after the first epoch only.
            self._accumulator.clear(labels=not self._labels_read)
        except Exception as error:
            self._disable(error)

    def on_epoch_end(self, epoch, logs=None):
        if self.disabled:
            return
        try:
            if self._lr is not None and logs is not None:
                for key, value in self._lr.epoch_logs().items():
                    logs.setdefault(key, value)
            self._epoch_end(epoch, logs if logs is not None else {})
            if self._monitor is not None:
                self._monitor.epoch_end(logs or {})
        except Exception as error:
            self._disable(error)

    def on_train_end(self, logs=None):
        if not self.disabled and self._cadence.behind:
            try:  # The epochs since the last diagnosis (see cadence.py).
                self.report = self._diagnose()
                if self._live is not None:
                    self._live.update(self.report)
            except Exception as error:
                self._disable(error)
        if not self.disabled and self.report is not None and self._chief:
            try:
                if self.signal_check is not None:  # issue 16, once per fit
                    from keras_curvewatch.preflight.signal_live import (
                        add_signal_check)

                    check = add_signal_check(
                        self.report, self.model, self.history,
                        *self.signal_check,
                        n_val=self._session.measured.get("n_val"))
                    self._session.merge(self.report, extra=check.findings)
                # The end-of-run findings held back during training.
                raised = self._notifier.notify(
                    self.report.findings, shown_live=self._live is not None)
                self._session.record_warned(raised)
            except Exception as error:
                self._disable(error)
        if self._lr is not None and not self.disabled:
            try:
                self._monitor.train_end(self.history)
                self._lr.on_train_end()
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
        if self._tracked_n_val is None and "val_loss" in logs:
            self._read_val_count()
        mark = (self._accumulator.mark_epoch((self.params or {}).get("steps"))
                if self._deferrable() else None)
        if mark is not None:
            # Its batches stay in the ring until the next diagnosis, or
            # until the ring has no room for another epoch: then all the
            # waiting epochs, this one too, are read with one transfer.
            self._session.add_epoch(epoch, entry)
            self._marks.append((len(self._session.epochs) - 1, mark))
            if not self._ring_has_room():
                self._read_marked()
        else:
            self._read_marked()
            self._add_read_epoch(epoch, logs, entry)
        # The learning-rate control and stop_on read a fresh report at every
        # epoch; otherwise the cadence decides (see cadence.py).
        if (self._lr is not None or self._stopper.active
                or self._cadence.due(self.history, entry)):
            with self._cadence.timed():
                self._diagnose_and_notify(epoch, logs)
        if self._chief and self.backup_dir is not None:
            self._save()

    def _read_val_count(self):
        """Reads the validation set's size from Keras's loss tracker, once
        per `fit`, when the tap does not count it in the test step
        (`loss_tap.validation_counter`); 0 when the tap counts it or
        nothing is measured, so that later epochs skip the call."""
        counter = None
        if (self._accumulator is not None
                and not self._accumulator.counts_validation):
            counter = loss_tap.validation_counter(self.model)
        self._tracked_n_val = 0 if counter is None else int(round(
            counter()))

    def _deferrable(self):
        """Whether this epoch's batch statistics can wait for the next
        diagnosis: the ring-only path, and nothing that reads them every
        epoch (logs, a backup, the controllers)."""
        return not (self._accumulator is None or not self._labels_read
                    or self._accumulator.trace_error is not None
                    or self.log_batch_stats or self.backup_dir is not None
                    or self._lr is not None or self._stopper.active)

    def _ring_has_room(self):
        """Whether the ring holds the epochs waiting and one more of the
        last one's length. Once it does not, they are read at once: one
        transfer per ringful (before, the epoch that found the ring full
        was read on its own, a second transfer and fold, 0.3 ms, in 83 of
        the 1,000 epochs of the long case's Dense batch-4 fit on JAX)."""
        first, last = self._marks[0][1], self._marks[-1][1]
        waiting = last[1] - first[0]
        return waiting + (last[1] - last[0]) <= self._accumulator.capacity

    def _read_marked(self):
        """Reads the batches of the epochs waiting, with one transfer, and
        fills in their rows (their statistics computed all at once)."""
        if not self._marks:
            return
        marks, self._marks = self._marks, []
        results = self._accumulator.read_marked([m for _, m in marks])
        present = [(index, b) for (index, _), b in zip(marks, results)
                   if b is not None]
        measured = self._measured_many(results)
        # Lists of Python floats, converted once for all the epochs, and
        # filled in a column at a time (epochs overwritten by the ring
        # wrapping, or not counted, keep their NaN).
        columns = ({k: column.tolist() for k, column in rows_to_logs(
            np.stack([b.stats for _, b in present])).items()}
            if present else {})
        self._session.fill_epochs([index for index, _ in present], columns,
                                  [b.losses for _, b in present])
        self._session.measured = measured

    def _measured_many(self, results):
        """What `_measured` gives after the epochs `results` (None for an
        epoch not read) one after another: the last read epoch's sizes,
        the last validation size measured, and `complete` only if every
        epoch, before them too, was read whole."""
        before = self._session.measured
        read = [b for b in results if b is not None]
        if not read:
            return dict(before, complete=False) if results else before
        complete = before.get("complete", True) and all(
            b is not None and b.complete for b in results)
        val = next((b.val_samples for b in reversed(read) if b.val_samples),
                   None)
        measured = self._measured(read[-1])
        measured.update(n_val=val or self._tracked_n_val or before.get(
            "n_val"),
                        complete=bool(complete))
        return measured

    def _add_read_epoch(self, epoch, logs, entry):
        batch_stats = self._read_batch_stats()
        batch_losses = None
        if batch_stats is not None:
            batch_losses = batch_stats.losses
            for key, value in batch_stats.to_logs().items():
                if key not in logs:  # Never overwrite what Keras wrote.
                    entry[key] = value
                    if self.log_batch_stats:  # Else kept off the progbar.
                        logs[key] = value
        if not self._labels_read and self._accumulator is not None:
            self._labels_read = True
            self._label_counts, self._split = label_counts.read_first_epoch(
                self._accumulator)
        self._session.add_epoch(epoch, entry, batch_losses,
                                self._measured(batch_stats))

    def _diagnose_and_notify(self, epoch, logs):
        self.report = self._control(epoch, logs, self._diagnose())
        self._stopper.on_epoch_end(self.model, epoch, self.report,
                                   self.history, self._label_counts)
        if self._chief:
            raised = self._notifier.notify(
                self._session.live_findings(self.report),
                shown_live=self._live is not None)
            self._session.record_warned(raised)
            if self._live is not None:
                self._live.update(self.report)

    def _control(self, epoch, logs, report):
        """Applies the learning-rate control, if any, and merges its
        actions and findings into the report before they are raised."""
        if self._lr is None:
            return report
        since, segment = self._lr.segment_since(), None
        if since is not None:
            inputs = segment_curves(report, since)
            if inputs is not None:
                segment = diagnose(*inputs)
        result = self._lr.on_epoch_end(epoch, logs, report, segment)
        report.actions = list(self._lr.actions)
        findings = getattr(self._lr, "findings", None)
        if findings is None:  # a controller that returns its finding
            findings = [result["finding"]] if result.get("finding") else []
        report = self._session.merge(report, findings)
        if result.get("message") and self._chief:
            logging.getLogger(LOGGER_NAME).info(result["message"])
        return report

    def _lint_model(self):
        """Pre-flight lint of the model (relu before softmax, logits, too
        much dropout), merged into every epoch's report."""
        report = lint_report(self.model, source="CurveWatch")
        self._session.set_lint(report.findings, report.notes)

    def _read_batch_stats(self):
        if self._accumulator is None:
            return None
        if self._accumulator.trace_error is not None:
            raise self._accumulator.trace_error
        batch_stats = self._accumulator.read()
        if batch_stats is None:  # not known this epoch (see read_marked)
            return None
        if batch_stats.n_batches == 0:
            # A custom train_step that never calls compute_loss.
            self._session.add_note(_PER_BATCH_OFF.format(
                why="the train step never called model.compute_loss"))
            self._accumulator = None
            return None
        return batch_stats

    def _measured(self, batch_stats):
        """What the device measured this epoch, for the session."""
        if batch_stats is None:
            return None
        before = self._session.measured
        return {
            "batch_size": batch_stats.batch_size,
            "n_train": batch_stats.samples,
            "steps_per_epoch": batch_stats.n_batches,
            "n_val": (batch_stats.val_samples or self._tracked_n_val
                      or before.get("n_val")),
            "complete": bool(batch_stats.complete
                             and before.get("complete", True)),
        }

    def _diagnose(self):
        self._read_marked()
        report = self._session.report(
            model=self.model, steps_per_epoch=(self.params or {}).get("steps"),
            extra=self._split,
            class_counts=(self._label_counts or {}).get("train"))
        # The split mismatch is the first cause of every curve finding.
        report.findings = sort_findings(blame_split(report.findings,
                                                    self._split))
        return report

    def _disable(self, error):
        self.disabled = True
        self.error = error
        message = (
            "keras_curvewatch hit an internal error and switched itself off; "
            f"training goes on. {type(error).__name__}: {error}"
        )
        try:
            # One line; the traceback only when asked for (see
            # warning_types.debug_requested).
            logging.getLogger(LOGGER_NAME).error(
                message, exc_info=error if debug_requested() else None)
            warnings.warn(message, CurvewatchDisabledWarning, stacklevel=2)
        except Exception:  # e.g. warnings turned into errors: stay silent.
            pass


def _create_live_display():
    if "IPython" not in sys.modules:  # Not in a notebook: skip the import.
        return None
    try:
        from keras_curvewatch.render.live import LiveDisplay
    except ImportError:
        return None
    return LiveDisplay.create()
