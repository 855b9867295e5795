"""CurveWatch's state file beside a `keras.callbacks.BackupAndRestore`
backup, so that a resumed run ends with the same report as an
uninterrupted one.

The file is written atomically: to a temporary file in the same folder,
then renamed over the old one, so an interruption never leaves half a file.
"""

import json
import os
import tempfile

from keras_curvewatch.errors import ConfigError

STATE_FILE = "curvewatch_state.json"
# Raised whenever the layout of the saved state changes.
STATE_VERSION = 1
# Written by `keras.callbacks.BackupAndRestore` in its `backup_dir`.
BACKUP_METADATA_FILE = "training_metadata.json"


def save_state(backup_dir, state):
    """Writes `state`, a JSON-ready dict, to `backup_dir` atomically."""
    os.makedirs(backup_dir, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=backup_dir,
                                    prefix=".curvewatch_state.")
    try:
        with os.fdopen(handle, "w") as f:
            json.dump(state, f)
        os.replace(temp, os.path.join(backup_dir, STATE_FILE))
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def load_state(backup_dir):
    """Reads the state saved beside a backup, if the run is resuming.

    Returns:
        `(resume_epoch, state)`: the epoch `BackupAndRestore` resumes at
        and the saved dict, or `None` when `backup_dir` lacks the backup's
        metadata or the state file (a fresh run).

    Raises:
        ConfigError: the state file was written by an unsupported version.
    """
    metadata = os.path.join(backup_dir, BACKUP_METADATA_FILE)
    path = os.path.join(backup_dir, STATE_FILE)
    if not (os.path.exists(metadata) and os.path.exists(path)):
        return None
    with open(metadata) as f:
        resume_epoch = int(json.load(f)["epoch"])
    with open(path) as f:
        state = json.load(f)
    check_version(state, path)
    return resume_epoch, state


def check_version(state, path=None):
    """Raises `ConfigError` unless `state` has the supported version."""
    if state.get("version") != STATE_VERSION:
        where = f" in {path}" if path else ""
        raise ConfigError(
            f"CurveWatch state version {state.get('version')!r}{where} is "
            f"not supported; expected {STATE_VERSION}."
        )
