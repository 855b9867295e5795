"""Resuming CurveWatch with `keras.callbacks.BackupAndRestore`: its state
is saved beside the backup (`live/state.py`) every epoch and restored at
train begin, so that a resumed run ends with the same report, rate history
and weights as an uninterrupted one.
"""

import os

from keras_curvewatch.engine import arguments
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.live import state as callback_state


class ResumeMixin:
    """`get_state`, `set_state` and the backup I/O of `CurveWatch`.

    It uses the callback's `_session`, `_notifier`, `_lr`, `backup_dir` and
    `_pending_lr_state`.
    """

    def get_state(self):
        """Returns the callback's state as a JSON-ready dict."""
        state = self._session.get_state()
        state.update({
            "version": callback_state.STATE_VERSION,
            "notifier": self._notifier.get_state(),
            "lr_control": (self._lr.get_state() if self._lr is not None
                           else None),
        })
        return state

    def set_state(self, state, n_epochs=None):
        """Restores `get_state()` output, keeping its first `n_epochs`."""
        callback_state.check_version(state)
        self._session.set_state(state, n_epochs)
        self._notifier.set_state(state.get("notifier", {}))
        # Applied after the controller's own reset in on_train_begin.
        lr_state = state.get("lr_control")
        self._pending_lr_state = (lr_state, {}) if lr_state else None

    def _save(self):
        callback_state.save_state(self.backup_dir, self.get_state())
        if self._lr is not None and self._lr.snapshots_changed:
            callback_state.save_snapshots(self.backup_dir,
                                          self._lr.snapshots)
            self._lr.snapshots_changed = False

    def _restore(self):
        loaded = callback_state.load_state(self.backup_dir)
        if loaded is None:
            return
        resume_epoch, state = loaded
        kept = [e for e in state["epochs"] if e < resume_epoch]
        self.set_state(state, n_epochs=len(kept))
        if self._pending_lr_state is not None:
            self._pending_lr_state = (
                self._pending_lr_state[0],
                callback_state.load_snapshots(self.backup_dir),
                os.path.join(self.backup_dir,
                             callback_state.BACKUP_WEIGHTS_FILE))
        self.resumed_at = resume_epoch
        if len(kept) < resume_epoch:
            self._session.add_note(
                f"Resumed at epoch {resume_epoch} but CurveWatch's saved "
                f"state covers {len(kept)} epochs; the missing ones are not "
                "in the report."
            )



def backup_path(backup_dir):
    """`backup_dir=` as a str: a path, or a `BackupAndRestore`'s."""
    if backup_dir is None or isinstance(backup_dir, (str, os.PathLike)):
        return backup_dir
    path = getattr(backup_dir, "backup_dir", None)
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(
            "CurveWatch received backup_dir="
            f"{arguments.short(backup_dir)} ({type(backup_dir).__name__}); "
            "expected a path (str or os.PathLike), a "
            "keras.callbacks.BackupAndRestore or None.")
    return path
