"""Pre-flight checks on the model: activations, output against loss, dropout.

These functions read the layers of the model passed in; keras itself is
imported only to trace a subclassed model. `lint()` calls `model_findings`.
"""

from keras_curvewatch.engine.findings import CRITICAL
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.engine.findings import WARNING
from keras_curvewatch.preflight.graph import activation_of
from keras_curvewatch.preflight.graph import build_graph
from keras_curvewatch.preflight.graph import kind
from keras_curvewatch.preflight.model_info import CROSSENTROPY_KINDS
from keras_curvewatch.preflight.model_info import iter_layers
from keras_curvewatch.engine.context import RECURRENT_LAYERS
from keras_curvewatch.engine.findings import rank_causes
from keras_curvewatch.engine.format import fmt

# Srivastava et al. (2014) found 0.5 close to optimal for hidden units over
# a wide range of networks; above it most units are dropped at each step
# and the training loss (measured with dropout on) sits well above
# val_loss.
DROPOUT_MAX_RATE = 0.5

_SOFTMAX = ("softmax",)
_PROBABILITY_OUTPUTS = ("softmax", "sigmoid")
_CATEGORICAL_KINDS = (
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
)


def model_findings(model, info, notes):
    """Checks `relu_before_softmax`, `logits_mismatch` and
    `dropout_too_high`.

    Sequential and Functional models, nested at any depth, are read from
    their recorded graph. A built subclassed model is traced once on a
    symbolic `keras.Input` of its build shape (layers reached only through
    `keras.ops` calls are not seen); an unbuilt one, or one nested inside
    another model, only gets the per-layer dropout check, and a note says
    so.

    Args:
        model: keras.Model.
        info: dict. `describe_model(model)`.
        notes: list of str. What could not be inspected is appended here.

    Returns:
        list of `Finding`.
    """
    graph = build_graph(model)
    name = getattr(model, "name", kind(model))
    if graph.opaque == [name]:
        traced = _trace_subclassed(model)
        if traced is not None:
            graph = build_graph(traced)
            notes.append(
                f"{name} is a subclassed model: its layer graph was traced "
                "by calling it once on a symbolic input (best effort; "
                "keras.ops calls between layers are not seen)."
            )
    for path in graph.opaque:
        notes.append(
            f"{path} is a subclassed model (or not a model): its layer "
            "graph is not recorded, so relu_before_softmax and "
            "logits_mismatch were not checked inside it."
        )
    return (_relu_before_softmax(graph) + _logits_mismatch(graph, info, notes)
            + _dropout_too_high(model))


def _trace_subclassed(model):
    """A Functional view of a built subclassed model, or None.

    Calls `model.call` once on a `keras.Input` of the shape the model was
    built with, which records which sublayer feeds which.
    """
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    if not getattr(model, "built", False) or len(shapes) != 1:
        return None
    shape = next(iter(shapes.values()))
    if not isinstance(shape, (tuple, list)) or len(shape) < 2:
        return None
    import keras

    try:
        inputs = keras.Input(shape=tuple(shape[1:]))
        outputs = model.call(inputs)
        return keras.Model(inputs, outputs)
    except Exception:
        return None


def _relu_before_softmax(graph):
    findings = []
    softmaxes = {
        id(succ): succ for _, succ in graph.edges if _is_softmax(succ)
    }
    for succ in softmaxes.values():
        for before in graph.predecessors(succ):
            activation = activation_of(before)
            if activation in (None, "linear"):
                continue
            findings.append(_relu_finding(graph, before, succ, activation))
    return findings


def _is_softmax(layer):
    name = kind(layer)
    if name == "Softmax":
        return True
    return name == "Activation" and activation_of(layer) in _SOFTMAX


def _relu_finding(graph, before, softmax, activation):
    where = f"{graph.path(before)} ({kind(before)}, {activation})"
    return Finding(
        code="relu_before_softmax",
        severity=CRITICAL if activation in ("relu", "relu6") else WARNING,
        message=(
            f"{where} feeds {graph.path(softmax)} directly: softmax then "
            f"sees {activation} outputs, which lose the sign (or the range) "
            "of the logits, so learning becomes very difficult and the loss "
            "stalls or jumps."
        ),
        evidence=(
            {"units": before.units}
            if isinstance(getattr(before, "units", None), int) else {}
        ),
        causes=rank_causes([
            (2.0, "output_activation",
             f"the logits pass through {activation} before softmax."),
        ]),
        suggestion=(
            f"Give {graph.path(before)} activation=None (linear) and keep "
            "the softmax, or drop the Softmax layer and use "
            "Dense(n_classes, activation='softmax')."
        ),
    )


def _losses_for_outputs(graph, info):
    losses = info["losses"]
    if not losses:
        return []
    by_name = {d["output"]: d for d in losses if d["output"]}
    pairs = []
    for index, (name, leaf, units) in enumerate(graph.outputs):
        if len(losses) == 1 and not by_name:
            loss = losses[0]
        elif name in by_name:
            loss = by_name[name]
        elif len(losses) == len(graph.outputs):
            loss = losses[index]
        else:
            loss = None
        pairs.append((name, leaf, units, loss))
    return pairs


def _logits_mismatch(graph, info, notes):
    findings = []
    for name, leaf, units, loss in _outputs_with_losses(graph, info, notes):
        activation = activation_of(leaf) if leaf is not None else None
        if activation is None:
            continue
        where = graph.path(leaf) + (f" (output {name!r})" if name else "")
        problem = _mismatch(activation, units, loss)
        if problem is None:
            continue
        severity, what, fix = problem
        loss_text = (f"{loss['name']}(from_logits={loss['from_logits']})"
                     if loss else "any loss")
        findings.append(Finding(
            code="logits_mismatch",
            severity=severity,
            message=f"Output {where} applies {activation} over {units} "
                    f"unit(s) and the loss is {loss_text}: {what}",
            evidence={
                "output_units": units if units is not None else float("nan"),
                "from_logits": float(bool(loss and loss["from_logits"])),
            },
            causes=rank_causes([(2.0, "output_activation", what)]),
            suggestion=fix,
        ))
    return findings


def _outputs_with_losses(graph, info, notes):
    if not graph.outputs and graph.opaque:
        return []
    pairs = _losses_for_outputs(graph, info)
    if not pairs:
        pairs = [(n, leaf, u, None) for n, leaf, u in graph.outputs]
        if info["built"] and not info["compiled"]:
            notes.append("The model is not compiled, so the loss against "
                         "the output activation was not checked.")
    return pairs


def _mismatch(activation, units, loss):
    """Returns `(severity, explanation, fix)` or None."""
    if activation == "softmax" and units == 1:
        return (CRITICAL,
                "softmax over a single unit always outputs 1.0, so the "
                "loss cannot change and nothing is learnt.",
                "Use Dense(1, activation='sigmoid') with "
                "binary_crossentropy, or Dense(n_classes, "
                "activation='softmax') with one-hot or integer labels.")
    if loss is None or loss["kind"] not in CROSSENTROPY_KINDS:
        return None
    if activation in _PROBABILITY_OUTPUTS and loss["from_logits"]:
        return (CRITICAL,
                f"the loss applies {activation} again to outputs that "
                "already are probabilities, so the gradients are squashed "
                "and the loss stalls far above zero.",
                "Either remove the output activation (linear logits) and "
                "keep from_logits=True, or keep the activation and use "
                "from_logits=False.")
    if activation == "linear" and not loss["from_logits"]:
        return (CRITICAL,
                "the loss reads raw, unbounded outputs as probabilities "
                "(Keras clips them to [1e-7, 1 - 1e-7]), so the loss is "
                "wrong and the curves plateau or jump.",
                f"Build the loss with from_logits=True, e.g. "
                f"keras.losses.{_class_name(loss['kind'])}(from_logits=True),"
                " or add the output activation.")
    if activation == "sigmoid" and loss["kind"] in _CATEGORICAL_KINDS and (
            units is not None and units > 1):
        return (WARNING,
                "categorical cross-entropy treats the outputs as one "
                "distribution, but independent sigmoids do not sum to 1; "
                "the loss and accuracy curves are off.",
                "Use activation='softmax' for one label per sample, or "
                "binary_crossentropy for multi-label targets.")
    return None


def _class_name(kind_name):
    return "".join(part.capitalize() for part in kind_name.split("_"))


def _dropout_too_high(model):
    high = []
    for path, layer in iter_layers(model):
        for attribute in ("rate", "dropout", "recurrent_dropout"):
            if attribute != "rate" and kind(layer) not in RECURRENT_LAYERS:
                continue
            rate = getattr(layer, attribute, None)
            if isinstance(rate, (int, float)) and rate > DROPOUT_MAX_RATE:
                label = "" if attribute == "rate" else f" {attribute}"
                high.append((f"{path} ({kind(layer)}{label})", float(rate)))
    if not high:
        return []
    worst = max(rate for _, rate in high)
    listing = ", ".join(f"{where}={fmt(rate)}" for where, rate in high)
    return [Finding(
        code="dropout_too_high",
        severity=WARNING,
        message=(
            f"Dropout above {DROPOUT_MAX_RATE}: {listing}. The training "
            "loss is measured with units dropped, so it sits above "
            "val_loss and learning is slow and noisy."
        ),
        evidence={"max_rate": worst, "n_layers": len(high)},
        causes=rank_causes([
            (2.0, "regularization",
             f"a dropout rate of {fmt(worst)} drops most units at each "
             "step."),
            (0.5, "model_capacity",
             "the effective capacity left may be too small to fit."),
        ]),
        suggestion=(
            f"Lower the rates to {DROPOUT_MAX_RATE} or less (0.2-0.3 is "
            "common, 0.1-0.3 for recurrent_dropout), and add L2 weight "
            "decay if the model still overfits."
        ),
    )]
