"""The layer graph of a Keras model, flattened across nested models.

Used by `lint()` to see which layer feeds which. keras is never imported
here: the functions only read attributes of the model passed in.

Limits: Sequential and Functional models (nested at any depth) are read
exactly. A subclassed model has no recorded graph; its layers are still
listed, but which feeds which is unknown, so `edges` holds none of its
inner connections and its outputs are unknown.
"""

import dataclasses

# Layers that pass values through unchanged (up to shape or noise), so a
# ReLU followed by Dropout then Softmax is still a ReLU before Softmax.
PASS_THROUGH = (
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianDropout", "GaussianNoise", "AlphaDropout", "Flatten",
    "Reshape", "Permute", "Identity", "ActivityRegularization",
)

# Activation layers and the activation they apply.
_ACTIVATION_LAYERS = {
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "PReLU": "prelu",
    "ELU": "elu",
    "Softmax": "softmax",
}


@dataclasses.dataclass
class Graph:
    """Connections between the leaf layers of a model.

    Args:
        edges: list of `(pred, succ)` leaf-layer pairs.
        outputs: list of `(output_name, leaf_layer_or_None, units)`, one per
            model output; the layer is None when it cannot be found.
        paths: dict of `id(layer)` to its `/`-joined path.
        opaque: list of str. Paths of subclassed models whose inner graph
            is unknown.
    """

    edges: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    paths: dict = dataclasses.field(default_factory=dict)
    opaque: list = dataclasses.field(default_factory=list)

    def predecessors(self, layer):
        """The leaf layers feeding `layer`, looking through pass-through
        layers such as Dropout and Flatten."""
        found, todo, seen = [], [layer], set()
        while todo:
            current = todo.pop()
            for pred, succ in self.edges:
                if succ is current and id(pred) not in seen:
                    seen.add(id(pred))
                    if kind(pred) in PASS_THROUGH:
                        todo.append(pred)
                    else:
                        found.append(pred)
        return found

    def path(self, layer):
        return self.paths.get(id(layer), getattr(layer, "name", "?"))


def kind(layer):
    return type(layer).__name__


def is_container(layer):
    """True for a nested model (Sequential, Functional or subclassed)."""
    return hasattr(layer, "layers") and hasattr(layer, "_layers") and (
        kind(layer) not in ("Bidirectional", "TimeDistributed"))


def is_functional(model):
    return kind(model) == "Sequential" or (
        hasattr(model, "_operations") and hasattr(model, "outputs")
        and _safe(lambda: model.outputs) is not None)


def activation_of(layer):
    """The name of the activation `layer` applies last, `"linear"` for
    none, or None when it cannot be told."""
    name = kind(layer)
    if name in _ACTIVATION_LAYERS:
        return _ACTIVATION_LAYERS[name]
    if name == "TimeDistributed":
        return activation_of(layer.layer)
    if name == "Bidirectional":
        return activation_of(layer.forward_layer)
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", None) or kind(activation)


def build_graph(model):
    """Flattens the graph of `model` into leaf-layer edges and outputs.

    Args:
        model: keras.Model.

    Returns:
        A `Graph`. Never raises: unknown parts are left out and listed in
        `Graph.opaque`.
    """
    graph = Graph()
    _walk(model, "", graph)
    for name, tensor in _named_outputs(model):
        leaf = None
        producer = _producer(tensor)
        if producer is not None:
            leaves = _exits(producer, graph)
            leaf = leaves[0] if len(leaves) == 1 else None
        graph.outputs.append((name, leaf, _units(tensor)))
    return graph


def _walk(container, prefix, graph):
    """Returns `(entries, exits)` leaf layers of `container`, adding its
    inner edges to `graph`."""
    layers = [l for l in _safe(lambda: list(container.layers)) or []]
    direct = {}
    for layer in layers:
        name = getattr(layer, "name", kind(layer))
        path = f"{prefix}/{name}" if prefix else name
        graph.paths[id(layer)] = path
        if is_container(layer):
            direct[id(layer)] = _walk(layer, path, graph)
        else:
            direct[id(layer)] = ([layer], [layer])
    if not is_functional(container):
        graph.opaque.append(
            prefix or getattr(container, "name", kind(container)))
        return [], []
    real = [l for l in layers if kind(l) != "InputLayer"]
    members = {id(l) for l in layers}
    entries, links = [], []
    if kind(container) == "Sequential":
        links = list(zip(real, real[1:]))
        entries = real[:1]
    else:
        for layer in real:
            for node in _safe(lambda: list(layer._inbound_nodes)) or []:
                for parent in _safe(lambda: list(node.parent_nodes)) or []:
                    pred = parent.operation
                    if id(pred) not in members:
                        continue
                    if kind(pred) == "InputLayer":
                        entries.append(layer)
                    else:
                        links.append((pred, layer))
    for pred, succ in links:
        for a in direct[id(pred)][1]:
            for b in direct[id(succ)][0]:
                graph.edges.append((a, b))
    exits = []
    for _, tensor in _named_outputs(container):
        producer = _producer(tensor)
        if producer is not None and id(producer) in direct:
            exits += direct[id(producer)][1]
    flat_entries = [leaf for l in entries for leaf in direct[id(l)][0]]
    return flat_entries, exits


def _exits(layer, graph):
    """The leaf layers whose output is `layer`'s output."""
    if not is_container(layer):
        if kind(layer) in PASS_THROUGH:
            preds = graph.predecessors(layer)
            return preds if preds else [layer]
        return [layer]
    leaves = []
    for _, tensor in _named_outputs(layer):
        producer = _producer(tensor)
        if producer is not None:
            leaves += _exits(producer, graph)
    return leaves


def _named_outputs(model):
    outputs = _safe(lambda: model.outputs)
    if outputs is None:
        return []
    if isinstance(outputs, dict):
        return list(outputs.items())
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    names = _safe(lambda: list(model.output_names)) or []
    if len(names) != len(outputs):
        names = [None] * len(outputs)
    return list(zip(names, outputs))


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None) if history else None


def _units(tensor):
    shape = getattr(tensor, "shape", None)
    try:
        return int(shape[-1]) if shape and shape[-1] is not None else None
    except Exception:
        return None


def _safe(function):
    try:
        return function()
    except Exception:
        return None
