"""`analyze()`: the diagnosis of a finished run, from a History, a dict or
a log file.

It loads the curves (`keras_curvewatch.io`) and hands them to the one
engine, `keras_curvewatch.engine.session.DiagnosisSession`, as the live
callback does epoch by epoch. Imports neither keras nor tensorflow (a
`model=` argument is inspected through
`keras_curvewatch.preflight.model_info`, which imports keras lazily).
"""

import os

from keras_curvewatch.engine import arguments
from keras_curvewatch.engine.diagnosis import build_context
from keras_curvewatch.engine.diagnosis import diagnose  # noqa: F401
from keras_curvewatch.engine.session import DiagnosisSession
from keras_curvewatch.engine.sources import load_source
from keras_curvewatch.errors import InputError


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
        A `Report`: `report.headline` (the bottom line),
        `report.findings` (most severe first), `report.best_epoch` (with
        `report.best_epoch_reason`), `report.series`, ...

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
    owner = "analyze"
    batch_size = arguments.count(batch_size, "batch_size", owner)
    n_train = arguments.count(n_train, "n_train", owner)
    n_val = arguments.count(n_val, "n_val", owner)
    n_params = arguments.count(n_params, "n_params", owner, minimum=0)
    steps_per_epoch = arguments.count(steps_per_epoch, "steps_per_epoch",
                                      owner)
    if layers is not None:
        layers = list(arguments.layer_names(layers, owner))
    model = arguments.model(model, owner)
    batch_losses = arguments.batch_losses(batch_losses, owner)
    curves = load_source(source)
    if batch_losses is None:
        batch_losses, steps_per_epoch = _tensorboard_batch_losses(
            source, curves, steps_per_epoch)
    context = build_context(
        curves, batch_size=batch_size, n_train=n_train, n_val=n_val,
        n_params=n_params, layers=layers, model=model,
        steps_per_epoch=steps_per_epoch, class_counts=class_counts)
    session = DiagnosisSession(source=curves.source)
    return session.analyze(curves, context, batch_losses=batch_losses)


def _tensorboard_batch_losses(source, curves, steps_per_epoch):
    """Per-batch losses from a TensorBoard log written with
    `update_freq="batch"`, or `(None, steps_per_epoch)`."""
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
