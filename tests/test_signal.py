"""signal_check(): weak_signal, model_below_knn, and the lint and
CurveWatch entry points."""

import warnings

import numpy as np
import pytest

import keras_curvewatch as kcw
from keras_curvewatch.preflight import signal


def _separable(n=600, features=10, seed=0):
    """Two classes split by a plane, with a margin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=features)
    score = x @ w
    keep = np.abs(score) > 0.3 * np.std(score)
    return x[keep], (score[keep] > 0).astype("int32")


def _classifier(features, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.01),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_labels_independent_of_inputs_give_weak_signal():
    flagged = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(400, 12))
        y = rng.integers(0, 3, size=400)
        report = kcw.signal_check(x, y)
        flagged += report.has("weak_signal")
        if report.has("weak_signal"):
            finding = report.get("weak_signal")
            assert finding.evidence["p_value"] > 0.05
            assert finding.top_cause == "data_shuffling"
    # A 5 % test: about 9.5 of 10 expected.
    assert flagged >= 8, flagged


def test_labels_that_follow_the_inputs_give_no_weak_signal():
    x, y = _separable()
    report = kcw.signal_check(x, y)
    assert report.codes == []
    assert report.context["knn_error"] < 0.2
    assert report.context["p_value"] < 0.05
    assert report.context["majority_error"] == pytest.approx(
        1 - np.bincount(y).max() / len(y))


def test_separable_problem_with_untrained_model_is_below_knn():
    pytest.importorskip("keras")
    x, y = _separable(seed=1)
    model = _classifier(x.shape[1], seed=3)
    report = kcw.signal_check(x, y, model=model)
    finding = report.get("model_below_knn")
    assert finding is not None and finding.severity == "warning"
    assert finding.evidence["model_error"] > finding.evidence["knn_error"]
    assert report.context["model_error_from"] == "model"
    assert not report.has("weak_signal")


def test_healthy_trained_model_gets_neither_finding():
    pytest.importorskip("keras")
    x, y = _separable(n=900, seed=2)
    model = _classifier(x.shape[1])
    split = len(x) * 2 // 3
    history = model.fit(x[:split], y[:split], epochs=30, batch_size=32,
                        validation_data=(x[split:], y[split:]), verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9
    report = kcw.signal_check(x[split:], y[split:], model=model)
    assert report.codes == []
    assert report.context["model_error"] <= report.context["knn_error"] + (
        2 * report.context["knn_standard_error"])


def test_val_error_instead_of_a_model():
    x, y = _separable(seed=4)
    knn = kcw.signal_check(x, y).context["knn_error"]
    worse = kcw.signal_check(x, y, val_error=min(knn + 0.3, 1.0), n_val=200)
    assert worse.has("model_below_knn", "warning")
    same = kcw.signal_check(x, y, val_error=knn, n_val=200)
    assert not same.has("model_below_knn")


def test_regression_reports_mse_relative_to_variance():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 6))
    y = 2.0 * x[:, 0] - x[:, 1] + 0.3 * rng.normal(size=500)
    report = kcw.signal_check(x, y)
    assert report.context["task"] == "regression"
    assert report.context["knn_error"] < 0.5
    assert report.codes == []
    noise = kcw.signal_check(x, rng.normal(size=500))
    assert noise.has("weak_signal")
    bad = kcw.signal_check(x, y, val_error=float(np.var(y)), n_val=500)
    assert bad.has("model_below_knn")


def test_wide_inputs_are_projected_to_64_dims_and_images_flattened():
    rng = np.random.default_rng(6)
    images = rng.normal(size=(300, 12, 12, 3)).astype("float32")
    labels = (images[:, :6].mean(axis=(1, 2, 3)) > 0).astype("int32")
    report = kcw.signal_check(images, labels)
    assert report.context["n_features"] == 432
    assert report.context["n_dims"] == signal.MAX_PCA_DIMS
    assert "principal components" in report.notes[0]


def test_projection_keeps_the_leading_variance():
    rng = np.random.default_rng(7)
    low_rank = rng.normal(size=(1000, 8)) @ rng.normal(size=(8, 300))
    data = (low_rank + 0.01 * rng.normal(size=(1000, 300))).astype("float32")
    projected = signal.project(data)
    standardised = (data - data.mean(0)) / data.std(0)
    kept = projected.var(0).sum() / standardised.var(0).sum()
    assert kept > 0.99


def test_subsample_keeps_class_shares():
    rng = np.random.default_rng(8)
    y = np.where(rng.random(3000) < 0.2, 1, 0)
    x = rng.normal(size=(3000, 4)) + y[:, None]
    report = kcw.signal_check(x, y, max_samples=500)
    assert report.context["n_samples"] == 500
    assert report.context["n_total"] == 3000
    target = signal.prepare_targets(y, len(y))
    keep = signal.subsample(target, 500)
    assert abs(np.mean(y[keep]) - np.mean(y)) < 1 / 500 + 1e-9
    assert len(np.unique(keep)) == 500


def test_one_hot_and_string_labels():
    x, y = _separable(seed=9)
    one_hot = np.eye(2)[y]
    names = np.array(["cat", "dog"])[y]
    errors = {kcw.signal_check(x, v).context["knn_error"]
              for v in (y, one_hot, names)}
    assert len(errors) == 1


@pytest.mark.parametrize("x, y, kwargs, error, message", [
    (np.zeros((20, 3)), np.zeros(19), {}, kcw.InputError, "20 samples"),
    (np.full((20, 3), np.nan), np.zeros(20), {}, kcw.InputError, "NaN"),
    (np.zeros((5, 3)), np.zeros(5), {}, kcw.InputError, "at least"),
    (np.zeros((20, 3)), np.zeros(20), {"max_samples": 3}, kcw.ConfigError,
     "max_samples"),
    (np.zeros((20, 3)), np.arange(20), {"task": "ranking"}, kcw.ConfigError,
     "task"),
    (np.zeros((20, 3)), np.zeros(20), {"val_error": 1.5}, kcw.ConfigError,
     "val_error"),
    (np.zeros((20, 3)), np.full((20, 2), 3.0), {}, kcw.InputError,
     "one target per sample"),
])
def test_bad_input_errors(x, y, kwargs, error, message):
    with pytest.raises(error, match=message):
        kcw.signal_check(x, y, **kwargs)


def test_lint_with_signal():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(10)
    x = rng.normal(size=(300, 8)).astype("float32")
    y = rng.integers(0, 2, size=300)
    model = _classifier(8)
    assert "weak_signal" not in [f.code for f in kcw.lint(model, x, y)]
    findings = kcw.lint(model, x, y, signal=True)
    assert "weak_signal" in [f.code for f in findings]
    report = kcw.lint_report(model, x, y, signal=True)
    assert any("Leave-one-out kNN" in note for note in report.notes)
    dataset_report = kcw.lint_report(model, [[1.0]], y, signal=True)
    assert any("signal checks stopped" in n for n in dataset_report.notes)
    del keras


def test_curvewatch_signal_check_at_train_end():
    keras = pytest.importorskip("keras")
    x, y = _separable(seed=11)
    model = _classifier(x.shape[1])
    model.optimizer.learning_rate.assign(1e-6)  # learns nothing
    watch = kcw.CurveWatch(signal_check=(x, y), display=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, validation_split=0.25, epochs=2, batch_size=32,
                  verbose=0, callbacks=[watch])
    assert not watch.disabled, watch.error
    finding = watch.report.get("model_below_knn")
    assert finding is not None
    val_accuracy = watch.history["val_accuracy"][-1]
    assert finding.evidence["model_error"] == pytest.approx(
        1 - val_accuracy)
    assert any(issubclass(w.category, kcw.ModelBelowKnnWarning)
               for w in caught)
    with pytest.raises(kcw.ConfigError, match="signal_check"):
        kcw.CurveWatch(signal_check=x)
    del keras


def test_codes_and_warning_classes_are_registered():
    from keras_curvewatch.live.warning_types import warning_class

    for code, cls in (("weak_signal", kcw.WeakSignalWarning),
                      ("model_below_knn", kcw.ModelBelowKnnWarning)):
        assert code in kcw.CODES
        assert warning_class(code) is cls


def test_results_repeat():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(700, 80))
    y = rng.integers(0, 4, size=700)
    first = kcw.signal_check(x, y, max_samples=400).to_dict()
    second = kcw.signal_check(x, y, max_samples=400).to_dict()
    assert first == second
