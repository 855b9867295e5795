"""`Stopper`: stops a run once a chosen finding turns critical, for
`CurveWatch(stop_on=..., restore_best=...)`.

Sweeps and tuners start many runs that a glance at the curves would kill:
a NaN loss, a loss that grows, one that never moves. The stopper sets
`model.stop_training`, optionally puts back the weights of the recommended
epoch (kept on the host as the run goes, as `EarlyStopping` does with
`restore_best_weights`), and records why in `report.stopped`.
"""

import logging
import math

import numpy as np

from keras_curvewatch.engine.findings import CODES
from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.live.warning_types import LOGGER_NAME

# A run that collapsed to chance level: a constant loss at chance, or a
# validation accuracy equal to one class's share (a constant prediction):
# its output no longer depends on the input (dead units, saturated softmax).
CHANCE_LEVEL = "chance_level"
CONDITIONS = CODES + (CHANCE_LEVEL,)
PRESETS = {
    "hopeless": ("nan_loss", "diverging", "not_learning", CHANCE_LEVEL),
}
# `not_learning` is critical from its first report (5 epochs); a slow
# start (plateau_then_drop, 5+ flat epochs, often at chance) must have had
# time to leave its plateau before the run is stopped, by not_learning or
# chance_level (bench/stop_on.py: no healthy run of the sweep is stopped
# with 8).
NOT_LEARNING_MIN_EPOCHS = 8
# The collapse must hold this many epochs in a row ...
COLLAPSE_EPOCHS = 4
# ... within this relative range: a loss that still moves by 0.1% per
# epoch is still learning something; a dead network repeats its loss to
# float32 precision.
COLLAPSE_RELATIVE_RANGE = 1e-3
# A constant prediction but for this many validation samples: a network
# that answers one class for all but a sample or two is no better than
# the majority guess (bench/stop_on.py: sgd_12 is right on 60 of 120, the
# 59 of its largest class plus one).
CONSTANT_PREDICTION_SLACK = 2.5
# Chance level: ln(K) for a uniform guess over K classes, or the entropy
# of the label shares (a guess of the class prior); 2% as in the
# not_learning rule's CHANCE_LOSS_TOLERANCE.
CHANCE_TOLERANCE = 0.02
# Largest number of classes tried for ln(K).
CHANCE_MAX_CLASSES = 100_000


def parse_stop_on(stop_on):
    """Expands `stop_on` into a tuple of conditions.

    Args:
        stop_on: str or sequence of str. Finding codes, `"chance_level"`,
            or a preset (`"hopeless"`).

    Returns:
        tuple of str, each in `CONDITIONS`.

    Raises:
        ConfigError: for an unknown entry or a non-string.
    """
    if stop_on is None:
        return ()
    entries = (stop_on,) if isinstance(stop_on, str) else stop_on
    try:
        entries = tuple(entries)
    except TypeError:
        raise ConfigError(
            "CurveWatch stop_on must be a finding code, a preset or a list "
            f"of them. Received stop_on={stop_on!r}.") from None
    out = []
    for entry in entries:
        if entry in PRESETS:
            expanded = PRESETS[entry]
        elif isinstance(entry, str) and entry in CONDITIONS:
            expanded = (entry,)
        else:
            raise ConfigError(
                f"CurveWatch stop_on got an unknown entry {entry!r}. "
                f"Expected a preset {tuple(PRESETS)} or a finding code: "
                f"{CONDITIONS}.")
        out.extend(c for c in expanded if c not in out)
    return tuple(out)


def chance_collapse(history, counts=None):
    """The run sits at chance level over its last `COLLAPSE_EPOCHS`: a
    constant training loss at chance, or a validation accuracy that equals
    one class's share of the validation labels at every one of them.

    Args:
        history: dict of str to list of float. The epoch logs so far.
        counts: dict or None. `"train"` and `"val"` label counts per
            class, as CurveWatch counts them in the first epoch.

    Returns:
        dict of evidence, or None.
    """
    counts = counts or {}
    hit = _constant_prediction(history, counts.get("val"))
    if hit is not None:
        return hit
    return _constant_chance_loss(history.get("loss", []), counts.get("train"))


def _constant_prediction(history, val_counts):
    names = [k for k in history if k.startswith("val_") and "acc" in k]
    if not names or val_counts is None or sum(val_counts) <= 0:
        return None
    tail = np.asarray(history[names[0]][-COLLAPSE_EPOCHS:], dtype=np.float64)
    if len(tail) < COLLAPSE_EPOCHS:
        return None
    n_val = float(sum(val_counts))
    shares = np.asarray(val_counts, dtype=np.float64) / n_val
    gaps = np.abs(tail[:, None] - shares[None, :]).min(axis=1)
    if not np.all(gaps <= CONSTANT_PREDICTION_SLACK / n_val):
        return None
    # Imbalanced data is often answered with the majority class for a while
    # by a network that is still learning: its loss falls every epoch.
    losses = np.asarray(history.get("loss", [])[-COLLAPSE_EPOCHS:],
                        dtype=np.float64)
    if len(losses) == COLLAPSE_EPOCHS and np.all(np.diff(losses) < 0):
        return None
    return {"kind": "constant_prediction", "metric": names[0],
            "value": float(tail[-1])}


def _constant_chance_loss(losses, class_counts):
    tail = np.asarray(losses[-COLLAPSE_EPOCHS:], dtype=np.float64)
    if len(tail) < COLLAPSE_EPOCHS or not np.all(np.isfinite(tail)):
        return None
    level = float(np.mean(tail))
    if level <= 0 or np.ptp(tail) > COLLAPSE_RELATIVE_RANGE * level:
        return None
    levels = []
    if class_counts is not None and sum(class_counts) > 0:
        # Known classes: a uniform guess over them, or their prior.
        counts = np.asarray(class_counts, dtype=np.float64)
        shares = counts[counts > 0] / counts.sum()
        levels += [float(-np.sum(shares * np.log(shares))),
                   math.log(len(counts))]
    elif level <= math.log(CHANCE_MAX_CLASSES):
        k = int(round(math.exp(level)))
        if k >= 2:
            levels.append(math.log(k))
    for chance in levels:
        if chance > 0 and abs(level - chance) <= CHANCE_TOLERANCE * chance:
            return {"kind": "chance_loss", "loss": level,
                    "chance_loss": chance}
    return None


class Stopper:
    """Decides when to stop, keeps the recommended epoch's weights.

    Args:
        stop_on: str or sequence of str. See `parse_stop_on`. Defaults to
            `()`: never stop.
        restore_best: bool. On stopping, restore the weights of the
            recommended epoch. Defaults to `False`.

    Raises:
        ConfigError: if an argument is invalid.
    """

    def __init__(self, stop_on=(), restore_best=False):
        if not isinstance(restore_best, bool):
            raise ConfigError(
                "CurveWatch restore_best must be True or False. Received "
                f"restore_best={restore_best!r}.")
        self.conditions = parse_stop_on(stop_on)
        self.restore_best = restore_best
        self.reset()

    @property
    def active(self):
        """True when some finding code can stop the run: it then needs a
        fresh report every epoch."""
        return bool(self.conditions)

    def reset(self):
        self.stopped = None
        self._best_epoch = None
        self._best_weights = None

    def on_epoch_end(self, model, epoch, report, history, counts=None):
        """Keeps the best weights, stops the run if a condition holds and
        records it in `report.stopped`.

        Args:
            model: keras.Model.
            epoch: int. The epoch that just ended.
            report: `Report` for the epochs so far (amended in place).
            history: dict of str to list of float. The epoch logs so far.
            counts: dict or None. `"train"` and `"val"` label counts.
        """
        if not self.conditions:
            return
        if self.restore_best and report.best_epoch == epoch and (
                _finite_at_end(report)):
            self._best_epoch = epoch
            self._best_weights = model.get_weights()
        if self.stopped is None:
            reason = self._reason(report, history, counts)
            if reason is not None:
                self._stop(model, epoch, reason)
        if self.stopped is not None:
            report.stopped = dict(self.stopped)
            note = self._note()
            if note not in report.notes:
                report.notes.append(note)

    def _reason(self, report, history, counts):
        for finding in report.findings:
            if finding.code not in self.conditions or (
                    finding.severity != CRITICAL):
                continue
            if finding.code == "not_learning" and (
                    report.n_epochs < NOT_LEARNING_MIN_EPOCHS):
                continue
            return {"reason": finding.code, "code": finding.code,
                    "severity": finding.severity, "message": finding.message}
        if CHANCE_LEVEL not in self.conditions or (
                report.n_epochs < NOT_LEARNING_MIN_EPOCHS):
            return None
        evidence = chance_collapse(history, counts)
        if evidence is None:
            return None
        if evidence["kind"] == "chance_loss":
            what = (f"the training loss has stayed at {evidence['loss']:.4g}, "
                    f"the chance level ({evidence['chance_loss']:.4g})")
        else:
            what = (f"{evidence['metric']} has stayed at one class's share "
                    "of the validation labels, give or take two samples (a "
                    f"constant prediction), last {evidence['value']:.4g}")
        return {"reason": CHANCE_LEVEL, "code": None, "severity": CRITICAL,
                "message": (f"For {COLLAPSE_EPOCHS} epochs {what}: the "
                            "network's output no longer depends on its "
                            "input.")}

    def _stop(self, model, epoch, reason):
        model.stop_training = True
        restored = None
        if self.restore_best and self._best_weights is not None:
            model.set_weights(self._best_weights)
            restored = self._best_epoch
        self.stopped = dict(reason, epoch=int(epoch), restored_epoch=restored)
        logging.getLogger(LOGGER_NAME).info(self._note())

    def _note(self):
        stopped = self.stopped
        text = (f"CurveWatch stopped training after epoch {stopped['epoch']} "
                f"(stop_on: {stopped['reason']}).")
        if stopped["restored_epoch"] is not None:
            text += (" The weights of epoch "
                     f"{stopped['restored_epoch']} were restored.")
        elif self.restore_best:
            text += " No recommended epoch's weights were kept to restore."
        return text


def _finite_at_end(report):
    """Every loss curve is finite at the last epoch: weights from an epoch
    with a NaN loss are never kept."""
    values = [s.values[-1] for name, s in report.series.items()
              if name.endswith("loss") and s.values]
    return bool(values) and all(math.isfinite(v) for v in values)
