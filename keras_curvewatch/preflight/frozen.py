"""A frozen base with a trainable head, as fine-tuning leaves a model.

Read by `engine.diagnosis.build_context`; the fine-tuning advice
(`keras_curvewatch.engine.rules.finetune`) names the layers found here.
"""

from keras_curvewatch.preflight.model_info import _children
from keras_curvewatch.preflight.model_info import _count
from keras_curvewatch.preflight.model_info import iter_layers

# "Most of the parameters": a frozen block holding at least half of them
# makes the trainable head the smaller part of the model.
FROZEN_BASE_MIN_SHARE = 0.5
# The "top block" to unfreeze first: the last frozen layers, up to this
# share of the frozen parameters (Keras's fine-tuning guide unfreezes the
# top of the base, not all of it) ...
TOP_BLOCK_SHARE = 0.25
# ... and at most this many layers named in the advice.
MAX_TOP_BLOCK_LAYERS = 6

_NORMALIZATION = ("BatchNormalization", "SyncBatchNormalization")


def describe_frozen(model):
    """Finds a frozen base with a trainable head, or a fully trainable one.

    Args:
        model: keras.Model. A built model.

    Returns:
        A dict with `frozen_base` and `unfrozen_base`, each a dict or None.
        `frozen_base`: `share` (of all parameters), `n_frozen`, `base` (the
        nested model holding most of them, or None), `top_block` (names of
        the last frozen layers, nearest the head), `top_block_batchnorm`
        (the BatchNormalization layers among them), `n_batchnorm` (frozen
        BatchNormalization layers) and `head` (names of the trainable
        layers). `unfrozen_base`: `base`, `share` for a nested model
        holding most of the parameters when nothing is frozen.
    """
    leaves = []
    for _, layer in iter_layers(model):
        if _children(layer) or not layer.weights:
            continue
        leaves.append((layer, _count(layer.weights), bool(layer.trainable)))
    total = sum(n for _, n, _ in leaves)
    frozen = [(layer, n) for layer, n, trainable in leaves if not trainable]
    head = [layer.name for layer, n, trainable in leaves if trainable]
    n_frozen = sum(n for _, n in frozen)
    result = {"frozen_base": None, "unfrozen_base": None}
    if not total:
        return result
    base, base_share = _largest_child(model, total)
    if not frozen and base is not None and base_share >= (
            FROZEN_BASE_MIN_SHARE):
        result["unfrozen_base"] = {"base": base, "share": base_share}
    if not head or n_frozen < FROZEN_BASE_MIN_SHARE * total:
        return result
    top, covered = [], 0
    for layer, n in reversed(frozen):
        if len(top) >= MAX_TOP_BLOCK_LAYERS or (
                covered >= TOP_BLOCK_SHARE * n_frozen
                and any(type(t).__name__ not in _NORMALIZATION for t in top)):
            break
        top.insert(0, layer)
        covered += n
    result["frozen_base"] = {
        "share": n_frozen / total,
        "n_frozen": n_frozen,
        "base": base,
        "top_block": [layer.name for layer in top],
        "top_block_batchnorm": [layer.name for layer in top
                                if type(layer).__name__ in _NORMALIZATION],
        "n_batchnorm": sum(type(layer).__name__ in _NORMALIZATION
                           for layer, _ in frozen),
        "head": head,
    }
    return result


def _largest_child(model, total):
    """The direct sublayer with sublayers of its own (a nested model)
    holding the most parameters, and its share of `total`."""
    best, best_n = None, 0
    for child in _children(model):
        if not _children(child):
            continue
        n = _count(child.weights)
        if n > best_n:
            best, best_n = child.name, n
    return best, best_n / total
