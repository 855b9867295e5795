"""`RunContext`: what is known about a run besides its curves.

This module imports neither keras nor tensorflow.
"""

import dataclasses

from keras_curvewatch.errors import ConfigError

# Keras's recurrent layer classes: their weights are reused at every time
# step, and their `dropout`/`recurrent_dropout` act on every step.
RECURRENT_LAYERS = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D",
                    "ConvLSTM3D", "LSTMCell", "GRUCell", "SimpleRNNCell",
                    "RNN")


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Facts about a training run that count as evidence.

    Args:
        batch_size: int or None. Samples per training batch.
        n_train: int or None. Training samples per epoch.
        n_val: int or None. Validation samples.
        n_params: int or None. Trainable parameters (a frozen base does not
            count).
        layers: tuple of str. Layer class names, nested layers included.
        steps_per_epoch: int or None. Training batches per epoch.
        learning_rate: float or None. The initial learning rate, if known.
        optimizer: str or None. The optimizer's class name, e.g. `"SGD"`.
        validation_split: float or None. The `validation_split` passed to
            `fit`, if known.
        class_counts: tuple of int or None. Training labels per class
            (from `analyze(class_counts=...)` or CurveWatch's live count).
        frozen_base: dict or None. A non-trainable block holding most of
            the parameters, with a trainable head (see
            `preflight.frozen.describe_frozen`).
        unfrozen_base: dict or None. A nested model holding most of the
            parameters, all of them trainable (a full fine-tune).
        known_from: dict of str to str. Where each value came from
            (`"argument"`, `"model"`, `"inferred"`), for messages.
        metric_directions: dict of str to str. `"min"` or `"max"` for the
            metrics whose Keras objects say which way is better.
    """

    batch_size: int = None
    n_train: int = None
    n_val: int = None
    n_params: int = None
    layers: tuple = ()
    steps_per_epoch: int = None
    learning_rate: float = None
    optimizer: str = None
    validation_split: float = None
    class_counts: tuple = None
    frozen_base: dict = None
    unfrozen_base: dict = None
    known_from: dict = dataclasses.field(default_factory=dict)
    metric_directions: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("batch_size", "n_train", "n_val", "n_params",
                     "steps_per_epoch"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                as_int = int(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{name} must be a positive integer. Received "
                    f"{name}={value!r}."
                ) from None
            if as_int != value or as_int < (0 if name == "n_params" else 1):
                raise ConfigError(
                    f"{name} must be a positive integer. Received "
                    f"{name}={value!r}."
                )
            object.__setattr__(self, name, as_int)
        if self.learning_rate is not None:
            object.__setattr__(self, "learning_rate", float(self.learning_rate))
        if self.validation_split is not None:
            split = float(self.validation_split)
            if not 0.0 <= split < 1.0:
                raise ConfigError(
                    "validation_split must be in [0, 1). Received "
                    f"validation_split={self.validation_split!r}."
                )
            object.__setattr__(self, "validation_split", split)
        object.__setattr__(self, "layers", tuple(str(x) for x in self.layers))
        if self.class_counts is not None:
            counts = tuple(int(c) for c in self.class_counts)
            if any(c < 0 for c in counts):
                raise ConfigError(
                    "class_counts must be non-negative integers. Received "
                    f"class_counts={self.class_counts!r}.")
            object.__setattr__(self, "class_counts", counts)

    @property
    def recurrent(self):
        """bool. True if the model has an LSTM, GRU or SimpleRNN layer."""
        return any(name in RECURRENT_LAYERS for name in self.layers)

    def direction_of(self, name):
        """`"min"`, `"max"`, or None when no Keras metric object told which
        way `name` (or the metric of `val_<name>`) improves."""
        base = name[4:] if name.startswith("val_") else name
        return self.metric_directions.get(base)

    @property
    def params_per_sample(self):
        """float or None. Trainable parameters per training sample."""
        if self.n_params is None or not self.n_train:
            return None
        return self.n_params / self.n_train

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["layers"] = list(self.layers)
        if self.class_counts is not None:
            data["class_counts"] = list(self.class_counts)
        return data
