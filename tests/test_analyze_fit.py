"""Real problems produced by a real `model.fit` on tiny models and
generated data, then diagnosed by `analyze()`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402


class BatchLosses(keras.callbacks.Callback):
    """Recovers each batch's own loss from Keras's running epoch mean.

    `logs["loss"]` at batch k is the mean of batches 0..k weighted by batch
    size, so with equal batches loss_k = (k+1) m_k - k m_{k-1}.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = 0.0

    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        self.losses.append((batch + 1) * mean - batch * self._previous)
        self._previous = mean


def _classification(n, n_features=8, n_classes=2, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n_features, n_classes))
    x = rng.normal(size=(n, n_features)).astype("float32")
    logits = x @ w + rng.normal(0, noise, size=(n, n_classes))
    return x, logits.argmax(axis=1).astype("int32")


def _mlp(n_features, n_classes, units=16, lr=1e-2, optimizer=None, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((n_features,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer or keras.optimizers.Adam(lr),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_healthy_run_has_no_warning(seed):
    x, y = _classification(1000, seed=seed)
    model = _mlp(8, 2, seed=seed, lr=3e-3)
    history = model.fit(x, y, validation_split=0.25, batch_size=32,
                        epochs=25, verbose=0)
    report = kcw.analyze(history, model=model, batch_size=32, n_train=750,
                         n_val=250)
    serious = [f.code for f in report.findings if f.rank >= 1]
    assert serious == [], str(report)
    assert report.series["val_accuracy"].best > 0.8


def test_overfitting_small_data_big_model():
    x, y = _classification(80, n_features=20, noise=3.0, seed=3)
    model = _mlp(20, 2, units=2048, lr=1e-3, seed=3)
    history = model.fit(x, y, validation_split=0.5, batch_size=8, epochs=60,
                        verbose=0)
    report = kcw.analyze(history, model=model, batch_size=8, n_train=40,
                         n_val=40)
    finding = report.get("overfitting")
    assert finding is not None, str(report)
    assert report.has("overparameterized", "warning")
    assert finding.top_cause == "model_capacity"
    assert report.best_epoch <= finding.epoch + 3
    # The recommended epoch is before the end of the run.
    assert report.best_epoch < 50


def test_nan_loss_from_an_exploding_rate():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(256, 4)).astype("float32") * 100
    y = (x @ rng.normal(size=(4, 1))).astype("float32") * 100
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    report = kcw.analyze(history, model=model)
    assert report.findings[0].code == "nan_loss"
    assert report.findings[0].severity == "critical"
    assert report.findings[0].top_cause == "learning_rate"


def test_not_learning_with_a_vanishing_rate():
    x, y = _classification(400, n_classes=3, seed=5)
    model = _mlp(8, 3, optimizer=keras.optimizers.SGD(1e-7), seed=5)
    history = model.fit(x, y, validation_split=0.2, batch_size=32,
                        epochs=8, verbose=0)
    report = kcw.analyze(history, model=model)
    finding = report.get("not_learning")
    assert finding is not None and finding.severity == "critical"
    assert finding.top_cause == "learning_rate"
    assert "too low" in finding.causes[0][1]


def _sequences(n, seed, timesteps=12, features=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n).astype("int32")
    t = np.linspace(0, 1, timesteps)
    x = np.sin(2 * np.pi * (1 + y)[:, None, None] * t[None, :, None])
    x = x + rng.normal(0, 1.0, size=(n, timesteps, features))
    return x.astype("float32"), y


def test_seed_lstm_small_batch_and_capacity_from_the_model():
    x, y = _sequences(98, seed=6)
    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((12, 3)), keras.layers.LSTM(64),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=2, epochs=3, verbose=0)
    report = kcw.analyze(history, model=model, batch_size=2, n_train=98)
    assert report.context["n_params"] == model.count_params()
    assert "LSTM" in report.context["layers"]
    assert report.get("small_batch").severity == "warning"
    assert report.has("overparameterized")


def test_frozen_base_does_not_count_as_parameters():
    base = keras.Sequential([keras.Input((8,)), keras.layers.Dense(512),
                             keras.layers.Dense(512)])
    base.trainable = False
    model = keras.Sequential([base, keras.layers.Dense(2,
                                                       activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = _classification(64, seed=7)
    history = model.fit(x, y, epochs=2, verbose=0)
    report = kcw.analyze(history, model=model, n_train=64)
    assert report.context["n_params"] == 512 * 2 + 2
    assert not report.has("overparameterized", "warning")


def _sorted_classes(seed):
    x, y = _classification(480, n_classes=3, noise=1.0, seed=seed)
    order = np.argsort(y, kind="stable")
    return x[order], y[order]


def test_class_sorted_unshuffled_data_gives_a_sawtooth():
    x, y = _sorted_classes(8)
    model = _mlp(8, 3, seed=8,
                 optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    recorder = BatchLosses()
    history = model.fit(x, y, batch_size=16, epochs=6, shuffle=False,
                        verbose=0, callbacks=[recorder])
    report = kcw.analyze(history, batch_losses=recorder.losses,
                         steps_per_epoch=30, batch_size=16)
    finding = report.get("unshuffled_data")
    assert finding is not None, str(report)
    assert finding.severity in ("warning", "critical")
    assert "saw-tooth" in finding.message
    assert finding.top_cause == "data_shuffling"


def test_seeded_shuffle_repeats_one_order_and_is_info():
    """After keras.utils.set_random_seed, fit(shuffle=True) repeats the
    same order every epoch (measured on Keras 3 with TensorFlow)."""
    x, y = _classification(480, n_classes=3, noise=1.0, seed=9)
    model = _mlp(8, 3, lr=1e-2, seed=9)  # calls set_random_seed
    recorder = BatchLosses()
    history = model.fit(x, y, batch_size=16, epochs=6, shuffle=True,
                        verbose=0, callbacks=[recorder])
    report = kcw.analyze(history, batch_losses=recorder.losses,
                         steps_per_epoch=30, batch_size=16)
    finding = report.get("unshuffled_data")
    assert finding is not None, str(report)
    assert finding.severity == "info"
    assert finding.evidence["cross_epoch_corr"] > 0.8


def test_freshly_shuffled_epochs_are_not_flagged():
    x, y = _classification(480, n_classes=3, noise=1.0, seed=10)
    model = _mlp(8, 3, lr=1e-2, seed=10)
    rng = np.random.default_rng(10)
    recorder = BatchLosses()
    curves = {"loss": []}
    for _ in range(6):
        order = rng.permutation(len(x))
        history = model.fit(x[order], y[order], batch_size=16, epochs=1,
                            shuffle=False, verbose=0, callbacks=[recorder])
        curves["loss"] += history.history["loss"]
        batch_losses = getattr(recorder, "all", []) + recorder.losses
        recorder.all = batch_losses
    report = kcw.analyze(curves, batch_losses=recorder.all,
                         steps_per_epoch=30, batch_size=16)
    assert len(recorder.all) == 180
    assert not report.has("unshuffled_data"), str(report)
