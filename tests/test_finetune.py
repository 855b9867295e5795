"""Tests of the fine-tuning and class-weight advice: real fits of a small
frozen "base" (Dense + BatchNormalization, trainable=False) with a Dense
head, of a fully unfrozen one on little data, and on imbalanced labels.
No pretrained weights are downloaded."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402
from keras_curvewatch.engine.rules.finetune import class_weights  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
from keras_curvewatch.preflight.frozen import describe_frozen  # noqa: E402

UNDERFIT = ("not_learning", "not_converged", "underfitting")


def _base(trainable, width=96, out=2):
    base = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(width, activation="relu", name="base_dense_1"),
        keras.layers.BatchNormalization(name="base_bn_1"),
        keras.layers.Dense(width, activation="relu", name="base_dense_2"),
        keras.layers.BatchNormalization(name="base_bn_2"),
        keras.layers.Dense(out, name="base_top"),
    ], name="base")
    base.trainable = trainable
    return base


def _model(trainable, classes=4, rate=1e-2, width=96, out=2):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16,)),
        _base(trainable, width, out),
        keras.layers.Dense(classes, activation="softmax", name="head"),
    ])
    model.compile(keras.optimizers.Adam(rate),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n, classes=4, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype("float32")
    score = x[:, :8].sum(axis=1) * np.sign(x[:, 8]) + noise * rng.normal(
        size=n)
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return x, np.digitize(score, edges)


def test_describe_frozen_finds_the_frozen_base_and_its_batchnorm():
    info = describe_frozen(_model(trainable=False))
    frozen = info["frozen_base"]
    assert frozen is not None and info["unfrozen_base"] is None
    assert frozen["base"] == "base"
    assert frozen["share"] > 0.9
    assert frozen["n_batchnorm"] == 2
    assert frozen["top_block"][-1] == "base_top"
    assert "base_dense_2" in frozen["top_block"]
    assert "base_dense_1" not in frozen["top_block"]
    assert frozen["top_block_batchnorm"] == ["base_bn_2"]
    assert frozen["head"] == ["head"]


def test_describe_frozen_finds_a_fully_trainable_base():
    info = describe_frozen(_model(trainable=True))
    assert info["frozen_base"] is None
    assert info["unfrozen_base"]["base"] == "base"
    assert info["unfrozen_base"]["share"] > 0.9


def test_plain_model_has_neither():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Dense(2)])
    info = describe_frozen(model)
    assert info["frozen_base"] is None and info["unfrozen_base"] is None


def test_underfit_frozen_base_says_unfreeze_the_top_block():
    model = _model(trainable=False)
    x, y = _data(800)
    watch = CurveWatch(display=False, warn=lambda finding: None)
    history = model.fit(x, y, validation_split=0.2, epochs=12, batch_size=32,
                        verbose=0, callbacks=[watch])
    assert max(history.history["accuracy"]) < 0.8
    advised = [f for f in watch.report.findings if f.code in UNDERFIT
               and f.causes and f.causes[0][0] == "model_capacity"]
    assert advised, [(f.code, f.causes) for f in watch.report.findings]
    finding = advised[0]
    assert "frozen" in finding.causes[0][1]
    assert "BatchNormalization" in finding.causes[0][1]
    assert "base_dense_2" in finding.suggestion
    assert "base_top" in finding.suggestion
    assert "base_bn_2" in finding.suggestion  # left frozen
    assert "10x lower" in finding.suggestion
    assert "0.001 instead of 0.01" in finding.suggestion
    assert "base_dense_2" in str(watch.report)  # the text report renders
    again = kcw.Report.from_json(watch.report.to_json())
    assert again.context["frozen_base"] == watch.report.context["frozen_base"]


def test_fully_unfrozen_fine_tune_overfitting_says_freeze_more():
    model = _model(trainable=True, rate=3e-3, width=256, out=64)
    x, y = _data(120, noise=4.0)
    watch = CurveWatch(display=False, warn=lambda finding: None)
    model.fit(x, y, validation_split=0.25, epochs=20, batch_size=16,
              verbose=0, callbacks=[watch])
    finding = watch.report.get("overfitting")
    assert finding is not None, watch.report.codes
    assert finding.causes[0][0] == "model_capacity"
    assert "Freeze more" in finding.suggestion
    assert "base.trainable = False" in finding.suggestion


def test_imbalanced_live_labels_get_class_weight_advice():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 16)).astype("float32")
    y = rng.choice(3, size=500, p=[0.8, 0.15, 0.05])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    watch = CurveWatch(display=False, warn=lambda finding: None)
    model.fit(x, y, validation_split=0.2, epochs=2, batch_size=32,
              verbose=0, callbacks=[watch])
    finding = watch.report.get("class_imbalance")
    assert finding is not None
    counts = np.bincount(y[:400], minlength=3)
    weights = class_weights(counts)
    assert weights[2] == pytest.approx(400 / (3 * counts[2]))
    assert f"2: {kcw.engine.rules.base.fmt(weights[2])}" in finding.suggestion
    assert "class_weight=" in finding.suggestion
    assert "F1Score(average='macro')" in finding.suggestion


def test_analyze_takes_class_counts_offline():
    history = {"loss": [1.0, 0.8, 0.7, 0.65, 0.6],
               "accuracy": [0.5, 0.6, 0.65, 0.7, 0.72]}
    report = kcw.analyze(history, class_counts=[900, 100])
    finding = report.get("class_imbalance")
    assert finding is not None
    assert "0: 0.556" in finding.suggestion and "1: 5" in finding.suggestion
    assert report.context["class_counts"] == [900, 100]
    assert kcw.analyze(history, class_counts=[500, 500]).get(
        "class_imbalance") is None
    with pytest.raises(kcw.ConfigError, match="class_counts"):
        kcw.analyze(history, class_counts=[10, -1])


def test_lint_class_imbalance_gives_the_weights_keyed_by_label():
    y = np.array([1] * 180 + [3] * 20)
    [finding] = [f for f in kcw.lint(None, y=y)
                 if f.code == "class_imbalance"]
    # n / (classes x count): 200 / (2 x 180) and 200 / (2 x 20).
    assert "class_weight={1: 0.556, 3: 5}" in finding.suggestion
