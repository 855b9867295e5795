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
# The learning-rate control's best and trial weights, beside the state.
SNAPSHOT_FILE = "curvewatch_snapshots.npz"
# Raised whenever the layout of the saved state changes.
STATE_VERSION = 1
# Written by `keras.callbacks.BackupAndRestore` in its `backup_dir`.
BACKUP_METADATA_FILE = "training_metadata.json"
# ...and its weights and optimizer state.
BACKUP_WEIGHTS_FILE = "latest.weights.h5"


def _write_atomically(backup_dir, name, mode, write):
    """Writes file `name` in `backup_dir` through `write(file)`: to a
    temporary file in the same folder, then renamed over the old one."""
    os.makedirs(backup_dir, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=backup_dir, prefix=f".{name}.")
    try:
        with os.fdopen(handle, mode) as f:
            write(f)
        os.replace(temp, os.path.join(backup_dir, name))
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def save_state(backup_dir, state):
    """Writes `state`, a JSON-ready dict, to `backup_dir` atomically."""
    _write_atomically(backup_dir, STATE_FILE, "w",
                      lambda f: json.dump(state, f))


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


def save_snapshots(backup_dir, snapshots):
    """Writes the learning-rate control's host snapshots (name to
    `{"weights": [...], "optimizers": [[...], ...]}` or None) to
    `backup_dir` atomically, so a resumed run rolls back to the same
    weights as an uninterrupted one."""
    import numpy as np

    arrays = {}
    for name, snapshot in snapshots.items():
        if snapshot is None:
            continue
        weights, optimizers = snapshot["weights"], snapshot["optimizers"]
        arrays[f"{name}.sizes"] = np.asarray(
            [len(weights)] + [len(values) for values in optimizers])
        for i, value in enumerate(weights):
            arrays[f"{name}.w.{i}"] = value
        for j, values in enumerate(optimizers):
            for i, value in enumerate(values):
                arrays[f"{name}.o{j}.{i}"] = value
    _write_atomically(backup_dir, SNAPSHOT_FILE, "wb",
                      lambda f: np.savez(f, **arrays))


def load_snapshots(backup_dir):
    """Reads `save_snapshots()` output: a dict of name to snapshot, empty
    when there is no file."""
    import numpy as np

    path = os.path.join(backup_dir, SNAPSHOT_FILE)
    if not os.path.exists(path):
        return {}
    out = {}
    with np.load(path, allow_pickle=False) as data:
        names = [k[:-len(".sizes")] for k in data.files
                 if k.endswith(".sizes")]
        for name in names:
            sizes = [int(n) for n in data[f"{name}.sizes"]]
            out[name] = {
                "weights": [data[f"{name}.w.{i}"] for i in range(sizes[0])],
                "optimizers": [[data[f"{name}.o{j}.{i}"] for i in range(n)]
                               for j, n in enumerate(sizes[1:])]}
    return out
