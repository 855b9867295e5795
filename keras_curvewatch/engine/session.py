"""`DiagnosisSession`: the one engine every path goes through.

`analyze()` gives it a whole history at once; `CurveWatch` feeds it one
epoch at a time. Either way it runs the rules (`engine.diagnosis`) and
merges what other sources found (the pre-flight lint, the learning-rate
controller) in one place, `merge`, so that each code appears once. It also
remembers which findings were shown to the user while training ran, so
that the final report accounts for a warning that no longer holds
(`Report.cleared`).

This module imports neither keras nor tensorflow.
"""

import itertools
import math

import numpy as np

from keras_curvewatch.engine import codes
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.engine.curves import rename_aliases
from keras_curvewatch.engine.diagnosis import build_context
from keras_curvewatch.engine.diagnosis import diagnose
from keras_curvewatch.engine.floats import decode_float
from keras_curvewatch.engine.floats import encode_float
from keras_curvewatch.engine.rules import merge_findings
from keras_curvewatch.engine.rules import superseded_by

# Per-batch losses kept for the per-batch diagnoses: about 400 KiB of
# floats; the oldest whole epochs are dropped beyond it.
MAX_BATCH_LOSSES = 50000


class DiagnosisSession:
    """Diagnoses one training run, from a whole history or epoch by epoch.

    Args:
        batch_size: int or None. Training batch size, when known. Defaults
            to `None`: measured values passed to `add_epoch` are used.
        n_train: int or None. Training samples per epoch. Defaults to `None`.
        n_val: int or None. Validation samples. Defaults to `None`.
        source: str. Where the curves come from, for the report. Defaults
            to `"CurveWatch"`.

    Example:

    ```python
    session = DiagnosisSession(batch_size=32)
    for epoch, logs in enumerate(per_epoch_logs):
        session.add_epoch(epoch, logs)
        report = session.report()
        raised = [f for f in session.live_findings(report)]
        session.record_warned(raised)
    ```
    """

    def __init__(self, batch_size=None, n_train=None, n_val=None,
                 source="CurveWatch"):
        self.batch_size = batch_size
        self.n_train = n_train
        self.n_val = n_val
        self.source = source
        self.reset()

    def reset(self):
        """Forgets the run: epochs, statistics, lint findings, warnings."""
        self.history = {}
        self.epochs = []
        self.gaps = {}  # val_* key -> rows where validation did not run
        self.epoch_batch_losses = []
        self._batch_loss_count = 0  # sum of their lengths
        self.measured = {}
        self.notes = []
        self.lint_findings = []
        self.warned = {}  # code -> {"severity", "epoch", "message"}
        self.absent_since = {}  # code -> first epoch it was no longer found

    # Inputs.

    def add_epoch(self, epoch, logs, batch_losses=None, measured=None):
        """Appends one epoch.

        Args:
            epoch: int. The epoch label.
            logs: dict of str to float. The epoch's logs.
            batch_losses: list of float or None. The epoch's per-batch
                training losses, in order.
            measured: dict or None. What the device measured this epoch:
                `batch_size`, `n_train`, `steps_per_epoch`, `n_val`,
                `complete` (every batch loss was seen).
        """
        n = len(self.epochs)
        for key in logs:
            if key not in self.history:
                self.history[key] = [math.nan] * n
                if key.startswith("val_") and n:  # validation_freq > 1
                    self.gaps[key] = list(range(n))
        for key, values in self.history.items():
            values.append(logs.get(key, math.nan))
            if key not in logs and key.startswith("val_"):
                self.gaps.setdefault(key, []).append(n)
        self.epochs.append(int(epoch))
        if measured is not None:
            self.measured = dict(measured)
        if batch_losses is not None:
            self._add_batch_losses(batch_losses)

    def fill_epochs(self, rows, columns, batch_losses=None):
        """Fills in what was measured for several epochs already added,
        one column at a time, keeping what the logs hold already.

        Args:
            rows: list of int. The epochs' rows, in order.
            columns: dict of str to list of float. `columns[key][j]` goes
                to row `rows[j]` of `key`, where that cell is NaN (a value
                logged by Keras is kept).
            batch_losses: list or None. The epochs' per-batch losses
                (`batch_losses[j]` for row `rows[j]`).
        """
        n = len(self.epochs)
        for key, column in columns.items():
            values = self.history.get(key)
            if values is None:
                values = self.history[key] = [math.nan] * n
            for row, value in zip(rows, column):
                if values[row] != values[row]:  # NaN: nothing logged there
                    values[row] = value
        for losses in batch_losses or ():
            self._add_batch_losses(losses)

    def _add_batch_losses(self, batch_losses):
        losses = np.asarray(batch_losses, dtype="float64").tolist()
        self.epoch_batch_losses.append(losses)
        self._batch_loss_count += len(losses)
        while (len(self.epoch_batch_losses) > 1
               and self._batch_loss_count > MAX_BATCH_LOSSES):
            self._batch_loss_count -= len(self.epoch_batch_losses.pop(0))

    def add_note(self, note):
        """Adds a note to every report, once."""
        if note not in self.notes:
            self.notes.append(note)

    def set_lint(self, findings, notes=()):
        """The pre-flight lint findings, merged into every report."""
        self.lint_findings = [f for f in findings
                              if codes.get(f.code).source == codes.LINT]
        for note in notes:
            self.add_note(note)

    # The engine.

    def analyze(self, curves, context, batch_losses=None, extra=()):
        """Runs the rules on `curves` and merges `extra` findings.

        Args:
            curves: `Curves`.
            context: `RunContext`.
            batch_losses: per-batch training losses in order, or None.
            extra: iterable of `Finding` from other sources.

        Returns:
            `Report`.
        """
        report = diagnose(curves, context, batch_losses=batch_losses)
        for note in self.notes:
            if note not in report.notes:
                report.notes.append(note)
        return self.merge(report, extra)

    def report(self, model=None, steps_per_epoch=None, extra=(),
               class_counts=None):
        """The report on the epochs added so far.

        Args:
            model: a `keras.Model` or None. Fills the parameter count, the
                layers and the optimizer.
            steps_per_epoch: int or None. Batches per epoch.
            extra: iterable of `Finding` from other sources.
            class_counts: list of int or None. Training labels per class.

        Returns:
            `Report`.
        """
        measured = self.measured
        batch_losses = None
        if self.epoch_batch_losses and measured.get("complete"):
            batch_losses = list(itertools.chain.from_iterable(
                self.epoch_batch_losses))
        gaps = {}
        for key, rows in rename_aliases(self.gaps).items():
            gaps[key] = np.zeros(len(self.epochs), dtype=bool)
            gaps[key][rows] = True
        curves = Curves(values=rename_aliases(self.history),
                        epochs=list(self.epochs), source=self.source,
                        gaps=gaps)
        context = build_context(
            curves,
            batch_size=self.batch_size or measured.get("batch_size"),
            n_train=self.n_train or measured.get("n_train"),
            n_val=self.n_val or measured.get("n_val"),
            model=model,
            steps_per_epoch=steps_per_epoch or measured.get(
                "steps_per_epoch"),
            class_counts=class_counts,
        )
        return self.analyze(curves, context, batch_losses, extra)

    def merge(self, report, extra=()):
        """The one merge point: the report's findings, the lint findings
        and `extra` become one finding per code, and the findings warned
        earlier but no longer found go to `report.cleared`.

        Args:
            report: `Report`. Modified in place.
            extra: iterable of `Finding`, e.g. the learning-rate
                controller's.

        Returns:
            `report`.
        """
        findings = list(report.findings) + self.lint_findings + list(extra)
        report.findings = merge_findings(findings)
        report.cleared = self._cleared(report)
        return report

    # Warnings shown during training, and the ones that cleared.

    def live_findings(self, report):
        """The findings that may be warned while training runs: all but
        the end-of-run ones (still improving is true of every run part-way
        through)."""
        return [f for f in report.findings
                if not codes.get(f.code).end_of_run]

    def record_warned(self, findings):
        """Remembers findings that were shown to the user, with the epoch
        at which they were shown."""
        for finding in findings:
            self.warned[finding.code] = {
                "severity": finding.severity,
                "epoch": self.epochs[-1] if self.epochs else None,
                "message": finding.message,
            }
            self.absent_since.pop(finding.code, None)

    def _cleared(self, report):
        last = self.epochs[-1] if self.epochs else None
        present = set(report.codes)
        cleared = []
        for code, warned in self.warned.items():
            if code in present:
                self.absent_since.pop(code, None)
                continue
            since = self.absent_since.setdefault(code, last)
            cleared.append({
                "code": code,
                "severity": warned["severity"],
                "warned_epoch": warned["epoch"],
                "cleared_epoch": since,
                "reason": _clear_reason(code, present, since),
            })
        return cleared

    # State, for a resumed run.

    def get_state(self):
        """Returns the session's state as a JSON-ready dict."""
        return {
            "epochs": list(self.epochs),
            "history": {k: [encode_float(v) for v in vs]
                        for k, vs in self.history.items()},
            "epoch_batch_losses": [[encode_float(v) for v in e]
                                   for e in self.epoch_batch_losses],
            "measured": dict(self.measured),
            "gaps": {k: list(rows) for k, rows in self.gaps.items()},
            "warned": {k: dict(v) for k, v in self.warned.items()},
            "absent_since": dict(self.absent_since),
        }

    def set_state(self, state, n_epochs=None):
        """Restores `get_state()` output, keeping its first `n_epochs`."""
        keep = len(state["epochs"]) if n_epochs is None else int(n_epochs)
        self.epochs = [int(e) for e in state["epochs"][:keep]]
        self.history = {k: [decode_float(v) for v in vs[:keep]]
                        for k, vs in state["history"].items()}
        losses = state["epoch_batch_losses"]
        drop = len(state["epochs"]) - keep
        if drop > 0:
            losses = losses[:max(len(losses) - drop, 0)]
        self.epoch_batch_losses = [[decode_float(v) for v in e]
                                   for e in losses]
        self._batch_loss_count = sum(map(len, self.epoch_batch_losses))
        self.measured = dict(state.get("measured", {}))
        self.gaps = {k: [int(r) for r in rows if int(r) < keep]
                     for k, rows in state.get("gaps", {}).items()}
        self.warned = {k: dict(v) for k, v in state.get("warned", {}).items()}
        self.absent_since = {
            k: v for k, v in state.get("absent_since", {}).items()
            if v is None or v in self.epochs}


def _clear_reason(code, present, since):
    for basic in sorted(present):
        if code in superseded_by(basic):
            return (f"superseded by {basic}, which makes {code} moot")
    return (f"not found from epoch {since} on: with more epochs its "
            "evidence fell below the rule's threshold, a passing phase "
            "rather than a lasting problem")
