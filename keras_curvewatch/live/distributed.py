"""Which process of a distributed run warns, saves and draws: only one.

Every process computes the same global statistics; the chief is the one
that speaks, so a two-process run raises each warning once.
"""

import keras


def is_chief(model):
    """True in the process that warns and saves: worker 0.

    - JAX: process index 0 (`keras.distribution.initialize`).
    - TensorFlow: the `chief` task of a multi-worker strategy's cluster, or
      worker 0 when the cluster has no chief; always true on one host.
    - torch: rank 0 of an initialised `torch.distributed` group.

    Args:
        model: keras.Model. The model being trained (its strategy tells
            TensorFlow's cluster).

    Returns:
        bool.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        resolver = getattr(strategy, "cluster_resolver", None)
        if resolver is None or resolver.task_type in (None, "chief"):
            return True
        has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
        return not has_chief and resolver.task_id == 0
    if backend == "torch":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
    return True
