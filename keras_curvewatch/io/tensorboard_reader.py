"""Reading scalars from TensorBoard event files without TensorFlow.

`keras.callbacks.TensorBoard` writes `train/` and `validation/` folders of
`events.out.tfevents.*` files. Each file is a TFRecord stream of `Event`
protocol buffers, decoded by `keras_curvewatch.io.tfevents` in pure Python, so
reading a log directory imports neither tensorflow nor tensorboard.
"""

import collections
import os
import re

import numpy as np

from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import InputError
from keras_curvewatch.io.tables import restarts
from keras_curvewatch.io.tfevents import is_event_file  # noqa: F401 (re-exported)
from keras_curvewatch.io.tfevents import read_event_scalars

# How keras.callbacks.TensorBoard names its sub-folders, and the key prefix
# each one gets (validation/epoch_loss -> val_loss).
_ROLE_PREFIX = {"train": "", "validation": "val_"}
# keras.callbacks.TensorBoard writes epoch-level tags as f"epoch_{name}".
_EPOCH_TAG_PREFIX = "epoch_"
# Tags that are not per-epoch curves: per-batch scalars and the
# `evaluation_{name}_vs_iterations` curves indexed by optimizer step.
_NON_EPOCH_TAG = re.compile(r"^batch_|_vs_iterations$")

# Tolerance when matching an epoch's last running mean with its epoch value:
# both are the same float32 logged twice, so only rounding can differ.
_RUNNING_MEAN_RTOL = 1e-5


def _file_order(name):
    # events.out.tfevents.<unix time>.<host>... : order files by creation time.
    match = re.search(r"tfevents\.(\d+)", name)
    return (int(match.group(1)) if match else 0, name)


def _event_files(path):
    """Maps each run folder under `path` to {role: [event files]}."""
    path = os.fspath(path)
    if os.path.isfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        role = os.path.basename(folder)
        return {folder: {role if role in _ROLE_PREFIX else "train": [path]}}
    runs = {}
    for folder, _, names in os.walk(path):
        files = sorted((n for n in names if "tfevents" in n), key=_file_order)
        if not files:
            continue
        role = os.path.basename(folder)
        if role in _ROLE_PREFIX and os.path.abspath(folder) != os.path.abspath(
            path
        ):
            run = os.path.dirname(folder)
        else:
            run, role = folder, role if role in _ROLE_PREFIX else "train"
        runs.setdefault(run, {}).setdefault(role, []).extend(
            os.path.join(folder, n) for n in files
        )
    return runs


def _pick_run(path, notes):
    runs = _event_files(path)
    if not runs:
        try:
            found = sorted(os.listdir(path))[:10]
        except OSError:
            found = []
        raise InputError(
            f"{path}: no TensorBoard event files (events.out.tfevents.*) "
            f"found in this directory or below; it contains {found}. "
            "Expected the log_dir of keras.callbacks.TensorBoard."
        )
    if len(runs) == 1:
        return next(iter(runs.items()))

    def newest(item):
        return max(os.path.getmtime(f) for fs in item[1].values() for f in fs)

    run, roles = max(runs.items(), key=newest)
    others = sorted(os.path.relpath(r, path) for r in runs if r != run)
    notes.append(
        f"The log directory holds {len(runs)} TensorBoard runs; read the "
        f"newest, {os.path.relpath(run, path)!r}, and ignored {others}."
    )
    return run, roles


def _last_run(points):
    """Keeps the points after the last step reset; returns (points, n_runs)."""
    resets = restarts([step for step, _ in points])
    start = resets[-1] if resets else 0
    return points[start:], len(resets) + 1


def _role_series(files):
    # Several fit() calls write several files: order them by their first
    # scalar's wall time (names share one timestamp resolution of 1 s).
    events = [read_event_scalars(f) for f in files]
    events.sort(key=lambda scalars: scalars[0].wall_time if scalars else 0.0)
    series = collections.OrderedDict()
    for scalars in events:
        for event in scalars:
            series.setdefault(event.tag, []).append((event.step, event.value))
    return series


def load_tensorboard(path):
    """Loads per-epoch curves from a `keras.callbacks.TensorBoard` log_dir.

    `train/epoch_loss` becomes `loss` and `validation/epoch_loss` becomes
    `val_loss`; the step of each scalar is its epoch. When the step counter
    restarts (several `fit()` calls logging to one folder), the last run
    is kept and a note says so.

    Args:
        path: str or `os.PathLike`. A log directory, a run's `train/` or
            `validation/` folder, or a single event file.

    Returns:
        `Curves`, with `source` set to `str(path)`.

    Raises:
        InputError: if there are no event files or no epoch scalars.
        FormatError: if an event file does not parse.

    Example:

    ```python
    curves = load_tensorboard("logs/fit")
    curves.get("val_loss")
    ```
    """
    notes = []
    run, roles = _pick_run(path, notes)
    series, tags_seen, restarted = {}, [], 0
    for role in sorted(roles, key=lambda r: r != "train"):
        raw = _role_series(roles[role])
        tags_seen.extend(f"{role}/{t}" for t in raw)
        epoch_tags = [t for t in raw if t.startswith(_EPOCH_TAG_PREFIX)]
        if not epoch_tags:  # custom tf.summary writers: any non-batch scalar
            epoch_tags = [t for t in raw if not _NON_EPOCH_TAG.search(t)]
        for tag in epoch_tags:
            name = (
                tag[len(_EPOCH_TAG_PREFIX) :]
                if tag.startswith(_EPOCH_TAG_PREFIX)
                else tag
            )
            prefix = _ROLE_PREFIX[role]
            key = name if name.startswith(prefix) else prefix + name
            points, n_runs = _last_run(raw[tag])
            restarted = max(restarted, n_runs)
            series[key] = dict(points)
    if not series:
        raise InputError(
            f"{path}: found TensorBoard event files but no per-epoch scalars; "
            f"tags found: {sorted(tags_seen)[:20]}. Expected tags such as "
            "'epoch_loss' written by keras.callbacks.TensorBoard."
        )
    if restarted > 1:
        notes.append(
            f"The step counter restarts ({restarted} runs logged to "
            "the same folder); kept the last run of each curve."
        )
    epochs = sorted(set().union(*series.values()))
    values = {
        key: [points.get(e, np.nan) for e in epochs]
        for key, points in series.items()
    }
    return Curves(
        values=values, epochs=np.array(epochs), source=str(path), notes=notes
    )


def load_batch_losses(path, tag="batch_loss", undo_running_mean=True):
    """Reads per-batch training losses from a TensorBoard log directory.

    They are logged by `keras.callbacks.TensorBoard(update_freq="batch")`
    under the tag `batch_loss`. Keras 3 logs the mean of the epoch so far,
    not each batch's own loss; when the last value of every epoch equals
    that epoch's `epoch_loss`, the running mean is undone.

    Args:
        path: str or `os.PathLike`. A log directory or event file.
        tag: str. The scalar tag to read. Defaults to `"batch_loss"`.
        undo_running_mean: bool. Whether to recover each batch's own loss
            from Keras 3's running mean. Defaults to `True`.

    Returns:
        1-D float64 `np.ndarray` of the losses of the last run, in step
        order.

    Raises:
        InputError: if no event file holds `tag`.

    Example:

    ```python
    losses = load_batch_losses("logs/fit")
    report = keras_curvewatch.analyze("logs/fit", batch_losses=losses)
    ```
    """
    _, roles = _pick_run(path, [])
    raw = _role_series(roles.get("train", []))
    if tag not in raw:
        raise InputError(
            f"{path}: no {tag!r} scalars in the train event files; tags "
            f"found: {sorted(raw)[:20]}. Log per-batch losses with "
            "keras.callbacks.TensorBoard(update_freq='batch')."
        )
    points, _ = _last_run(raw[tag])
    losses = np.array([value for _, value in points], dtype=np.float64)
    epoch_tag = _EPOCH_TAG_PREFIX + tag[len("batch_") :]
    if undo_running_mean and epoch_tag in raw:
        epoch_points, _ = _last_run(raw[epoch_tag])
        epoch_values = np.array(
            [value for _, value in epoch_points], np.float64
        )
        losses = _undo_running_mean(losses, epoch_values)
    return losses


def _undo_running_mean(means, epoch_values):
    """Recovers per-batch values from per-epoch running means, if they are."""
    n_epochs = len(epoch_values)
    if n_epochs == 0 or len(means) % n_epochs:
        return means
    blocks = means.reshape(n_epochs, -1)
    if not np.allclose(
        blocks[:, -1], epoch_values, rtol=_RUNNING_MEAN_RTOL, equal_nan=True
    ):
        return means
    k = np.arange(1, blocks.shape[1] + 1)
    sums = blocks * k
    own = np.diff(sums, axis=1, prepend=0.0)
    return own.reshape(-1)
