"""Tests for keras_curvewatch.preflight.lint on real tiny Keras models and data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_curvewatch.errors import ConfigError  # noqa: E402
from keras_curvewatch.errors import FormatError  # noqa: E402
from keras_curvewatch.errors import InputError  # noqa: E402
from keras_curvewatch.engine.findings import CAUSES  # noqa: E402
from keras_curvewatch.preflight.model import DROPOUT_MAX_RATE  # noqa: E402
from keras_curvewatch.preflight.lint import lint  # noqa: E402
from keras_curvewatch.preflight.lint import lint_file  # noqa: E402
from keras_curvewatch.preflight.lint import lint_report  # noqa: E402
from keras_curvewatch.preflight.data import CLASS_IMBALANCE_RATIO  # noqa: E402
from keras_curvewatch.engine.report import Report  # noqa: E402

layers = keras.layers


def codes(findings):
    return [f.code for f in findings]


def only(findings, code):
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, codes(findings)
    finding = hits[0]
    assert finding.message and finding.suggestion
    assert finding.causes and all(c in CAUSES for c, _ in finding.causes)
    return finding


def classifier(n_in=8, n_out=3, hidden="relu", out="softmax"):
    model = keras.Sequential([
        keras.Input((n_in,)),
        layers.Dense(16, activation=hidden),
        layers.Dense(n_out, activation=out),
    ])
    return model


def clean_data(n=600, n_in=8, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype("float32")
    y = rng.permutation(np.arange(n) % n_classes)
    return x, y


# --- a clean run: nothing fires --------------------------------------------

def test_clean_model_and_data_give_no_finding():
    model = classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = clean_data()
    report = lint_report(model, x, y, batch_size=32, validation_split=0.2)
    assert report.findings == []
    assert report.notes == []
    assert report.context["n_train"] == 480
    assert report.context["n_val"] == 120
    assert report.context["n_params"] == 8 * 16 + 16 + 16 * 3 + 3


# --- relu_before_softmax ---------------------------------------------------

def test_relu_dense_then_softmax_layer_in_sequential():
    model = keras.Sequential([
        keras.Input((4,)), layers.Dense(3, activation="relu"),
        layers.Softmax(),
    ])
    finding = only(lint(model), "relu_before_softmax")
    assert finding.severity == "critical"
    assert "relu" in finding.message
    assert finding.top_cause == "output_activation"
    assert finding.evidence["units"] == 3


def test_activation_layers_and_dropout_in_between_are_seen():
    model = keras.Sequential([
        keras.Input((4,)), layers.Dense(3), layers.Activation("tanh"),
        layers.Dropout(0.1), layers.Activation("softmax"),
    ])
    finding = only(lint(model), "relu_before_softmax")
    assert "tanh" in finding.message
    assert finding.severity == "warning"


def test_linear_before_softmax_and_relu_then_dense_softmax_are_fine():
    linear = keras.Sequential([
        keras.Input((4,)), layers.Dense(3), layers.Softmax()])
    hidden = classifier(n_in=4)
    assert "relu_before_softmax" not in codes(lint(linear))
    assert "relu_before_softmax" not in codes(lint(hidden))


def test_functional_with_relu_inside_a_nested_sequential():
    body = keras.Sequential(
        [keras.Input((4,)), layers.Dense(8),
         layers.Dense(3, activation="relu")],
        name="body",
    )
    inputs = keras.Input((4,))
    outputs = layers.Softmax(name="probs")(body(inputs))
    model = keras.Model(inputs, outputs)
    finding = only(lint(model), "relu_before_softmax")
    assert "body/" in finding.message and "probs" in finding.message


def test_softmax_first_in_a_nested_model_after_an_outer_relu():
    head = keras.Sequential([keras.Input((3,)), layers.Softmax()], name="head")
    inputs = keras.Input((4,))
    hidden = layers.ReLU(name="outer_relu")(layers.Dense(3)(inputs))
    model = keras.Model(inputs, head(hidden))
    finding = only(lint(model), "relu_before_softmax")
    assert "outer_relu" in finding.message


def test_functional_branches_only_the_relu_branch_fires():
    inputs = keras.Input((4,))
    relu_branch = layers.Dense(2, activation="relu", name="bad")(inputs)
    ok_branch = layers.Dense(2, name="good")(inputs)
    out_a = layers.Softmax(name="a")(relu_branch)
    out_b = layers.Softmax(name="b")(ok_branch)
    model = keras.Model(inputs, [out_a, out_b])
    finding = only(lint(model), "relu_before_softmax")
    assert "bad" in finding.message and "good" not in finding.message


# --- logits_mismatch -------------------------------------------------------

def test_softmax_output_with_from_logits_true():
    model = classifier()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    finding = only(lint(model), "logits_mismatch")
    assert finding.severity == "critical"
    assert finding.evidence["from_logits"] == 1.0
    assert finding.evidence["output_units"] == 3


def test_sigmoid_output_with_from_logits_true():
    model = classifier(out="sigmoid", n_out=1)
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
    assert "logits_mismatch" in codes(lint(model))


def test_linear_output_with_probability_loss():
    model = classifier(out=None)
    model.compile("adam", "categorical_crossentropy")
    finding = only(lint(model), "logits_mismatch")
    assert "from_logits=True" in finding.suggestion
    assert finding.evidence["from_logits"] == 0.0


def test_linear_output_with_from_logits_true_is_fine():
    model = classifier(out=None)
    model.compile("adam", keras.losses.CategoricalCrossentropy(
        from_logits=True))
    assert lint(model) == []


def test_sigmoid_output_with_categorical_crossentropy():
    model = classifier(out="sigmoid", n_out=4)
    model.compile("adam", "categorical_crossentropy")
    finding = only(lint(model), "logits_mismatch")
    assert finding.severity == "warning"
    assert finding.evidence["output_units"] == 4


def test_softmax_over_a_single_unit_even_uncompiled():
    model = classifier(out="softmax", n_out=1)
    finding = only(lint(model), "logits_mismatch")
    assert finding.severity == "critical"
    assert finding.evidence["output_units"] == 1


def test_multi_output_losses_are_matched_per_output():
    inputs = keras.Input((4,))
    good = layers.Dense(3, activation="softmax", name="good")(inputs)
    bad = layers.Dense(3, activation="softmax", name="bad")(inputs)
    model = keras.Model(inputs, {"good": good, "bad": bad})
    model.compile("adam", loss={
        "good": "categorical_crossentropy",
        "bad": keras.losses.CategoricalCrossentropy(from_logits=True),
    })
    finding = only(lint(model), "logits_mismatch")
    assert "'bad'" in finding.message


# --- dropout_too_high ------------------------------------------------------

def test_dropout_spatial_and_recurrent_rates_above_half():
    inputs = keras.Input((6, 4))
    x = layers.SpatialDropout1D(0.7, name="spatial")(inputs)
    x = layers.LSTM(4, recurrent_dropout=0.6, return_sequences=True,
                    name="lstm")(x)
    x = layers.GRU(4, dropout=0.8, name="gru")(x)
    x = layers.Dropout(0.5, name="half")(x)  # At the limit: not reported.
    model = keras.Model(inputs, layers.Dense(1)(x))
    finding = only(lint(model), "dropout_too_high")
    assert finding.evidence["max_rate"] == 0.8
    assert finding.evidence["n_layers"] == 3
    assert "recurrent_dropout" in finding.message
    assert "half" not in finding.message
    assert finding.evidence["max_rate"] > DROPOUT_MAX_RATE


def test_dropout_inside_a_nested_model():
    inner = keras.Sequential(
        [keras.Input((4,)), layers.Dropout(0.9)], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(1)(inner(inputs)))
    finding = only(lint(model), "dropout_too_high")
    assert "inner/" in finding.message


# --- class_imbalance -------------------------------------------------------

@pytest.mark.parametrize("encoding", ["integer", "one_hot", "binary"])
def test_class_imbalance_ratio(encoding):
    y = np.array([0] * 180 + [1] * 20)
    if encoding == "one_hot":
        y = np.eye(2)[y]
    elif encoding == "binary":
        y = y.astype("float32").reshape(-1, 1)
    y = y[np.random.default_rng(1).permutation(len(y))]
    finding = only(lint(None, y=y), "class_imbalance")
    assert finding.evidence["imbalance_ratio"] == pytest.approx(9.0)
    assert finding.evidence["smallest_class_share"] == pytest.approx(0.1)
    assert "weighted" in finding.message


def test_mild_imbalance_and_regression_targets_do_not_fire():
    y = np.array([0] * 70 + [1] * 30)  # 2.3:1, under the threshold.
    assert 70 / 30 < CLASS_IMBALANCE_RATIO
    assert lint(None, y=y) == []
    regression = np.random.default_rng(0).standard_normal(100)
    report = lint_report(None, y=regression)
    assert report.findings == []
    assert any("regression" in note for note in report.notes)


def test_regression_loss_skips_class_checks():
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
    model.compile("adam", "mse")
    y = np.array([0] * 95 + [1] * 5)
    assert lint(model, y=y) == []


# --- unscaled_inputs -------------------------------------------------------

def test_tabular_inputs_far_from_unit_scale():
    x, y = clean_data()
    x = x * 200.0 + 1000.0
    finding = only(lint(None, x=x), "unscaled_inputs")
    assert finding.evidence["max_abs_feature_mean"] > 900
    assert "Normalization" in finding.suggestion


def test_uint8_images_fire_and_scaled_images_do_not():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 8, 8, 1)).astype("uint8")
    finding = only(lint(None, x=images), "unscaled_inputs")
    assert finding.evidence["max"] > 200
    assert "Rescaling" in finding.suggestion
    assert lint(None, x=images / 255.0) == []
    standardised = (images - images.mean()) / images.std()
    assert lint(None, x=standardised) == []


def test_model_that_rescales_its_inputs_is_not_flagged():
    model = keras.Sequential([
        keras.Input((8, 8, 1)), layers.Rescaling(1 / 255), layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1))
    report = lint_report(model, x=images.astype("uint8"))
    assert "unscaled_inputs" not in report.codes
    assert any("Rescaling" in note for note in report.notes)


# --- unshuffled_data -------------------------------------------------------

def test_sorted_labels_with_shuffle_false():
    y = np.sort(np.arange(300) % 3)
    finding = only(lint(None, y=y, shuffle=False), "unshuffled_data")
    assert finding.evidence["class_changes"] == 2
    assert finding.evidence["expected_class_changes"] > 150
    assert lint(None, y=y, shuffle=True) == []


def test_validation_split_of_sorted_labels_fires_even_with_shuffle():
    x, _ = clean_data(n=300)
    y = np.sort(np.arange(300) % 3)
    findings = lint(None, x=x, y=y, validation_split=0.2, shuffle=True)
    finding = only(findings, "unshuffled_data")
    assert finding.severity == "critical"
    assert finding.evidence["val_classes"] == 1
    assert finding.evidence["train_classes"] == 3
    assert finding.evidence["n_val"] == 60
    x, y = clean_data(n=600)
    assert lint(None, x=x, y=y, validation_split=0.2) == []


# --- context: overparameterized, small_batch, small_validation_set --------

def _big_dense(frozen):
    base = keras.Sequential(
        [keras.Input((64,)), layers.Dense(256, activation="relu"),
         layers.Dense(256, activation="relu")], name="base")
    base.trainable = not frozen
    return keras.Sequential([keras.Input((64,)), base, layers.Dense(1)])


def test_overparameterized_counts_trainable_parameters_only():
    x = np.random.default_rng(0).standard_normal((40, 64)).astype("float32")
    finding = only(lint(_big_dense(frozen=False), x=x), "overparameterized")
    assert finding.evidence["n_params"] > 80000
    assert finding.evidence["n_train"] == 40
    assert "overparameterized" not in codes(lint(_big_dense(frozen=True), x=x))


def test_small_batch_and_small_validation_split():
    x, y = clean_data(n=500)
    findings = lint(None, x=x, y=y, batch_size=2, validation_split=0.02)
    assert only(findings, "small_batch").evidence["batch_size"] == 2
    small_val = only(findings, "small_validation_set")
    assert small_val.evidence["n_val"] == 10


def test_invalid_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="validation_split"):
        lint(None, validation_split=1.5)
    with pytest.raises(ConfigError, match="batch_size"):
        lint(None, batch_size=0)


# --- unusual models --------------------------------------------------------

class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(3, activation="relu")
        self.drop = layers.Dropout(0.75)
        self.probs = layers.Softmax()

    def call(self, inputs, training=False):
        return self.probs(self.drop(self.hidden(inputs), training=training))


def test_subclassed_model_unbuilt_gives_notes_not_errors():
    report = lint_report(SubclassedNet())
    assert report.codes == ["dropout_too_high"]
    assert any("subclassed" in note for note in report.notes)


def test_subclassed_model_built_is_traced():
    model = SubclassedNet()
    model(np.zeros((2, 4), "float32"))
    report = lint_report(model)
    assert set(report.codes) == {"relu_before_softmax", "dropout_too_high"}
    assert any("traced" in note for note in report.notes)
    # Tracing must leave the model usable.
    assert model.predict(np.ones((2, 4)), verbose=0).shape == (2, 3)


def test_not_a_model_and_a_dataset_do_not_raise():
    report = lint_report(layers.Dense(2))
    assert report.findings == []
    assert report.notes
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2)))
    report = lint_report(classifier(n_in=2), x=dataset)
    assert any("not read" in note for note in report.notes)


def test_lint_report_round_trips():
    report = lint_report(
        keras.Sequential([keras.Input((4,)), layers.Dense(3, "relu"),
                          layers.Softmax()]),
        batch_size=2,
    )
    again = Report.from_json(report.to_json())
    assert again.codes == report.codes == ["relu_before_softmax",
                                           "small_batch"]
    assert again.context["batch_size"] == 2


# --- lint_file -------------------------------------------------------------

def test_lint_file_on_a_saved_model(tmp_path):
    model = classifier(out=None)
    model.compile("adam", "sparse_categorical_crossentropy")
    path = tmp_path / "model.keras"
    model.save(path)
    report = lint_file(path)
    assert report.source == str(path)
    assert report.codes == ["logits_mismatch"]


def test_lint_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        lint_file(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    with pytest.raises(FormatError, match="bad.keras"):
        lint_file(bad)


def test_multi_input_dict_names_the_unscaled_input():
    rng = np.random.default_rng(0)
    x = {"age": rng.uniform(20, 80, (64, 1)),
         "score": rng.standard_normal((64, 3))}
    finding = only(lint(None, x=x), "unscaled_inputs")
    assert finding.message.startswith("age ")


def test_importing_lint_does_not_import_keras():
    import subprocess
    import sys

    code = ("import sys, keras_curvewatch.preflight.lint, keras_curvewatch.preflight.model_info; "
            "assert 'keras' not in sys.modules, 'keras imported'; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
