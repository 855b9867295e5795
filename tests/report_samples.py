"""Reports built by hand for the renderer tests (no analysis involved),
and helpers to read a drawn matplotlib `Axes`.

The curves are generated: an overfitting run (validation loss turns up
after epoch 14) with one validation spike, an accuracy curve, per-batch
losses and one learning-rate change.
"""

import numpy as np

from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.report import Report
from keras_curvewatch.engine.report import SeriesStats

N_EPOCHS = 40
STEPS_PER_EPOCH = 25
SPIKE_EPOCH = 25
OVERFITTING_EPOCH = 15
BEST_EPOCH = 14
RAW_BEST_EPOCH = 17
LR_CHANGE_EPOCH = 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _running_median(values, window=5):
    half = window // 2
    return np.array([
        np.median(values[max(0, i - half): i + half + 1])
        for i in range(len(values))
    ])


def series_stats(name, values, spikes=(), direction="min"):
    """A `SeriesStats` with a running-median smoother and MAD noise."""
    values = np.asarray(values, dtype=float)
    smoothed = _running_median(values)
    noise = float(1.4826 * np.median(np.abs(values - smoothed)))
    epochs = list(range(len(values)))
    pick = np.argmin if direction == "min" else np.argmax
    raw, smooth = int(pick(values)), int(pick(smoothed))
    return SeriesStats(
        name=name, direction=direction, n_epochs=len(values),
        n_finite=len(values), first=values[0], last=values[-1],
        best=values[raw], raw_best_epoch=epochs[raw],
        smoothed_best=smoothed[smooth], smoothed_best_epoch=epochs[smooth],
        noise=noise, spikes=list(spikes), smoothed=smoothed.tolist(),
        values=values.tolist(), epochs=epochs,
    )


def findings():
    return [
        Finding(
            "overfitting", "critical",
            "val_loss rises while loss keeps falling since epoch 15.",
            series="val_loss", epoch=OVERFITTING_EPOCH,
            evidence={"gap_ratio": 2.4137, "val_slope": 0.0121,
                      "p_value": 1.234e-5, "patience_epochs": 25},
            causes=[
                ("model_capacity", "12,000 parameters for 98 samples."),
                ("regularization", "No Dropout layer was found."),
                ("training_length", "25 epochs past the best."),
            ],
            suggestion="Add EarlyStopping(monitor='val_loss', patience=5, "
                       "restore_best_weights=True).",
        ),
        Finding(
            "val_fluctuation", "warning",
            "val_loss jumps <b>4x</b> more than loss & co.",
            series="val_loss", evidence={"relative_noise": 0.118},
            causes=[("validation_size", "Only 20 validation samples.")],
            suggestion="Use a larger validation set.",
        ),
        Finding(
            "small_batch", "info", "batch_size=4 gives noisy gradients.",
            evidence={"batch_size": 4},
            causes=[("batch_size", "4 samples per step.")],
            suggestion="Try batch_size=32.",
        ),
    ]


def handmade_report(batch=True, actions=True, metrics=True):
    """An overfitting `Report` with every element the plot can show."""
    rng = np.random.default_rng(0)
    epoch = np.arange(N_EPOCHS)
    loss = 1.2 * np.exp(-epoch / 8) + 0.05 + rng.normal(0, 0.02, N_EPOCHS)
    val_loss = (0.9 * np.exp(-epoch / 6) + 0.25
                + 0.012 * np.maximum(0, epoch - OVERFITTING_EPOCH)
                + rng.normal(0, 0.03, N_EPOCHS))
    val_loss[SPIKE_EPOCH] += 0.4
    series = {
        "loss": series_stats("loss", loss),
        "val_loss": series_stats("val_loss", val_loss, spikes=[SPIKE_EPOCH]),
    }
    if metrics:
        series["accuracy"] = series_stats("accuracy", 1 - loss / 1.5,
                                          direction="max")
    report_batch = {}
    if batch:
        per_batch = np.repeat(loss, STEPS_PER_EPOCH) * np.exp(
            rng.normal(0, 0.3, N_EPOCHS * STEPS_PER_EPOCH))
        report_batch = {"batch_losses": per_batch.tolist(),
                        "steps_per_epoch": STEPS_PER_EPOCH}
    report_actions = []
    if actions:
        report_actions = [{"epoch": LR_CHANGE_EPOCH, "old": 1e-3,
                           "new": 5e-4, "reason": "val_fluctuation"}]
    return Report(
        findings=findings(), series=series, best_epoch=BEST_EPOCH,
        raw_best_epoch=RAW_BEST_EPOCH, monitor="val_loss",
        n_epochs=N_EPOCHS, source="history.csv", actions=report_actions,
        batch=report_batch,
        context={"batch_size": 4, "n_train": 98,
                 "known_from": {"batch_size": "argument"}},
        notes=["n_val unknown: validation noise was compared with loss."],
    )


def legend_labels(ax):
    """The texts of the legend of a matplotlib `Axes`."""
    return [t.get_text() for t in ax.get_legend().get_texts()]


def vertical_line_at(ax, label):
    """The x of the vertical line labelled `label` on `ax`."""
    for line in ax.lines:
        if line.get_label() == label:
            xs = set(np.asarray(line.get_xdata(), dtype=float))
            assert len(xs) == 1, f"{label} is not a vertical line"
            return xs.pop()
    raise AssertionError(f"no line labelled {label!r}: "
                         f"{[line.get_label() for line in ax.lines]}")
