"""Tests for keras_curvewatch.preflight.model_info on real tiny Keras models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_curvewatch.preflight.model_info import describe_loss  # noqa: E402
from keras_curvewatch.preflight.model_info import describe_model  # noqa: E402
from keras_curvewatch.preflight.model_info import iter_layers  # noqa: E402


def test_tiny_sequential_counts_parameters_and_reads_compile():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
         keras.layers.Dense(2)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    info = describe_model(model)
    assert info["built"] is True
    assert info["compiled"] is True
    assert info["n_params"] == 4 * 3 + 3 + 3 * 2 + 2
    assert info["n_params_total"] == info["n_params"]
    assert info["layers"] == ["Dense", "Dense"]
    assert info["optimizer"] == "SGD"
    assert info["optimizer_wrapper"] is None
    assert info["learning_rate"] == pytest.approx(0.05)
    assert info["learning_rate_schedule"] is None
    assert info["loss"] == "'mse'"
    assert info["from_logits"] is None
    assert info["losses"][0]["kind"] == "mean_squared_error"
    assert info["notes"] == []


def test_functional_with_nested_sequential_and_wrappers_lists_all_layers():
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu")],
        name="inner",
    )
    inputs = keras.Input((5, 4))
    x = keras.layers.Bidirectional(
        keras.layers.LSTM(2, return_sequences=True))(inputs)
    x = keras.layers.TimeDistributed(keras.layers.Dense(4))(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = inner(x)
    outputs = keras.layers.Softmax()(x)
    model = keras.Model(inputs, outputs)
    info = describe_model(model)
    assert info["layers"] == [
        "Bidirectional", "LSTM", "LSTM", "TimeDistributed", "Dense",
        "GlobalAveragePooling1D", "Sequential", "Dense", "Softmax",
    ]
    expected = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert info["n_params"] == expected
    paths = [path for path, _ in iter_layers(model)]
    assert any(path.startswith("inner/") for path in paths)


def test_frozen_base_does_not_count_as_trainable():
    base = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(16)],
        name="base",
    )
    base.trainable = False
    model = keras.Sequential([keras.Input((8,)), base, keras.layers.Dense(2)])
    info = describe_model(model)
    assert info["n_params"] == 16 * 2 + 2
    assert info["n_params_total"] == (8 * 16 + 16) + (16 * 16 + 16) + 34


def test_batch_norm_statistics_are_not_trainable():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.BatchNormalization()]
    )
    info = describe_model(model)
    assert info["n_params"] == 6  # gamma and beta
    assert info["n_params_total"] == 12  # plus moving mean and variance


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(5, activation="relu")
        self.out = keras.layers.Dense(2)

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def test_subclassed_model_unbuilt_then_built():
    model = _Subclassed()
    info = describe_model(model)
    assert info["built"] is False
    assert info["n_params"] is None
    assert info["layers"] == ["Dense", "Dense"]
    assert any("not built" in note for note in info["notes"])
    model(np.zeros((1, 3), "float32"))
    info = describe_model(model)
    assert info["built"] is True
    assert info["n_params"] == 3 * 5 + 5 + 5 * 2 + 2


def test_unbuilt_sequential_does_not_raise():
    model = keras.Sequential([keras.layers.Dense(3)])
    info = describe_model(model)
    assert info["built"] is False
    assert info["n_params"] is None
    assert info["optimizer"] is None
    assert info["loss"] is None


def test_loss_scale_optimizer_is_unwrapped():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.Adam(learning_rate=3e-4))
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    info = describe_model(model)
    assert info["optimizer"] == "Adam"
    assert info["optimizer_wrapper"] == "LossScaleOptimizer"
    assert info["learning_rate"] == pytest.approx(3e-4)
    assert info["from_logits"] is False


def test_schedule_gives_its_initial_value():
    schedule = keras.optimizers.schedules.ExponentialDecay(
        0.02, decay_steps=1, decay_rate=0.5)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    # One step moves the schedule on; the initial value must stay reported.
    model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=4, epochs=1,
              verbose=0)
    info = describe_model(model)
    assert info["learning_rate_schedule"] == "ExponentialDecay"
    assert info["learning_rate"] == 0.02


def test_loss_objects_report_from_logits():
    described = describe_loss(
        keras.losses.CategoricalCrossentropy(from_logits=True))
    assert described["kind"] == "categorical_crossentropy"
    assert described["from_logits"] is True
    described = describe_loss(keras.losses.sparse_categorical_crossentropy)
    assert described["kind"] == "sparse_categorical_crossentropy"
    assert described["from_logits"] is False
    described = describe_loss(keras.losses.BinaryFocalCrossentropy())
    assert described["kind"] == "binary_focal_crossentropy"
    assert described["from_logits"] is False


def test_multi_output_losses_are_listed_per_output():
    inputs = keras.Input((3,))
    a = keras.layers.Dense(1, name="a")(inputs)
    b = keras.layers.Dense(2, name="b")(inputs)
    model = keras.Model(inputs, {"a": a, "b": b})
    model.compile("adam", loss={
        "a": "mse",
        "b": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    })
    info = describe_model(model)
    by_output = {d["output"]: d for d in info["losses"]}
    assert by_output["a"]["kind"] == "mean_squared_error"
    assert by_output["b"]["from_logits"] is True
    assert info["from_logits"] is None  # Ambiguous with two losses.


def test_an_object_that_is_not_a_model_does_not_raise():
    info = describe_model(object())
    assert info["built"] is False
    assert info["layers"] == []


def test_metric_directions_come_from_keras_metric_objects():
    """A metric named `custom_score` would be guessed higher-is-better from
    its name; its Keras object (a mean squared error) says lower is
    better, and the report follows the object when the model is known."""
    import keras_curvewatch as kcw
    from keras_curvewatch.live.callback import CurveWatch

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[
        "accuracy", keras.metrics.MeanSquaredError(name="custom_score")])
    assert describe_model(model)["metric_directions"] == {}  # not built yet
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    watch = CurveWatch(warn=lambda f: None, display=False)
    history = model.fit(x, y, validation_split=0.25, epochs=6, batch_size=8,
                        verbose=0, callbacks=[watch])
    directions = describe_model(model)["metric_directions"]
    assert directions["custom_score"] == "min"
    assert directions["accuracy"] == "max"
    with_model = kcw.analyze(history, model=model)
    assert with_model.series["custom_score"].direction == "min"
    assert with_model.series["val_custom_score"].direction == "min"
    assert watch.report.series["custom_score"].direction == "min"
    # Without the model the name is all there is: the guess is the fallback.
    assert kcw.analyze(history).series["custom_score"].direction == "max"
