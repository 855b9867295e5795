"""Detection benchmark on REAL Keras fits with planted, labelled problems.

Each scenario trains a tiny model (MLP, small CNN or LSTM, TensorFlow
backend, CPU) on generated data with one planted problem, or none for the
healthy runs, under 2-3 seeds. Each run is labelled with the finding codes
a careful expert reading its curves would expect (`expect`), plus codes
that are arguably present and are counted neither way (`allow`, used
sparingly and documented per scenario). Runs are analysed with the same
context `analyze(history, model=..., batch_size=..., n_train=..., n_val=...,
batch_losses=...)` gets in a notebook: per-batch losses are recovered from
Keras's running epoch mean.

Fitted histories are cached as JSON under `/tmp/labelled_cache`, so
re-analysing after an engine change takes seconds. Prints per-code
precision / recall / F1 (findings at any severity count as detections),
micro-F1, the healthy false-alarm rate (a finding at warning or above on a
healthy run), and every mismatch with the evidence of the wrong or missing
finding.

    nice python bench/labelled_fits.py              # fit what is not cached
    python bench/labelled_fits.py --only seed_lstm  # a subset (substring)
    python bench/labelled_fits.py --refit           # ignore the cache
    python bench/labelled_fits.py --show NAME       # print a run's curves
    python bench/labelled_fits.py --strict-seeded   # see STRICT_SEEDED_ORDER
    python bench/labelled_fits.py --out bench/labelled_fits.txt
    python bench/labelled_fits.py --show-held-back  # held-back mismatches
    python bench/labelled_fits.py --curves fresh_   # curves only, to label

Held-back scores, two fixed splits of the runs into "tune" and
"held-back" (only the tune runs' mismatches are printed by default, so that
rules are changed looking at them alone):
- `scenario`: tune = seed 0 of the tabular-MLP scenarios whose SHA-256 of
  the name starts with an even byte; held-back = every other run (seeds
  1-2, every CNN and LSTM architecture, the other half of the scenarios).
  Its held-back F1 was measured before any held-back run was looked at.
- `seed`: tune = seed 0 of every scenario; held-back = seeds 1 and 2. Used
  after the first: rules were then fixed looking at seed-0 runs only.
- `fresh`: 14 scenarios added after both (`fresh=True`: GRU, Conv1D,
  BatchNormalization/Huber regression, seeds 3-4), outside both splits,
  labelled by eye with `--curves` (curves only, no finding) and scored
  once: 0.877. Two rules were fixed after that measurement, so the set is
  no longer held back.
- `fresh2` (seeds 5-6), `fresh3` (seeds 7-8) and `fresh4` (seeds 9-10):
  made the same way after the fixes each earlier set led to, scored once
  at their first measurement: 0.863, 0.892 and 0.914 (see the README).

A seeded fit (keras.utils.set_random_seed, then fit(shuffle=True)) repeats
one batch order every epoch, which `unshuffled_data` reports at info level;
it is allowed on seeded runs unless `--strict-seeded`. `healthy_mlp_unseeded`
checks that it does not appear without the seed. The kind of
`unshuffled_data` is checked too: a saw-tooth (warning or critical) only on
class-sorted data, a repeated order (info) elsewhere.

About 20 minutes of fitting on 2 CPU cores (187 runs); the cache makes
later runs take about 10 seconds. Uncached unseeded runs differ slightly
from one refit to the next (their weights are not seeded).
"""

import argparse
import collections
import dataclasses
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

CACHE_DIR = os.environ.get("KCW_LABELLED_CACHE", "/tmp/labelled_cache")
# Bump to invalidate every cached fit (e.g. after changing a generator).
CACHE_VERSION = 3
CURVE_CODES = (
    "nan_loss", "diverging", "not_learning", "overfitting", "not_converged",
    "plateau_then_drop", "train_oscillation", "val_fluctuation",
    "loss_spike", "metric_loss_mismatch", "noisy_best_epoch", "small_batch",
    "overparameterized", "small_validation_set", "unshuffled_data",
)
WARNING_RANK = 1


# ---------------------------------------------------------------- data ---

def tabular(n, n_features=10, n_classes=2, noise=0.5, flip=0.0, seed=0,
            teacher_seed=None):
    """Gaussian inputs, labels from a random one-hidden-layer teacher.

    `flip` replaces that fraction of labels by random ones. The teacher is
    fixed by `teacher_seed`, so train and test sets share it.
    """
    trng = np.random.default_rng(1000 + (teacher_seed or 0))
    w1 = trng.normal(size=(n_features, 16))
    w2 = trng.normal(size=(16, n_classes))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype("float32")
    logits = np.tanh(x @ w1) @ w2 + rng.normal(0, noise, size=(n, n_classes))
    y = logits.argmax(axis=1)
    if flip:
        hit = rng.random(n) < flip
        y[hit] = rng.integers(0, n_classes, hit.sum())
    return x, y.astype("int32")


def regression(n, n_features=8, noise=0.3, scale=1.0, seed=0):
    trng = np.random.default_rng(77)
    w = trng.normal(size=(n_features,)) / np.sqrt(n_features)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype("float32")
    y = (x @ w + np.sin(x[:, 0]) + rng.normal(0, noise, n))
    return x, (scale * y).astype("float32")


def sequences(n, steps=20, n_features=4, n_classes=2, flip=0.0, drift=1.2,
              seed=0):
    """Sequences whose class is which feature has the largest drift."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.normal(0, 1.0, size=(n, steps, n_features))
    drift_size = drift
    drift = np.zeros((n, steps, n_features))
    t = np.linspace(0, 1, steps)
    drift[np.arange(n), :, y % n_features] = drift_size * t
    x = (x + drift).astype("float32")
    if flip:
        hit = rng.random(n) < flip
        y[hit] = rng.integers(0, n_classes, hit.sum())
    return x, y.astype("int32")


def images(n, size=12, n_classes=3, noise=1.0, flip=0.0, seed=0):
    """Small grey images: horizontal, vertical or diagonal stripes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    patterns = [np.sin(i * 1.3), np.sin(j * 1.3), np.sin((i + j) * 0.9)]
    phase = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([np.sin(patterns[c] * 2 + p) for c, p in zip(y % 3, phase)])
    x = x + rng.normal(0, noise, x.shape)
    if flip:
        hit = rng.random(n) < flip
        y[hit] = rng.integers(0, n_classes, hit.sum())
    return x[..., None].astype("float32"), y.astype("int32")


# -------------------------------------------------------------- models ---

def mlp(n_in, n_out, units=(32,), lr=1e-3, optimizer="adam", loss=None,
        dropout=0.0, momentum=0.0):
    import keras

    layers = [keras.Input((n_in,))]
    for u in units:
        layers.append(keras.layers.Dense(u, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    if n_out == 1:
        layers.append(keras.layers.Dense(1))
    else:
        layers.append(keras.layers.Dense(n_out, activation="softmax"))
    model = keras.Sequential(layers)
    _compile(model, n_out, lr, optimizer, loss, momentum)
    return model


def cnn(size, n_out, filters=8, dense=32, lr=1e-3, optimizer="adam",
        momentum=0.0):
    import keras

    model = keras.Sequential([
        keras.Input((size, size, 1)),
        keras.layers.Conv2D(filters, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(2 * filters, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(dense, activation="relu"),
        keras.layers.Dense(n_out, activation="softmax"),
    ])
    _compile(model, n_out, lr, optimizer, None, momentum)
    return model


def recurrent(cell, steps, n_features, n_out, units=32, lr=1e-3,
              optimizer="adam"):
    """A one-layer recurrent classifier: `cell` is "LSTM", "GRU",
    "SimpleRNN" or "BiLSTM" (a Bidirectional LSTM)."""
    import keras

    if cell == "BiLSTM":
        layer = keras.layers.Bidirectional(keras.layers.LSTM(units))
    else:
        layer = getattr(keras.layers, cell)(units)
    model = keras.Sequential([
        keras.Input((steps, n_features)),
        layer,
        keras.layers.Dense(n_out, activation="softmax"),
    ])
    _compile(model, n_out, lr, optimizer, None, 0.0)
    return model


def lstm(steps, n_features, n_out, units=32, lr=1e-3, optimizer="adam"):
    return recurrent("LSTM", steps, n_features, n_out, units, lr, optimizer)


def _compile(model, n_out, lr, optimizer, loss, momentum):
    import keras

    if optimizer == "sgd":
        opt = keras.optimizers.SGD(lr, momentum=momentum)
    else:
        opt = keras.optimizers.Adam(lr)
    if n_out == 1:
        model.compile(opt, loss or "mse", metrics=["mae"])
    else:
        model.compile(opt, loss or "sparse_categorical_crossentropy",
                      metrics=["accuracy"])


# ----------------------------------------------------------- scenarios ---

@dataclasses.dataclass
class Run:
    """What one scenario builds for one seed."""

    model: object
    x: object
    y: object
    batch_size: int
    epochs: int
    validation_split: float = None
    validation_data: tuple = None
    shuffle: bool = True
    callbacks: list = dataclasses.field(default_factory=list)


# name -> (builder, healthy, seeds, expect, allow). Labels live here, not
# in the cache, so a corrected label needs no refit.
SCENARIOS = {}


# Scenarios added after every rule change of issue 11, never used to tune
# a rule: scored once, as their own held-back sets. Scenario name -> set.
FRESH = {}


def scenario(name, expect=(), allow=(), healthy=False, seeds=(0, 1),
             per_seed=None, fresh=False):
    """Registers a builder. `per_seed` maps a seed to `(expect, allow)`
    extras, for what only that seed's curves show (judged by eye, noted
    at the scenario). `fresh` marks a scenario of a fresh held-back set:
    True for the first, or the set's name."""
    def register(builder):
        SCENARIOS[name] = (builder, healthy, seeds, frozenset(expect),
                           frozenset(allow), dict(per_seed or {}))
        if fresh:
            FRESH[name] = "fresh" if fresh is True else fresh
        return builder
    return register


def _seed(seed):
    import keras

    keras.utils.set_random_seed(seed)


def _kick(at, scale, seed):
    """A callback that adds Gaussian noise of `scale` to every weight at
    the end of epoch `at` (as a batch of extreme values would)."""
    import keras

    class Kick(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == at:
                rng = np.random.default_rng(seed)
                for w in self.model.trainable_weights:
                    v = np.asarray(w)
                    w.assign(v + rng.normal(0, scale, v.shape).astype(
                        v.dtype))

    return Kick()


# A seeded fit(shuffle=True) repeats one batch order every epoch (measured
# on Keras 3.15, see issue 2): that is really in the per-batch losses and
# is reported at info level, so `unshuffled_data` is allowed (neither
# required nor counted as a false positive) on every seeded run.
SEEDED_ORDER = ("unshuffled_data",)

# Healthy runs: batch 32-64, adequate data, sensible rate, enough epochs,
# validation_split=0.2 with n_val >= 200.


@scenario("healthy_mlp_binary", allow=SEEDED_ORDER, healthy=True,
          seeds=(0, 1, 2))
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, noise=0.3, seed=seed)
    return Run(mlp(10, 2, (32,), lr=1e-3), x, y, 32, 30,
               validation_split=0.2)


@scenario("healthy_mlp_3class", allow=SEEDED_ORDER, healthy=True,
          seeds=(0, 1, 2))
def _(seed):
    _seed(seed)
    x, y = tabular(4000, n_features=12, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(12, 3, (32, 16), lr=2e-3), x, y, 64, 20,
               validation_split=0.2)


@scenario("healthy_mlp_unseeded", healthy=True)
def _(seed):
    # No keras.utils.set_random_seed: TensorFlow reshuffles every epoch, so
    # unshuffled_data must not appear (its false-positive check). The data
    # are seeded; the weights are not, so a refit differs slightly.
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (32,), lr=1e-3), x, y, 32, 25,
               validation_split=0.2)


@scenario("healthy_cnn_3class", allow=SEEDED_ORDER, healthy=True,
          seeds=(0, 1, 2))
def _(seed):
    _seed(seed)
    x, y = images(1500, noise=1.0, seed=seed)
    return Run(cnn(12, 3, lr=1e-3), x, y, 32, 15, validation_split=0.2)


# 15 epochs on 1,000 sequences overfit mildly (val_loss +8 % in the last
# 8 epochs, both seeds): 8 epochs on 1,200 stop at the plateau.
# Seed 0's val_loss creeps up 9 % over its last 6 epochs (0.204 -> 0.222)
# while val_accuracy stays flat: borderline overfitting, allowed.
# Issue 11: LABELLING.md counts a flat validation loss with a training loss
# that falls on (here 32-38 % over the last 9-11 epochs, the val/train
# ratio widening from 1.2-1.4x to 1.7-2.3x, val_accuracy stalling while
# accuracy climbs) as overfitting: allowed on both seeds.
@scenario("healthy_cnn_batch64_long", allow={"overfitting", *SEEDED_ORDER},
          healthy=True)
def _(seed):
    _seed(seed)
    x, y = images(3000, noise=1.5, seed=seed)
    return Run(cnn(12, 3, lr=1e-3), x, y, 64, 20, validation_split=0.2)


@scenario("healthy_lstm", allow=SEEDED_ORDER, healthy=True)
def _(seed):
    _seed(seed)
    x, y = sequences(1500, drift=0.5, seed=seed)
    return Run(lstm(20, 4, 2, units=16, lr=3e-3), x, y, 32, 8,
               validation_split=0.2)


@scenario("healthy_regression", allow=SEEDED_ORDER, healthy=True)
def _(seed):
    _seed(seed)
    x, y = regression(3000, seed=seed)
    return Run(mlp(8, 1, (32, 32), lr=2e-3), x, y, 64, 25,
               validation_split=0.2)


# Seed 0's val_loss has a visible lucky dip (0.407 at epoch 23 in a tail
# at 0.415-0.42): noisy_best_epoch (info) is in its curves.
@scenario("healthy_sgd_dropout", allow=SEEDED_ORDER, healthy=True,
          per_seed={0: ((), ("noisy_best_epoch",))})
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    model = mlp(10, 3, (64,), lr=0.05, optimizer="sgd", momentum=0.9,
                dropout=0.2)
    return Run(model, x, y, 32, 30, validation_split=0.2)


# --- planted problems -----------------------------------------------------

@scenario("nan_unscaled_targets_sgd", expect={"nan_loss"},
          allow=SEEDED_ORDER)
def _(seed):
    # Regression on targets in the thousands and unscaled inputs, SGD at
    # 0.01: the first steps overflow and the loss turns NaN.
    _seed(seed)
    x, y = regression(800, scale=3000.0, seed=seed)
    return Run(mlp(8, 1, (32,), lr=0.01, optimizer="sgd"), x * 50.0, y, 32,
               12, validation_split=0.2)


# not_learning is allowed (issue 11): the loss is NaN from the first epoch
# and both accuracies are frozen at 1/3, which LABELLING.md reads as
# not_learning too (real log 012, NaN loss with a frozen metric, is
# labelled nan_loss and not_learning).
@scenario("nan_unscaled_images_cnn", expect={"nan_loss"},
          allow={"not_learning", *SEEDED_ORDER})
def _(seed):
    # Pixels left in 0-255 (no /255) with SGD at 0.1 and momentum 0.9.
    # (SGD at 5.0 on scaled images only killed the ReLUs: no NaN.)
    _seed(seed)
    x, y = images(800, seed=seed)
    return Run(cnn(12, 3, lr=0.1, optimizer="sgd", momentum=0.9),
               (x + 2.0) * 255.0, y, 32, 8, validation_split=0.25)


# While it diverges, val_loss also jumps by 20-50 % between epochs (seed
# 1: 0.40, 0.48, 0.60, 0.47, 0.71): val_fluctuation allowed.
@scenario("diverging_lr_ramp", expect={"diverging"},
          allow={"val_fluctuation", *SEEDED_ORDER})
def _(seed):
    # Adam whose rate grows 1.4x per epoch from 1e-3: the loss falls, then
    # climbs as the rate passes the stable range.
    import keras

    _seed(seed)
    x, y = tabular(1600, n_features=10, noise=0.3, seed=seed)
    ramp = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: 1e-3 * 1.4 ** epoch)
    return Run(mlp(10, 2, (64, 64), lr=1e-3), x, y, 32, 24,
               validation_split=0.25, callbacks=[ramp])


@scenario("not_learning_lr1e-7_mlp", expect={"not_learning"},
          allow=SEEDED_ORDER)
def _(seed):
    _seed(seed)
    x, y = tabular(1500, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (32,), lr=1e-7), x, y, 32, 20,
               validation_split=0.2)


@scenario("not_learning_lr1e-7_cnn", expect={"not_learning"},
          allow=SEEDED_ORDER)
def _(seed):
    _seed(seed)
    x, y = images(1000, seed=seed)
    return Run(cnn(12, 3, lr=1e-7), x, y, 32, 12, validation_split=0.2)


@scenario("overfit_random_labels_big_mlp",
          expect={"overfitting", "overparameterized"}, allow=SEEDED_ORDER)
def _(seed):
    # 300 samples with random labels, 2x512 units (~270k parameters, 900
    # per sample): the training loss goes to 0, val_loss climbs.
    _seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(500, 20)).astype("float32")
    y = rng.integers(0, 2, 500).astype("int32")
    return Run(mlp(20, 2, (512, 512), lr=1e-3), x[:300], y[:300], 30, 40,
               validation_data=(x[300:], y[300:]))


@scenario("overfit_noisy_labels_mlp", expect={"overfitting"},
          allow=SEEDED_ORDER)
def _(seed):
    # 30 % random labels, 128x64 units (~11k parameters, 31 per sample),
    # 100 epochs: it memorises the random labels.
    _seed(seed)
    x, y = tabular(600, n_features=20, noise=0.3, flip=0.3, seed=seed)
    return Run(mlp(20, 2, (128, 64), lr=3e-3), x, y, 32, 100,
               validation_split=0.4)


@scenario("not_converged_low_lr", expect={"not_converged"},
          allow=SEEDED_ORDER)
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (32,), lr=1e-4), x, y, 32, 15,
               validation_split=0.2)


@scenario("not_converged_sgd_few_epochs_cnn", expect={"not_converged"},
          allow=SEEDED_ORDER)
def _(seed):
    _seed(seed)
    x, y = images(1200, seed=seed)
    return Run(cnn(12, 3, lr=3e-3, optimizer="sgd", momentum=0.9), x, y,
               32, 10, validation_split=0.2)


@scenario("plateau_then_drop_late_rate", expect={"plateau_then_drop"},
          allow=SEEDED_ORDER)
def _(seed):
    # Rate 1e-6 for 8 epochs (a warm-up gone wrong), then 3e-3.
    import keras

    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    sched = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: 1e-6 if epoch < 8 else 3e-3)
    return Run(mlp(10, 3, (32,), lr=1e-6), x, y, 32, 25,
               validation_split=0.2, callbacks=[sched])


# The validation curve follows the training oscillation: allowed.
@scenario("train_oscillation_sgd_big_batch", expect={"train_oscillation"},
          allow={"val_fluctuation", "noisy_best_epoch", *SEEDED_ORDER})
def _(seed):
    # Batch 256 with SGD at 0.5 and momentum 0.9 on unscaled inputs.
    _seed(seed)
    x, y = tabular(2560, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (64,), lr=0.5, optimizer="sgd", momentum=0.9),
               x * 3.0, y, 256, 30, validation_split=0.2)


# At this rate val_loss also climbs from epoch ~5 while the training loss
# falls (seen in both seeds): overfitting is in the curves.
# SGD at 5.0 (no momentum): the loss drops from 1.9 to ~0.9 in two epochs
# and then bounces by 5-10 % per epoch; val_loss swings by 20-40 % (0.74
# to 1.23) and val_accuracy by 5-10 points on 320 samples.
@scenario("sgd_huge_lr_mlp", expect={"train_oscillation", "val_fluctuation"},
          allow={"noisy_best_epoch", "loss_spike", "not_converged",
                 *SEEDED_ORDER})
def _(seed):
    _seed(seed)
    x, y = tabular(1600, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (64,), lr=5.0, optimizer="sgd"), x, y, 32, 20,
               validation_split=0.2)


@scenario("train_oscillation_adam_high_lr",
          expect={"train_oscillation", "overfitting"},
          allow={"val_fluctuation", "metric_loss_mismatch", "noisy_best_epoch",
                 *SEEDED_ORDER})
def _(seed):
    _seed(seed)
    x, y = tabular(1600, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (64, 64), lr=0.05), x, y, 32, 30,
               validation_split=0.2)


# After the kick the loss is still re-converging at the end: allowed.
@scenario("loss_spike_weight_kick", expect={"loss_spike"},
          allow={"not_converged", *SEEDED_ORDER})
def _(seed):
    # At the end of epoch 12 the weights are hit by noise (as a batch of
    # extreme values would): one epoch's loss jumps, then it recovers.
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (32,), lr=2e-3), x, y, 32, 25,
               validation_split=0.2, callbacks=[_kick(12, 0.6, seed)])


@scenario("val_fluctuation_bn_cnn", expect={"val_fluctuation", "overfitting"},
          allow={"train_oscillation", "loss_spike", "noisy_best_epoch",
                 *SEEDED_ORDER})
def _(seed):
    # A CNN with BatchNormalization and Adam at 0.02 on hard images: the
    # moving statistics lag the weights, so val_loss jumps by up to 2x from
    # epoch to epoch (val_accuracy by 5-9 points on 500 samples, whose
    # standard error is 2) while it also drifts up (overfitting).
    import keras

    _seed(seed)
    x, y = images(2500, noise=2.0, seed=seed)
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(8, 3), keras.layers.BatchNormalization(),
        keras.layers.ReLU(), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3), keras.layers.BatchNormalization(),
        keras.layers.ReLU(), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.02),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return Run(model, x, y, 32, 15, validation_split=0.2)


# Relabelled to LABELLING.md (issue 11): a validation loss that climbs
# while validation accuracy creeps up, below the training accuracy, is
# overfitting; metric_loss_mismatch there means a 10x loss with an
# accuracy as good or better, a frozen metric, or accuracy at a class
# share. It is allowed here, no longer expected.
@scenario("metric_loss_mismatch_noisy_val_labels",
          expect={"overfitting"},
          allow={"metric_loss_mismatch", *SEEDED_ORDER})
def _(seed):
    # Clean training labels, 12 % flipped validation labels: the model
    # grows ever more confident, so val_loss climbs on the flipped samples
    # while val_accuracy still creeps up on the others. (A CNN on 15 %
    # flipped labels everywhere lost accuracy too: no mismatch.)
    _seed(seed)
    x, y = tabular(1200, n_features=10, noise=0.0, seed=seed)
    xv, yv = tabular(600, n_features=10, noise=0.0, seed=seed + 50)
    hit = np.random.default_rng(seed).random(600) < 0.12
    yv[hit] = 1 - yv[hit]
    return Run(mlp(10, 2, (64, 64), lr=1e-3), x, y, 32, 40,
               validation_data=(xv, yv))


@scenario("small_validation_split_0.02", expect={"small_validation_set"},
          allow={"noisy_best_epoch", *SEEDED_ORDER})
def _(seed):
    _seed(seed)
    x, y = tabular(1500, n_features=10, noise=0.3, seed=seed)
    return Run(mlp(10, 2, (32,), lr=1e-3), x, y, 32, 25,
               validation_split=0.02)


@scenario("noisy_best_epoch_small_val",
          expect={"small_validation_set"},
          allow={"val_fluctuation", *SEEDED_ORDER},
          per_seed={
              # val_loss bottoms at epoch 2 (0.325) and climbs to 0.40
              # while the training loss falls; val_accuracy still rises
              # 0.85 -> 0.90 (3 of 60 samples). Its raw best sits in the
              # real minimum, not in a dip.
              0: (("overfitting",), ("metric_loss_mismatch",)),
              # A flat tail at 0.274-0.289; the raw best (0.273, epoch 13)
              # is a one-epoch dip between 0.283 and 0.289.
              1: (("noisy_best_epoch",), ()),
          })
def _(seed):
    # 60 validation samples and Adam at 0.03 on 4,000 training samples: the
    # fit plateaus early and the small validation set makes the flat tail
    # jitter, so the raw best val_loss can be a lucky dip (labelled per
    # seed, by eye). (At 1e-3 the curve was smooth: no dip.)
    _seed(seed)
    x, y = tabular(4060, n_features=10, noise=0.3, seed=seed)
    return Run(mlp(10, 2, (16,), lr=0.03), x[:4000], y[:4000], 32, 25,
               validation_data=(x[4000:], y[4000:]))


# The seed case: an LSTM of ~200k parameters on 98 sequences, batch 32,
# then 4, then 2 (a separate validation set of 196 sequences).
def _seed_lstm(seed, batch):
    _seed(seed)
    x, y = sequences(294, steps=20, n_features=4, flip=0.1, seed=seed)
    model = lstm(20, 4, 2, units=220, lr=1e-3)
    return Run(model, x[:98], y[:98], batch, 20,
               validation_data=(x[98:], y[98:]))


# All seeds overfit: val_loss doubles from its minimum at epoch 2-6 while
# the training loss falls. Batch 2 and 4 make the training loss jump by
# 20-100 % from epoch to epoch (train_oscillation; the seed case),
# with isolated jumps (loss_spike) and a wobbling val_loss.
@scenario("seed_lstm_batch32", expect={"overparameterized", "overfitting"},
          allow=SEEDED_ORDER)
def _(seed):
    return _seed_lstm(seed, 32)


@scenario("seed_lstm_batch4",
          expect={"overparameterized", "small_batch", "overfitting"},
          allow={"train_oscillation", "loss_spike", "val_fluctuation",
                 *SEEDED_ORDER})
def _(seed):
    return _seed_lstm(seed, 4)


@scenario("seed_lstm_batch2",
          expect={"overparameterized", "small_batch", "overfitting",
                  "train_oscillation"},
          allow={"loss_spike", "val_fluctuation", *SEEDED_ORDER})
def _(seed):
    return _seed_lstm(seed, 2)


# 15 epochs leave the loss falling ~1 % per epoch: not_converged allowed.
@scenario("unshuffled_class_sorted", expect={"unshuffled_data"},
          allow={"not_converged"})
def _(seed):
    # Data sorted by class and shuffle=False: each epoch ends fitting the
    # last class; the batch loss is a saw-tooth.
    _seed(seed)
    x, y = tabular(1920, n_features=10, n_classes=3, noise=0.3, seed=seed)
    xv, yv = tabular(400, n_features=10, n_classes=3, noise=0.3,
                     seed=seed + 100)
    order = np.argsort(y, kind="stable")
    return Run(mlp(10, 3, (32,), lr=1e-3), x[order], y[order], 32, 15,
               validation_data=(xv, yv), shuffle=False)


@scenario("unshuffled_seeded_order", expect={"unshuffled_data"},
          allow={"not_converged"})
def _(seed):
    # keras.utils.set_random_seed + fit(shuffle=True): one random order
    # repeated every epoch. Noisy labels make batches differ in loss.
    _seed(seed)
    x, y = tabular(1536, n_features=10, noise=0.3, flip=0.3, seed=seed)
    return Run(mlp(10, 2, (16,), lr=1e-3), x, y, 16, 25,
               validation_data=tabular(400, n_features=10, noise=0.3,
                                       flip=0.3, seed=seed + 100))


# ------------------------------------------------------ fresh held-back ---
# Added on 2026-11-30, after the rules of issue 11 were settled, to measure
# them once on what they were never tuned on: new architectures (GRU,
# Conv1D, BatchNormalization MLP, Huber regression), new data sizes and new
# seeds (3 and 4). Labels follow LABELLING.md from the planted problem,
# checked by eye on the curves alone (`--curves NAME`, which prints no
# finding); the engine's output on them was looked at only after the
# labels were final.

FRESH_SEEDS = (3, 4)


def gru(steps, n_features, n_out, units=16, lr=1e-3, optimizer="adam"):
    return recurrent("GRU", steps, n_features, n_out, units, lr, optimizer)


def conv1d(steps, n_features, n_out, filters=16, lr=1e-3, optimizer="adam",
           momentum=0.0):
    import keras

    model = keras.Sequential([
        keras.Input((steps, n_features)),
        keras.layers.Conv1D(filters, 5, activation="relu"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(n_out, activation="softmax"),
    ])
    _compile(model, n_out, lr, optimizer, None, momentum)
    return model


def _lr_schedule(fn):
    import keras

    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: fn(epoch))


# Seed 4's val_loss creeps up 6 % over its last 10 epochs (0.379 ->
# 0.403) while the training loss falls: mild overfitting, allowed.
@scenario("fresh_healthy_gru", allow=SEEDED_ORDER, healthy=True,
          seeds=FRESH_SEEDS, fresh=True,
          per_seed={4: ((), ("overfitting",))})
def _(seed):
    _seed(seed)
    x, y = sequences(2000, drift=0.5, seed=seed)
    return Run(gru(20, 4, 2, units=16, lr=3e-3), x, y, 32, 12,
               validation_split=0.2)


# Planned healthy; the curves overfit: seed 4's val_loss rises 6 % from
# its minimum at epoch 8 (0.424 -> 0.451) while the training loss falls
# 12 % and val_accuracy slips; seed 3's lies flat (+2 %) while the
# training loss falls 11 %, the gap widening from 0.09 to 0.14 (allowed).
@scenario("fresh_conv1d_3class_20_epochs", allow=SEEDED_ORDER,
          seeds=FRESH_SEEDS, fresh=True,
          per_seed={3: ((), ("overfitting",)), 4: (("overfitting",), ())})
def _(seed):
    _seed(seed)
    x, y = sequences(2400, n_classes=3, drift=0.8, seed=seed)
    return Run(conv1d(20, 4, 3, lr=3e-3), x, y, 32, 20,
               validation_split=0.2)


@scenario("fresh_healthy_bn_huber_regression", allow=SEEDED_ORDER,
          healthy=True, seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    import keras

    _seed(seed)
    x, y = regression(3000, noise=0.3, seed=seed)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(32), keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Dense(32), keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.Adam(1e-3), "huber", metrics=["mae"])
    return Run(model, x, y, 64, 30, validation_split=0.2)


# ~29k parameters on 100 sequences with 25 % noisy labels, 60 epochs: the
# GRU memorises the training set while the validation loss climbs. Seed
# 4's val_loss bumps to 1.24 between 1.01 and 1.07 (allowed as a spike).
@scenario("fresh_overfit_gru_100_sequences",
          expect={"overfitting", "overparameterized"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = sequences(400, flip=0.25, drift=0.8, seed=seed)
    return Run(gru(20, 4, 2, units=96, lr=2e-3), x[:100], y[:100], 16, 60,
               validation_data=(x[100:], y[100:]))


# ~69k parameters on 160 noisy regression samples, 150 epochs. In both
# seeds the near-zero training loss blows up at epochs 35-40 (0.045 ->
# 0.54 and 0.07 -> 0.48) and returns: loss_spike. Smaller humps recur
# later (train_oscillation allowed).
@scenario("fresh_overfit_regression_160",
          expect={"overfitting", "overparameterized", "loss_spike"},
          allow={"val_fluctuation", "noisy_best_epoch", "train_oscillation",
                 *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = regression(560, noise=1.0, seed=seed)
    return Run(mlp(8, 1, (256, 256), lr=1e-3), x[:160], y[:160], 16, 150,
               validation_data=(x[160:], y[160:]))


@scenario("fresh_not_learning_conv1d_lr1e-7", expect={"not_learning"},
          allow=SEEDED_ORDER, seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = sequences(1500, n_classes=3, drift=0.8, seed=seed)
    return Run(conv1d(20, 4, 3, lr=1e-7), x, y, 32, 15,
               validation_split=0.2)


# Uninformative features, 90 % of one class: the loss falls from ln 2 to
# the class entropy while accuracy sits at the majority share throughout.
@scenario("fresh_majority_class_noise_features",
          expect={"metric_loss_mismatch"},
          allow={"not_learning", "overfitting", *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 10)).astype("float32")
    y = (rng.random(2000) < 0.1).astype("int32")
    return Run(mlp(10, 2, (16,), lr=1e-3), x, y, 32, 25,
               validation_split=0.2)


@scenario("fresh_not_converged_gru_low_lr", expect={"not_converged"},
          allow=SEEDED_ORDER, seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = sequences(1500, drift=0.8, seed=seed)
    return Run(gru(20, 4, 2, units=16, lr=3e-4), x, y, 32, 8,
               validation_split=0.2)


@scenario("fresh_diverging_conv1d_lr_ramp", expect={"diverging"},
          allow={"val_fluctuation", "loss_spike", "train_oscillation",
                 *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = sequences(1600, n_classes=3, drift=0.8, seed=seed)
    ramp = _lr_schedule(lambda epoch: 1e-3 * 1.6 ** epoch)
    return Run(conv1d(20, 4, 3, lr=1e-3), x, y, 32, 22,
               validation_split=0.2, callbacks=[ramp])


@scenario("fresh_nan_unscaled_regression_sgd", expect={"nan_loss"},
          allow=SEEDED_ORDER, seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = regression(1000, scale=1e4, seed=seed)
    return Run(mlp(8, 1, (64, 64), lr=0.05, optimizer="sgd"), x * 20.0, y,
               32, 10, validation_split=0.2)


# The kick leaves the loss re-converging at the end: not_converged allowed.
@scenario("fresh_loss_spike_conv1d_kick", expect={"loss_spike"},
          allow={"not_converged", "val_fluctuation", *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True)
def _(seed):
    _seed(seed)
    x, y = sequences(2000, n_classes=3, drift=0.8, seed=seed)
    return Run(conv1d(20, 4, 3, lr=3e-3), x, y, 32, 22,
               validation_split=0.2, callbacks=[_kick(10, 0.5, seed)])


# 40 validation samples scored with Adam at 0.01 on 3,000 training
# samples, planned to make the validation estimate jump. By eye it does
# not: seed 3's val_loss is smooth (val_accuracy moves in steps of one
# sample), seed 4's wobbles by 2-3 % of its level (allowed). Seed 3 is
# still falling at the end (val_loss -5 % over the last 3 epochs):
# not_converged; seed 4's training loss falls on in a straight line
# (allowed).
@scenario("fresh_tiny_validation_40",
          expect={"small_validation_set"},
          allow={"val_fluctuation", "noisy_best_epoch", "overfitting",
                 *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True,
          per_seed={3: (("not_converged",), ()),
                    4: ((), ("not_converged",))})
def _(seed):
    _seed(seed)
    x, y = tabular(3040, n_features=10, n_classes=3, noise=0.6, seed=seed)
    return Run(mlp(10, 3, (32,), lr=0.01), x[:3000], y[:3000], 32, 25,
               validation_data=(x[3000:], y[3000:]))


# After the drop val_loss climbs from its minimum (0.191 -> 0.209 and
# 0.213 -> 0.271) while the training loss falls on: overfitting.
@scenario("fresh_plateau_then_drop_gru",
          expect={"plateau_then_drop", "overfitting"},
          allow={"not_converged", *SEEDED_ORDER}, seeds=FRESH_SEEDS,
          fresh=True)
def _(seed):
    _seed(seed)
    x, y = sequences(1500, drift=0.8, seed=seed)
    sched = _lr_schedule(lambda epoch: 1e-7 if epoch < 7 else 5e-3)
    return Run(gru(20, 4, 2, units=16, lr=1e-7), x, y, 32, 20,
               validation_split=0.2, callbacks=[sched])


# Planned as a zig-zag (SGD 0.05, momentum 0.9, batch 256); by eye both
# seeds decline smoothly. Seed 3 still gains 5 % over its last 3 epochs
# (0.0946 -> 0.090, val_loss 4 %): not_converged; seed 4 gains 2.7 %
# (allowed).
@scenario("fresh_sgd_momentum_regression_30_epochs",
          allow={"val_fluctuation", "loss_spike", "noisy_best_epoch",
                 "train_oscillation", *SEEDED_ORDER},
          seeds=FRESH_SEEDS, fresh=True,
          per_seed={3: (("not_converged",), ()),
                    4: ((), ("not_converged",))})
def _(seed):
    _seed(seed)
    x, y = regression(2560, noise=0.3, seed=seed)
    return Run(mlp(8, 1, (64,), lr=0.05, optimizer="sgd", momentum=0.9),
               x * 2.0, y, 256, 30, validation_split=0.2)


# ----------------------------------------------------- second fresh set ---
# Added after the fixes the first fresh set led to, and scored once, the
# same way: SimpleRNN, Bidirectional LSTM, sigmoid binary output, L2,
# RMSprop, SGD without momentum, dead ReLUs, a regression compiled with an
# accuracy metric; seeds 5 and 6. Labelled by eye with `--curves` before
# any finding was looked at.

FRESH2_SEEDS = (5, 6)


def _sequential(layers, loss, metrics, optimizer):
    import keras

    model = keras.Sequential(layers)
    model.compile(optimizer, loss, metrics=metrics)
    return model


def _rnn(kind, units, lr=2e-3):
    cell = {"simple": "SimpleRNN", "bilstm": "BiLSTM"}[kind]
    return recurrent(cell, 20, 4, 2, units, lr)


@scenario("fresh2_healthy_simplernn", allow=SEEDED_ORDER, healthy=True,
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = sequences(2000, drift=0.8, seed=seed)
    return Run(_rnn("simple", 16), x, y, 32, 12, validation_split=0.2)


@scenario("fresh2_healthy_sigmoid_rmsprop", allow=SEEDED_ORDER,
          healthy=True, seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(3000, n_features=10, noise=0.3, seed=seed)
    model = _sequential(
        [keras.Input((10,)), keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")],
        "binary_crossentropy", ["accuracy"], keras.optimizers.RMSprop(1e-3))
    return Run(model, x, y.astype("float32"), 32, 25, validation_split=0.2)


@scenario("fresh2_healthy_5class_l2", allow=SEEDED_ORDER, healthy=True,
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(4000, n_features=12, n_classes=5, noise=0.3, seed=seed)
    l2 = keras.regularizers.L2(1e-3)
    model = _sequential(
        [keras.Input((12,)),
         keras.layers.Dense(64, activation="relu", kernel_regularizer=l2),
         keras.layers.Dense(5, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(1e-3))
    return Run(model, x, y, 64, 20, validation_split=0.2)


@scenario("fresh2_overfit_bilstm_120_sequences",
          expect={"overfitting", "overparameterized"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = sequences(420, flip=0.2, drift=0.8, seed=seed)
    return Run(_rnn("bilstm", 64), x[:120], y[:120], 16, 50,
               validation_data=(x[120:], y[120:]))


@scenario("fresh2_overfit_cnn_200_images", expect={"overfitting"},
          allow={"val_fluctuation", "noisy_best_epoch", "overparameterized",
                 "loss_spike", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = images(600, noise=2.0, seed=seed)
    return Run(cnn(12, 3, filters=16, dense=64, lr=1e-3), x[:200], y[:200],
               16, 60, validation_data=(x[200:], y[200:]))


@scenario("fresh2_not_learning_sgd_1e-6", expect={"not_learning"},
          allow=SEEDED_ORDER, seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=12, n_classes=5, noise=0.3, seed=seed)
    return Run(mlp(12, 5, (32,), lr=1e-6, optimizer="sgd"), x, y, 32, 20,
               validation_split=0.2)


# The loss creeps from 1.38 to 1.32-1.35 (the output bias learns the class
# prior) while accuracy stays at the majority share: that is also
# metric_loss_mismatch's third form (allowed).
@scenario("fresh2_not_learning_dead_relus", expect={"not_learning"},
          allow={"metric_loss_mismatch", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    import keras

    # Every hidden ReLU starts (and stays) at zero: a bias of -20.
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=4, noise=0.3, seed=seed)
    dead = keras.initializers.Constant(-20.0)
    model = _sequential(
        [keras.Input((10,)),
         keras.layers.Dense(32, activation="relu", bias_initializer=dead),
         keras.layers.Dense(4, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(1e-3))
    return Run(model, x, y, 32, 20, validation_split=0.2)


@scenario("fresh2_diverging_rmsprop_ramp", expect={"diverging"},
          allow={"val_fluctuation", "loss_spike", "train_oscillation",
                 *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(1600, n_features=10, n_classes=3, noise=0.3, seed=seed)
    model = mlp(10, 3, (64, 64), lr=1e-3)
    model.compile(keras.optimizers.RMSprop(1e-3),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    ramp = _lr_schedule(lambda epoch: 1e-3 * 1.5 ** epoch)
    return Run(model, x, y, 32, 22, validation_split=0.2, callbacks=[ramp])


# Planned as a NaN; by eye the first epoch explodes (4.5e7 and 1.7e21)
# and the network then sits at ln 3 = 1.10 with accuracy 1/3 for the rest
# of the run: a collapse to chance, not_learning. Seed 6's val_loss stays
# at 2e33 while val_accuracy matches accuracy (metric_loss_mismatch
# allowed), and the first epoch's explosion is allowed as a spike.
@scenario("fresh2_collapse_sgd_unscaled_images", expect={"not_learning"},
          allow={"metric_loss_mismatch", "loss_spike", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = images(800, seed=seed)
    return Run(cnn(12, 3, lr=0.5, optimizer="sgd", momentum=0.9),
               x * 100.0, y, 32, 8, validation_split=0.2)


@scenario("fresh2_not_converged_sgd_no_momentum", expect={"not_converged"},
          allow=SEEDED_ORDER, seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=12, n_classes=5, noise=0.3, seed=seed)
    return Run(mlp(12, 5, (32,), lr=0.003, optimizer="sgd"), x, y, 32, 15,
               validation_split=0.2)


# Seed 5's val_loss creeps up 3 % after the drop (allowed).
@scenario("fresh2_plateau_then_drop_warmup", expect={"plateau_then_drop"},
          allow={"not_converged", "overfitting", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS,
          fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=12, n_classes=5, noise=0.3, seed=seed)
    sched = _lr_schedule(lambda epoch: 1e-7 if epoch < 6 else 1e-2)
    return Run(mlp(12, 5, (32,), lr=1e-7), x, y, 32, 20,
               validation_split=0.2, callbacks=[sched])


@scenario("fresh2_loss_spike_kick_simplernn", expect={"loss_spike"},
          allow={"not_converged", "val_fluctuation", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = sequences(2000, drift=0.8, seed=seed)
    return Run(_rnn("simple", 16), x, y, 32, 18, validation_split=0.2,
               callbacks=[_kick(8, 0.5, seed)])


# Seed 5's val_loss jumps 0.485 -> 0.562 -> 0.488 at epoch 12 (allowed
# as a spike).
@scenario("fresh2_val_fluctuation_noisy_small_val",
          expect={"val_fluctuation", "small_validation_set"},
          allow={"noisy_best_epoch", "overfitting", "train_oscillation",
                 "loss_spike", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = tabular(3080, n_features=10, noise=0.3, flip=0.3, seed=seed)
    return Run(mlp(10, 2, (64,), lr=0.05), x[:3000], y[:3000], 32, 25,
               validation_data=(x[3000:], y[3000:]))


# The zig-zagging loss also drifts up in the second half (0.68 -> 0.86,
# 0.59 -> 0.88) as accuracy falls: diverging allowed.
@scenario("fresh2_train_oscillation_adam_0.1",
          expect={"train_oscillation"},
          allow={"val_fluctuation", "loss_spike", "noisy_best_epoch",
                 "not_converged", "overfitting", "diverging",
                 *SEEDED_ORDER},
          seeds=FRESH2_SEEDS, fresh="fresh2")
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (64, 64), lr=0.1), x, y, 32, 25,
               validation_split=0.2)


# val_loss lies flat from epoch 9 while the loss falls on a little
# (overfitting allowed).
@scenario("fresh2_regression_with_accuracy_metric",
          expect={"metric_loss_mismatch"},
          allow={"not_converged", "overfitting", *SEEDED_ORDER},
          seeds=FRESH2_SEEDS,
          fresh="fresh2")
def _(seed):
    import keras

    # A regression compiled with metrics=["accuracy"]: the metric stays at
    # zero while the loss falls.
    _seed(seed)
    x, y = regression(2000, seed=seed)
    model = _sequential(
        [keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(1)],
        "mse", ["accuracy"], keras.optimizers.Adam(1e-3))
    return Run(model, x, y, 32, 20, validation_split=0.2)


# ------------------------------------------------------ third fresh set ---
# Added on 2026-12-01, after the fixes the second fresh set led to, and
# scored once, the same way: the product's own users (98-300 samples, batch
# 2-8, 60-150 epochs), Conv2D with Dropout, AdamW, Adagrad, ReduceLROnPlateau
# and EarlyStopping in the fit, a ReLU in front of the softmax, a validation
# set preprocessed differently from training, class-sorted sequences;
# seeds 7 and 8. Labelled by eye with `--curves` before any finding was
# looked at.

FRESH3_SEEDS = (7, 8)


def _cnn_dropout(size, n_out, lr=1e-3, dropout=0.3):
    import keras

    return _sequential(
        [keras.Input((size, size, 1)),
         keras.layers.Conv2D(8, 3, activation="relu"),
         keras.layers.MaxPooling2D(),
         keras.layers.Conv2D(16, 3, activation="relu"),
         keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dropout(dropout),
         keras.layers.Dense(n_out, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(lr))


# Both losses still fall 7 % (seed 7) and 26 % (seed 8) over the last
# tenth: not_converged allowed.
@scenario("fresh3_healthy_cnn_dropout",
          allow={"not_converged", *SEEDED_ORDER}, healthy=True,
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    _seed(seed)
    x, y = images(1500, noise=1.0, seed=seed)
    return Run(_cnn_dropout(12, 3, lr=3e-3), x, y, 32, 15,
               validation_split=0.2)


# Seed 7's val_loss lies flat (0.222-0.226) over its last ten epochs while
# the training loss falls 14 %: overfitting allowed there.
@scenario("fresh3_healthy_lstm_reduce_lr", allow=SEEDED_ORDER, healthy=True,
          seeds=FRESH3_SEEDS, fresh="fresh3",
          per_seed={7: ((), ("overfitting",))})
def _(seed):
    import keras

    _seed(seed)
    x, y = sequences(1500, drift=0.8, seed=seed)
    plateau = keras.callbacks.ReduceLROnPlateau(patience=2, factor=0.5)
    return Run(lstm(20, 4, 2, units=16, lr=3e-3), x, y, 32, 15,
               validation_split=0.2, callbacks=[plateau])


# Planned healthy; the curves overfit: seed 7's val_loss rises 13 % from
# its minimum at epoch 6 (0.112 -> 0.127) while the training loss falls
# 35 %; seed 8's rises 4-5 % (0.105 -> 0.110) as the training loss falls
# 23 % (allowed).
@scenario("fresh3_adamw_regression", allow=SEEDED_ORDER,
          seeds=FRESH3_SEEDS, fresh="fresh3",
          per_seed={7: (("overfitting",), ()), 8: ((), ("overfitting",))})
def _(seed):
    import keras

    _seed(seed)
    x, y = regression(2500, noise=0.3, seed=seed)
    model = _sequential(
        [keras.Input((8,)), keras.layers.Dense(64, activation="relu"),
         keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)],
        "mse", ["mae"], keras.optimizers.AdamW(2e-3, weight_decay=1e-3))
    return Run(model, x, y, 32, 25, validation_split=0.2)


@scenario("fresh3_overfit_dense_98_samples",
          expect={"overfitting", "overparameterized", "small_batch"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 "small_validation_set", *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    _seed(seed)
    x, y = tabular(398, n_features=12, noise=0.5, flip=0.1, seed=seed)
    return Run(mlp(12, 2, (256, 256), lr=1e-3), x[:98], y[:98], 8, 120,
               validation_data=(x[98:], y[98:]))


# 25 validation sequences: val_loss zig-zags by 20-40 % of its level
# (seed 7, epochs 7-21: 0.92, 1.03, 0.80, 0.92, 1.30, 1.01, 0.84, 1.26;
# seed 8, epochs 10-21: 0.23, 0.14, ..., 0.10, 0.25, 0.31, 0.12, 0.16,
# 0.25), far more than the training loss.
@scenario("fresh3_overfit_lstm_98_sequences_batch4",
          expect={"overfitting", "small_batch", "overparameterized",
                  "val_fluctuation", "small_validation_set"},
          allow={"noisy_best_epoch", "loss_spike", "train_oscillation",
                 *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    _seed(seed)
    x, y = sequences(123, flip=0.15, drift=0.8, seed=seed)
    return Run(lstm(20, 4, 2, units=64, lr=2e-3), x, y, 4, 60,
               validation_split=0.2)


# Seed 7's val_loss rises 10 % from epoch 2 (0.371 -> 0.407) while the
# training loss falls 19 %: overfitting; seed 8's lies flat (+2 %), allowed.
@scenario("fresh3_small_batch_2", expect={"small_batch"},
          allow={"train_oscillation", "val_fluctuation", "noisy_best_epoch",
                 "overfitting", *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3",
          per_seed={7: (("overfitting",), ())})
def _(seed):
    _seed(seed)
    x, y = tabular(900, n_features=10, noise=0.3, seed=seed)
    return Run(mlp(10, 2, (32,), lr=1e-3), x, y, 2, 12,
               validation_split=0.2)


# 40 validation samples, but val_loss is smooth on the plot (val_accuracy
# moves in steps of 1/40 with hardly a reversal): no val_fluctuation.
# Seed 7's val_loss rises 8 % from epoch 2 (0.801 -> 0.864) while the
# training loss falls 15 %: overfitting; seed 8's lies flat (+2 %) while
# the training loss falls 12 % (allowed).
@scenario("fresh3_validation_split_0.02",
          expect={"small_validation_set"},
          allow={"noisy_best_epoch", "overfitting", "loss_spike",
                 *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3",
          per_seed={7: (("overfitting",), ())})
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.5, flip=0.1,
                   seed=seed)
    return Run(mlp(10, 3, (64,), lr=3e-3), x, y, 32, 30,
               validation_split=0.02)


@scenario("fresh3_unshuffled_sorted_sequences", expect={"unshuffled_data"},
          allow={"train_oscillation", "val_fluctuation", "loss_spike",
                 "not_converged", "noisy_best_epoch"},
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    _seed(seed)
    x, y = sequences(1200, drift=0.8, seed=seed)
    order = np.argsort(y[:1000], kind="stable")
    return Run(lstm(20, 4, 2, units=16, lr=3e-3), x[:1000][order],
               y[:1000][order], 32, 12,
               validation_data=(x[1000:], y[1000:]), shuffle=False)


@scenario("fresh3_not_converged_adagrad", expect={"not_converged"},
          allow=SEEDED_ORDER, seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(2000, n_features=12, n_classes=4, noise=0.3, seed=seed)
    model = _sequential(
        [keras.Input((12,)), keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(4, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adagrad(2e-3))
    return Run(model, x, y, 32, 20, validation_split=0.2)


# The model learns anyway (val_accuracy 0.83 and 0.71); both losses still
# fall 2-3 % over the last tenth, in a slow line for seed 8 (allowed).
@scenario("fresh3_relu_before_softmax", expect=(),
          allow={"not_converged", *SEEDED_ORDER}, seeds=FRESH3_SEEDS,
          fresh="fresh3")
def _(seed):
    import keras

    # A ReLU Dense feeding the softmax: outputs stuck at zero give every
    # class the same probability.
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=4, noise=0.3, seed=seed)
    model = _sequential(
        [keras.Input((10,)), keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(4, activation="relu"),
         keras.layers.Softmax()],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(1e-3))
    return Run(model, x, y, 32, 20, validation_split=0.2)


# The loss climbs from 1.57 to 8.98 over six epochs, then is NaN.
@scenario("fresh3_diverging_sgd_regression",
          expect={"diverging", "nan_loss"},
          allow={"loss_spike", "val_fluctuation",
                 "train_oscillation", *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    _seed(seed)
    x, y = regression(1500, scale=3.0, seed=seed)
    sched = _lr_schedule(lambda epoch: 2e-3 * 1.6 ** epoch)
    return Run(mlp(8, 1, (32,), lr=2e-3, optimizer="sgd", momentum=0.9),
               x, y, 32, 18, validation_split=0.2, callbacks=[sched])


# After seed 7's kick the val_loss stays up (0.22 -> 0.25-0.26) while the
# training loss falls below its old level: overfitting allowed there.
@scenario("fresh3_loss_spike_kick_lstm", expect={"loss_spike"},
          allow={"not_converged", "val_fluctuation", *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3",
          per_seed={7: ((), ("overfitting",))})
def _(seed):
    _seed(seed)
    x, y = sequences(1500, drift=0.8, seed=seed)
    return Run(lstm(20, 4, 2, units=16, lr=3e-3), x, y, 32, 16,
               validation_split=0.2, callbacks=[_kick(7, 0.6, seed)])


# Planned as a plateau then a drop; the drop never came in 30 epochs: the
# loss sits at ln 2 (0.696-0.698) with accuracy 0.5 for the whole run.
@scenario("fresh3_not_learning_deep_sigmoid", expect={"not_learning"},
          allow=SEEDED_ORDER, seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    import keras

    # Six sigmoid layers and plain SGD: the gradient reaches the first
    # layers only after the last ones have moved.
    _seed(seed)
    x, y = tabular(2000, n_features=10, noise=0.3, seed=seed)
    layers = [keras.Input((10,))]
    layers += [keras.layers.Dense(32, activation="sigmoid")
               for _ in range(6)]
    layers.append(keras.layers.Dense(2, activation="softmax"))
    model = _sequential(layers, "sparse_categorical_crossentropy",
                        ["accuracy"], keras.optimizers.SGD(0.5))
    return Run(model, x, y, 32, 30, validation_split=0.2)


# val_loss climbs from 0.75 to 1.75 (0.63 to 1.40) while val_accuracy is
# frozen at 0.85-0.86 (0.86-0.87): the loss moves, the metric does not.
# Read as a loss alone, it is a rise after a minimum (overfitting allowed).
@scenario("fresh3_validation_scaled_differently",
          expect={"metric_loss_mismatch"},
          allow={"overfitting", "val_fluctuation", *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    import keras

    # The validation inputs are multiplied by 8 (a preprocessing step
    # forgotten on one side). Without biases the network's logits scale
    # with its input, so the predicted class (and accuracy) is unchanged
    # while every mistake becomes very confident.
    _seed(seed)
    x, y = tabular(2500, n_features=10, noise=0.3, seed=seed)
    model = _sequential(
        [keras.Input((10,)),
         keras.layers.Dense(64, activation="relu", use_bias=False),
         keras.layers.Dense(2, use_bias=False),
         keras.layers.Softmax()],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(2e-3))
    return Run(model, x[:2000], y[:2000], 32, 20,
               validation_data=(8.0 * x[2000:], y[2000:]))


# The loss zig-zags by about 10 % of its level around 0.8-1.0 for the
# whole run, ending near where it began (not_learning allowed).
@scenario("fresh3_train_oscillation_sgd_momentum",
          expect={"train_oscillation"},
          allow={"val_fluctuation", "loss_spike", "noisy_best_epoch",
                 "not_converged", "diverging", "not_learning",
                 *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3")
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    return Run(mlp(10, 3, (64,), lr=0.3, optimizer="sgd", momentum=0.95),
               x, y, 32, 25, validation_split=0.2)


# Seed 7's training loss zig-zags over its last six epochs (0.10, 0.22,
# 0.30, 0.15, 0.30, 0.15): train_oscillation allowed there.
@scenario("fresh3_overfit_cnn_label_noise_early_stopping",
          expect={"overfitting"},
          allow={"val_fluctuation", "noisy_best_epoch", "overparameterized",
                 "loss_spike", *SEEDED_ORDER},
          seeds=FRESH3_SEEDS, fresh="fresh3",
          per_seed={7: ((), ("train_oscillation",))})
def _(seed):
    import keras

    _seed(seed)
    x, y = images(700, noise=1.5, flip=0.25, seed=seed)
    stop = keras.callbacks.EarlyStopping(patience=12,
                                         restore_best_weights=True)
    return Run(cnn(12, 3, filters=16, dense=64, lr=2e-3), x[:300], y[:300],
               16, 80, validation_data=(x[300:], y[300:]),
               callbacks=[stop])


# ----------------------------------------------------- fourth fresh set ---
# Added on 2026-12-01 after the fixes the third fresh set led to, and
# scored once, the same way: Conv2D with BatchNormalization, a text-like
# Embedding + LSTM, SGD with Nesterov momentum, RMSprop, L1, cosine decay,
# label noise in a regression, a mid-run rate jump, categorical one-hot
# labels; seeds 9 and 10. Labelled by eye with `--curves` before any
# finding was looked at.

FRESH4_SEEDS = (9, 10)


def _tokens(n, vocab=50, length=15, seed=0, flip=0.0):
    """Token sequences whose class is whether token 7 appears more often
    than token 9."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, size=(n, length))
    y = ((x == 7).sum(1) > (x == 9).sum(1)).astype("int32")
    if flip:
        hit = rng.random(n) < flip
        y[hit] = 1 - y[hit]
    return x.astype("int32"), y


def _embedding_lstm(vocab=50, length=15, units=16, lr=3e-3):
    import keras

    return _sequential(
        [keras.Input((length,)), keras.layers.Embedding(vocab, 16),
         keras.layers.LSTM(units),
         keras.layers.Dense(2, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(lr))


def _cnn_bn(size, n_out, lr=1e-3, optimizer=None):
    import keras

    return _sequential(
        [keras.Input((size, size, 1)),
         keras.layers.Conv2D(8, 3), keras.layers.BatchNormalization(),
         keras.layers.ReLU(), keras.layers.MaxPooling2D(),
         keras.layers.Conv2D(16, 3), keras.layers.BatchNormalization(),
         keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(n_out, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        optimizer or keras.optimizers.Adam(lr))


# Both losses still fall 9-10 % over the last tenth: not_converged allowed.
@scenario("fresh4_healthy_cnn_batchnorm",
          allow={"not_converged", *SEEDED_ORDER}, healthy=True,
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = images(1500, noise=1.0, seed=seed)
    return Run(_cnn_bn(12, 3, lr=2e-3), x, y, 32, 15, validation_split=0.2)


# Seed 10's val_loss lies flat at 0.012 over its last five epochs while the
# training loss halves (overfitting allowed there). Seed 9's training loss
# still falls 20 % an epoch at 0.0007-0.0009, flat on the plot: labelled
# healthy at first; not_converged made allowed after the first score, as
# the real-log labellers read such a tail (LABELS.tsv, 119: "still falling
# ~10%/epoch at the end (0.0415->0.0372)" on a fall from 1.37).
@scenario("fresh4_healthy_embedding_lstm", allow=SEEDED_ORDER, healthy=True,
          seeds=FRESH4_SEEDS, fresh="fresh4",
          per_seed={10: ((), ("overfitting",)), 9: ((), ("not_converged",))})
def _(seed):
    _seed(seed)
    x, y = _tokens(2000, seed=seed)
    return Run(_embedding_lstm(), x, y, 32, 15, validation_split=0.2)


@scenario("fresh4_healthy_cosine_decay_onehot", allow=SEEDED_ORDER,
          healthy=True, seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(3000, n_features=10, n_classes=4, noise=0.3, seed=seed)
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, 20 * 75)
    model = _sequential(
        [keras.Input((10,)), keras.layers.Dense(64, activation="relu"),
         keras.layers.Dense(4, activation="softmax")],
        "categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(schedule))
    return Run(model, x, keras.utils.to_categorical(y, 4), 32, 20,
               validation_split=0.2)


# Seed 9's val_loss zig-zags by 10-40 % over epochs 20-28 (1.20, 1.57,
# 1.43, 2.05, 1.72, 2.41, 2.00, 2.39) while the training loss falls
# smoothly: val_fluctuation. Seed 10's training loss zig-zags as much as
# its val_loss (train_oscillation allowed).
@scenario("fresh4_overfit_embedding_lstm_150",
          expect={"overfitting", "overparameterized"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 "small_validation_set", "train_oscillation",
                 *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4",
          per_seed={9: (("val_fluctuation",), ())})
def _(seed):
    _seed(seed)
    x, y = _tokens(650, seed=seed, flip=0.15)
    return Run(_embedding_lstm(units=64), x[:150], y[:150], 16, 60,
               validation_data=(x[150:], y[150:]))


@scenario("fresh4_overfit_l1_dense_200",
          expect={"overfitting", "overparameterized"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(700, n_features=20, noise=0.5, flip=0.15, seed=seed)
    l1 = keras.regularizers.L1(1e-5)
    model = _sequential(
        [keras.Input((20,)),
         keras.layers.Dense(256, activation="relu", kernel_regularizer=l1),
         keras.layers.Dense(256, activation="relu", kernel_regularizer=l1),
         keras.layers.Dense(2, activation="softmax")],
        "sparse_categorical_crossentropy", ["accuracy"],
        keras.optimizers.Adam(1e-3))
    return Run(model, x[:200], y[:200], 16, 80,
               validation_data=(x[200:], y[200:]))


# The training loss still falls 38 % in the last epoch (not_converged
# allowed).
@scenario("fresh4_small_batch_3_cnn", expect={"small_batch"},
          allow={"train_oscillation", "val_fluctuation", "noisy_best_epoch",
                 "overfitting", "loss_spike", "not_converged",
                 *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = images(600, noise=1.0, seed=seed)
    return Run(cnn(12, 3, lr=1e-3), x, y, 3, 8, validation_split=0.2)


@scenario("fresh4_not_learning_lr_1e-8_rmsprop", expect={"not_learning"},
          allow=SEEDED_ORDER, seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    model = mlp(10, 3, (32,))
    model.compile(keras.optimizers.RMSprop(1e-8),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return Run(model, x, y, 32, 20, validation_split=0.2)


# Planned as not converged; the curves level off by epoch 4: the training
# loss then creeps down 0.5 % an epoch (1 % of the plot over the last
# third: not_converged allowed). Seed 10's val_loss rises 6 % from epoch 4
# (0.198 -> 0.210) while the training loss falls 8 %: overfitting; seed
# 9's lies flat (allowed).
@scenario("fresh4_sgd_nesterov_low_lr", allow={"not_converged",
                                               *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4",
          per_seed={10: (("overfitting",), ()), 9: ((), ("overfitting",))})
def _(seed):
    import keras

    _seed(seed)
    x, y = sequences(1500, drift=0.8, seed=seed)
    model = lstm(20, 4, 2, units=16)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return Run(model, x, y, 32, 15, validation_split=0.2)


# Planned as diverging; the rate jump at epoch 8 only kicks the loss up
# (0.43 -> 0.66-0.69), which then falls back over ten epochs while it
# zig-zags by 5-10 %; val_loss zig-zags by 10-17 % around 0.55-0.67, far
# more: val_fluctuation. The kick with its slow return (loss_spike) and
# the training zig-zag are allowed.
@scenario("fresh4_val_fluctuation_rate_jump_mid_run",
          expect={"val_fluctuation"},
          allow={"loss_spike", "train_oscillation", "not_converged",
                 "noisy_best_epoch", *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = tabular(2000, n_features=10, n_classes=3, noise=0.3, seed=seed)
    sched = _lr_schedule(lambda epoch: 1e-3 if epoch < 8 else 0.05)
    return Run(mlp(10, 3, (64, 64), lr=1e-3), x, y, 32, 22,
               validation_split=0.2, callbacks=[sched])


# NaN from the first epoch, every curve (not_learning allowed).
@scenario("fresh4_nan_rmsprop_unscaled_targets", expect={"nan_loss"},
          allow={"not_learning", *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    import keras

    _seed(seed)
    x, y = regression(1000, scale=1e5, seed=seed)
    model = mlp(8, 1, (32, 32))
    model.compile(keras.optimizers.SGD(0.02, momentum=0.9), "mse",
                  metrics=["mae"])
    return Run(model, x * 10.0, y, 32, 10, validation_split=0.2)


# The kick at epoch 8 sends both losses up (0.07 -> 0.86, val 0.06 ->
# 2.28), which then return over five epochs, still falling at the end.
@scenario("fresh4_loss_spike_kick_cnn_bn", expect={"loss_spike"},
          allow={"not_converged", "val_fluctuation", *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = images(1500, noise=1.0, seed=seed)
    return Run(_cnn_bn(12, 3, lr=2e-3), x, y, 32, 16, validation_split=0.2,
               callbacks=[_kick(8, 0.4, seed)])


# Planned as val_fluctuation; the curves overfit (val_loss 0.30 -> 0.91,
# 0.26 -> 0.75, while the training loss falls 80 %), and the late
# zig-zag of val_loss (10-30 %) is matched by the training loss's (10-20
# %): val_fluctuation and train_oscillation allowed.
@scenario("fresh4_overfit_rmsprop_high_lr", expect={"overfitting"},
          allow={"train_oscillation", "noisy_best_epoch", "loss_spike",
                 "val_fluctuation", *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    import keras

    _seed(seed)
    x, y = tabular(3000, n_features=10, noise=0.3, seed=seed)
    model = mlp(10, 2, (64, 64))
    model.compile(keras.optimizers.RMSprop(0.01),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return Run(model, x, y, 32, 25, validation_split=0.2)


# After epoch 28 the training loss bumps up twice over several epochs and
# comes back (0.11 -> 0.49 -> 0.19, 0.19 -> 0.73 -> 0.07); seed 9's ends
# climbing again (0.10 -> 0.27 over 11 epochs). loss_spike,
# train_oscillation and diverging allowed, as is the val_loss zig-zag.
@scenario("fresh4_regression_label_noise_overfit",
          expect={"overfitting"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 "train_oscillation", "diverging", *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = regression(900, noise=1.0, seed=seed)
    return Run(mlp(8, 1, (128, 128), lr=2e-3), x[:300], y[:300], 16, 60,
               validation_data=(x[300:], y[300:]))


# Accuracy frozen at the majority share (0.874 / 0.867) from epoch 1 while
# the loss falls on (7 %); val_loss lies flat (overfitting allowed).
@scenario("fresh4_majority_class_imbalanced", expect={"metric_loss_mismatch"},
          allow={"not_learning", "not_converged", "overfitting",
                 *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 10)).astype("float32")
    y = (rng.random(2000) < 0.12).astype("int32")  # labels unrelated to x
    return Run(mlp(10, 2, (32,), lr=1e-3), x, y, 32, 20,
               validation_split=0.2)


# Seed 9's val_loss bumps 0.084 -> 0.236 -> 0.067 at epochs 11-13 (a spike,
# allowed; its training loss bumps too).
@scenario("fresh4_plateau_then_drop_lr_warmup_cnn",
          expect={"plateau_then_drop"},
          allow={"not_converged", "overfitting", "loss_spike",
                 *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = images(1200, noise=1.0, seed=seed)
    sched = _lr_schedule(lambda epoch: 1e-7 if epoch < 6 else 2e-3)
    return Run(cnn(12, 3, lr=1e-7), x, y, 32, 16, validation_split=0.2,
               callbacks=[sched])


@scenario("fresh4_overfit_gru_batch8_120",
          expect={"overfitting", "small_batch", "overparameterized"},
          allow={"val_fluctuation", "noisy_best_epoch", "loss_spike",
                 "train_oscillation", "small_validation_set",
                 *SEEDED_ORDER},
          seeds=FRESH4_SEEDS, fresh="fresh4")
def _(seed):
    _seed(seed)
    x, y = sequences(450, flip=0.15, drift=0.8, seed=seed)
    return Run(gru(20, 4, 2, units=64, lr=2e-3), x[:120], y[:120], 8, 70,
               validation_data=(x[120:], y[120:]))


# ------------------------------------------------------------- fitting ---

def _batch_loss_callback():
    import keras

    class BatchLosses(keras.callbacks.Callback):
        """Each batch's own loss from Keras's running epoch mean: with
        equal batches loss_k = (k+1) m_k - k m_{k-1}."""

        def on_train_begin(self, logs=None):
            self.losses = []
            self.per_epoch = []

        def on_epoch_begin(self, epoch, logs=None):
            self._previous = 0.0
            self._count = 0

        def on_train_batch_end(self, batch, logs=None):
            mean = float(logs["loss"])
            self.losses.append((batch + 1) * mean - batch * self._previous)
            self._previous = mean
            self._count += 1

        def on_epoch_end(self, epoch, logs=None):
            self.per_epoch.append(self._count)

    return BatchLosses()


def _json_floats(values):
    return [None if not np.isfinite(v) else float(v) for v in values]


def fit_one(name, seed):
    """Fits one scenario/seed and returns the cache record."""
    import keras

    from keras_curvewatch.preflight.model_info import describe_model

    builder, healthy = SCENARIOS[name][:2]
    keras.backend.clear_session()
    run = builder(seed)
    n = len(run.x)
    if run.validation_split:
        n_train = int(math.floor(n * (1.0 - run.validation_split)))
        n_val = n - n_train
    else:
        n_train = n
        n_val = len(run.validation_data[0])
    batches = _batch_loss_callback()
    start = time.time()
    history = run.model.fit(
        run.x, run.y, batch_size=run.batch_size, epochs=run.epochs,
        validation_split=run.validation_split or 0.0,
        validation_data=run.validation_data, shuffle=run.shuffle,
        callbacks=[batches] + list(run.callbacks), verbose=0)
    seconds = time.time() - start
    info = describe_model(run.model)
    # The last batch of an epoch is smaller when n_train % batch_size != 0:
    # the running-mean recovery is then exact for every other batch only.
    return {
        "version": CACHE_VERSION,
        "name": name,
        "seed": seed,
        "healthy": healthy,
        "history": {k: _json_floats(v) for k, v in history.history.items()},
        "batch_losses": _json_floats(batches.losses),
        "steps_per_epoch": int(batches.per_epoch[0]),
        "batch_size": run.batch_size,
        "n_train": n_train,
        "n_val": n_val,
        "n_params": info["n_params"],
        "layers": list(info["layers"]),
        "optimizer": info["optimizer"],
        # describe_model reads the current rate; the initial one is what a
        # schedule-free user would pass.
        "learning_rate": _initial_lr(history.history,
                                     info["learning_rate"]),
        "fit_seconds": seconds,
    }


def _initial_lr(history, current):
    lr = history.get("learning_rate")
    if lr:
        return float(lr[0])
    return current


def _cache_path(name, seed):
    return os.path.join(CACHE_DIR, f"{name}__s{seed}.json")


def load_or_fit(name, seed, refit=False):
    path = _cache_path(name, seed)
    if not refit and os.path.exists(path):
        with open(path) as f:
            record = json.load(f)
        if record.get("version") == CACHE_VERSION:
            return record, False
    record = fit_one(name, seed)
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f)
    return record, True


# ------------------------------------------------------------ analysis ---

def analyse(record):
    """Runs the engine on a cached run with the context `analyze(history,
    model=model, batch_size=..., n_train=..., n_val=..., batch_losses=...)`
    would have."""
    from keras_curvewatch.engine.analysis import build_context
    from keras_curvewatch.engine.analysis import diagnose
    from keras_curvewatch.io.history import load_history

    history = {k: [float("nan") if v is None else v for v in vals]
               for k, vals in record["history"].items()}
    curves = load_history(history)
    context = build_context(
        curves, batch_size=record["batch_size"], n_train=record["n_train"],
        n_val=record["n_val"], n_params=record["n_params"],
        layers=record["layers"], steps_per_epoch=record["steps_per_epoch"])
    known = dict(context.known_from)
    known.update({"n_params": "model", "layers": "model"})
    context = dataclasses.replace(
        context, optimizer=record["optimizer"],
        learning_rate=record["learning_rate"], known_from=known)
    losses = [float("nan") if v is None else v
              for v in record["batch_losses"]]
    return diagnose(curves, context, batch_losses=losses)


def _labels(name, record):
    """The scenario's labels (from the code, so corrections need no
    refit)."""
    _, _, _, expect, allow, per_seed = SCENARIOS[name]
    more_expect, more_allow = per_seed.get(record["seed"], ((), ()))
    allow = set(allow) | set(more_allow)
    if STRICT_SEEDED_ORDER and record["healthy"]:
        allow -= set(SEEDED_ORDER)
    return set(expect) | set(more_expect), allow


# --strict-seeded: count unshuffled_data on seeded healthy runs as a false
# positive, as a grader who labels every healthy run "no finding" would.
STRICT_SEEDED_ORDER = False


KEY_EVIDENCE = 6
# Runs fitted on class-sorted data with shuffle=False: their
# unshuffled_data must be the saw-tooth kind (warning or critical); on every
# other run it can only be a repeated random order (info).
SORTED_ORDER_RUNS = {"unshuffled_class_sorted",
                     "fresh3_unshuffled_sorted_sequences"}


def _evidence(finding):
    items = list(finding.evidence.items())[:KEY_EVIDENCE]
    return ", ".join(f"{k}={_num(v)}" for k, v in items)


def _num(v):
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def split_of(record, split="scenario"):
    """'tune' or 'held-back' under `split` (see the module docstring)."""
    import hashlib

    name = record["name"]
    if split == "seed":
        return "tune" if record["seed"] == 0 else "held-back"
    mlp_only = "cnn" not in name and "lstm" not in name
    even = hashlib.sha256(name.encode("utf-8")).digest()[0] % 2 == 0
    return "tune" if record["seed"] == 0 and mlp_only and even else (
        "held-back")


def evaluate(records, out=print, show_mismatches=True):
    tp, fp, fn = (collections.Counter() for _ in range(3))
    healthy_runs = healthy_alarms = 0
    healthy_codes = collections.Counter()
    n_wrong_kind = 0
    mismatches = []
    rows = []
    for record in records:
        report = analyse(record)
        expect, allow = _labels(record["name"], record)
        found = {f.code for f in report.findings}
        for code in CURVE_CODES:
            if code in found and code in expect:
                tp[code] += 1
            elif code in found and code not in allow:
                fp[code] += 1
            elif code in expect and code not in found:
                fn[code] += 1
        serious = [f for f in report.findings if f.rank >= WARNING_RANK]
        if record["healthy"]:
            healthy_runs += 1
            healthy_codes.update(f"{f.code}[{f.severity}]"
                                 for f in report.findings)
            if serious:
                healthy_alarms += 1
        extra = found - expect - allow
        missing = expect - found
        wrong_kind = [
            f for f in report.findings if f.code == "unshuffled_data"
            and (f.severity == "info") == (record["name"]
                                             in SORTED_ORDER_RUNS)]
        label = f"{record['name']}/s{record['seed']}"
        rows.append((label, sorted(expect), sorted(found)))
        if wrong_kind:
            n_wrong_kind += 1
        if extra or missing or wrong_kind:
            lines = [f"{label}: expected {sorted(expect)}"
                     + (f" allowed {sorted(allow)}" if allow else "")
                     + f" found {sorted(found)}"]
            for f in report.findings:
                if f.code in extra:
                    lines.append(f"    + {f.code} [{f.severity}] "
                                 f"{_evidence(f)}")
            for code in sorted(missing):
                lines.append(
                    f"    - {code}: {_missing_evidence(code, report)}")
            for f in wrong_kind:
                lines.append(f"    ! unshuffled_data of the wrong kind "
                             f"[{f.severity}] {_evidence(f)}")
            mismatches.append("\n".join(lines))
    out("Per-code results (a finding at any severity counts):")
    out(f"{'code':24s} {'TP':>3s} {'FP':>3s} {'FN':>3s} {'prec':>5s} "
        f"{'rec':>5s} {'F1':>5s}")
    for code in CURVE_CODES:
        t, p, n = tp[code], fp[code], fn[code]
        prec = t / (t + p) if t + p else float("nan")
        rec = t / (t + n) if t + n else float("nan")
        f1 = 2 * t / (2 * t + p + n) if t + p + n else float("nan")
        out(f"{code:24s} {t:3d} {p:3d} {n:3d} {prec:5.2f} {rec:5.2f} "
            f"{f1:5.2f}")
    t, p, n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro = 2 * t / (2 * t + p + n) if t + p + n else float("nan")
    out(f"micro-F1 {micro:.3f} (TP={t} FP={p} FN={n}) over "
        f"{len(records)} runs")
    out(f"healthy false-alarm rate (warning+): {healthy_alarms}/"
        f"{healthy_runs}")
    out(f"unshuffled_data of the wrong kind (saw-tooth vs repeated "
        f"order): {n_wrong_kind}")
    out("findings on healthy runs (any severity): "
        + (", ".join(f"{k} x{v}" for k, v in sorted(healthy_codes.items()))
           or "none"))
    if show_mismatches:
        out(f"\nMismatches ({len(mismatches)}):")
        for m in mismatches:
            out(m)
    else:
        out(f"\nMismatches: {len(mismatches)} (not shown: held back)")
    return micro, healthy_alarms


def _missing_evidence(code, report):
    """The numbers a rule would have looked at for a missing code."""
    s = report.series
    ctx = report.context
    parts = []
    if code in ("overfitting", "noisy_best_epoch", "val_fluctuation",
                "metric_loss_mismatch", "small_validation_set"):
        for name in ("val_loss", "val_accuracy"):
            if name in s:
                v = s[name]
                parts.append(
                    f"{name}: rel_noise={_num(v.relative_noise)} "
                    f"noise={_num(v.noise)} flip={_num(v.flip_rate)} "
                    f"raw_best={v.raw_best_epoch} "
                    f"smoothed_best={v.smoothed_best_epoch} "
                    f"tau={_num(v.trend_tau)} p={_num(v.trend_p)}")
        parts.append(f"n_val={ctx.get('n_val')}")
    elif code in ("train_oscillation", "diverging", "not_learning",
                  "not_converged", "plateau_then_drop", "loss_spike",
                  "nan_loss"):
        name = "val_loss" if code == "not_converged" and "val_loss" in s \
            else "loss"
        v = s[name]
        parts.append(
            f"{name}: rel_noise={_num(v.relative_noise)} "
            f"flip={_num(v.flip_rate)} tau={_num(v.trend_tau)} "
            f"p={_num(v.trend_p)} slope={_num(v.trend_slope)} "
            f"spikes={list(v.spikes)[:3]} "
            f"first={_num(float(v.values[0]))} "
            f"last={_num(float(v.values[-1]))}")
    elif code == "unshuffled_data":
        period = (report.batch or {}).get("periodicity") or {}
        parts.append(", ".join(f"{k}={_num(v)}" for k, v in period.items()))
    else:
        parts.append(", ".join(f"{k}={v}" for k, v in ctx.items()
                               if k in ("batch_size", "n_train", "n_val",
                                        "n_params")))
    return "; ".join(parts)


def show(record, findings=True):
    expect, allow = _labels(record["name"], record)
    print(f"{record['name']} seed {record['seed']}: expect "
          f"{sorted(expect)} allow {sorted(allow)} "
          f"({record['fit_seconds']:.1f}s fit)")
    keys = list(record["history"])
    print("ep " + " ".join(f"{k:>12s}" for k in keys))
    for i in range(len(record["history"][keys[0]])):
        cells = [record["history"][k][i] for k in keys]
        print(f"{i:2d} " + " ".join(
            f"{'nan' if v is None else _num(v):>12s}" for v in cells))
    if findings:
        print(analyse(record))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=None,
                        help="comma-separated substrings of scenario names")
    parser.add_argument("--refit", action="store_true")
    parser.add_argument("--show", default=None)
    parser.add_argument("--curves", default=None,
                        help="print the curves of the matching runs, with "
                        "no finding (for labelling by eye)")
    parser.add_argument("--strict-seeded", action="store_true",
                        help="count unshuffled_data on seeded healthy runs "
                        "as a false positive")
    parser.add_argument("--show-held-back", action="store_true",
                        help="also print the held-back runs' mismatches")
    parser.add_argument("--out", default=None,
                        help="also write the printed table to this file")
    args = parser.parse_args(argv)
    global STRICT_SEEDED_ORDER
    STRICT_SEEDED_ORDER = args.strict_seeded
    try:
        os.nice(10)
    except OSError:
        pass
    names = list(SCENARIOS)
    if args.only:
        keys = args.only.split(",")
        names = [n for n in names if any(k in n for k in keys)]
    if args.show or args.curves:
        names = [n for n in names if (args.show or args.curves) in n]
    records = []
    fit_time = 0.0
    for name in names:
        for seed in SCENARIOS[name][2]:
            record, fitted = load_or_fit(name, seed, refit=args.refit)
            if fitted:
                fit_time += record["fit_seconds"]
                print(f"fitted {name}/s{seed} in "
                      f"{record['fit_seconds']:.1f}s", file=sys.stderr)
            records.append(record)
    if args.show or args.curves:
        for record in records:
            show(record, findings=not args.curves)
        return
    lines = []

    def out(line=""):
        print(line)
        lines.append(line)

    scores = {}
    fresh = [r for r in records if r["name"] in FRESH]
    settled = [r for r in records if r["name"] not in FRESH]
    for split in ("scenario", "seed"):
        tune = [r for r in settled if split_of(r, split) == "tune"]
        held = [r for r in settled if split_of(r, split) == "held-back"]
        tuned_names = {r["name"] for r in tune}
        unseen = [r for r in held if r["name"] not in tuned_names]
        for title, subset, visible in (
                ("tune", tune, split == "seed"),
                ("held-back", held, args.show_held_back),
                ("held-back scenarios with no tune run", unseen, False)):
            if not subset:
                continue
            out(f"\n=== split '{split}', {title}: {len(subset)} runs of "
                f"{len({r['name'] for r in subset})} scenarios ===")
            scores[f"{split}/{title}"] = evaluate(subset, out, visible)[0]
    for group in sorted({FRESH[r["name"]] for r in fresh}):
        runs = [r for r in fresh if FRESH[r["name"]] == group]
        out(f"\n=== {group} held-back set (never tuned on): {len(runs)} "
            f"runs of {len({r['name'] for r in runs})} scenarios ===")
        scores[group] = evaluate(runs, out, args.show_held_back)[0]
    out("\n=== ALL runs ===")
    scores["all"] = evaluate(records, out, False)[0]
    out("\nSummary (micro-F1): " + "; ".join(
        f"{k} {v:.3f}" for k, v in scores.items()))
    total = sum(r["fit_seconds"] for r in records)
    out(f"\ntotal fit time of these runs: {total:.0f}s "
        f"(fitted now: {fit_time:.0f}s)")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
