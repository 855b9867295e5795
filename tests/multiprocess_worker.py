"""One worker of a two-process `CurveWatch` run, started by
`tests/test_callback_multiprocess.py`.

Usage: python3 multiprocess_worker.py MODE INDEX PORT OUTPUT

MODE is `tf` (MultiWorkerMirroredStrategy), `jax` (`jax.distributed` with
`keras.distribution.DataParallel`), `torch` (a gloo process group, each
rank training its own replica) or `single` (the one-process reference, on
whatever KERAS_BACKEND names; INDEX and PORT are ignored). Every mode fits
the model of `tests/tiny_regression.py` on its data, then writes what it
saw (its warnings, batch losses, context, epoch logs) to OUTPUT as JSON.
"""

import json
import os
import sys
import warnings

import numpy as np

import tiny_regression  # beside this script

N_SAMPLES = 48
BATCH = 8  # the global batch: each of the two processes holds 4
EPOCHS = 3


def local_half(x, index):
    """The samples process `index` feeds under JAX, so that global batch k is
    (process 0's batch k, process 1's batch k) = the reference's batch k."""
    half = BATCH // 2
    blocks = np.arange(N_SAMPLES).reshape(-1, BATCH)
    return x[blocks[:, index * half:(index + 1) * half].ravel()]


def fit(keras, model, x, y, batch_size):
    from keras_curvewatch.live.callback import CurveWatch
    from keras_curvewatch.live.warning_types import CurveWarning

    watch = CurveWatch(log_batch_stats=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=batch_size, epochs=EPOCHS,
                            shuffle=False, verbose=0, callbacks=[watch])
    report = watch.report
    return {
        "disabled": watch.disabled,
        "error": repr(watch.error) if watch.error is not None else None,
        "warnings": sorted(w.category.__name__ for w in caught
                           if issubclass(w.category, CurveWarning)),
        "batch_losses": [float(v) for v in report.batch["batch_losses"]],
        "context": {k: report.context.get(k)
                    for k in ("batch_size", "n_train", "steps_per_epoch")},
        "history": {k: [float(v) for v in history.history[k]]
                    for k in ("loss", "loss_batch_std")},
        "codes": sorted(f.code for f in report.findings),
    }


def run_tf(index, port):
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{port}",
                               f"localhost:{port + 1}"]},
        "task": {"type": "worker", "index": index},
    })
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    from keras_curvewatch.live.distributed import is_chief

    with strategy.scope():
        model = tiny_regression.build_model(keras)
    x, y = tiny_regression.data(N_SAMPLES)
    try:
        result = fit(keras, model, x, y, BATCH)
    except ValueError as error:
        # Keras 3's TF trainer cannot fit under MultiWorkerMirroredStrategy
        # (keras-team/keras#20585): its symbolic build reduces PerReplica
        # inputs eagerly. Only who warns can be checked then.
        if "PerReplica" not in str(error):
            raise
        result = {"keras_fit_error": str(error).splitlines()[0]}
    result["chief"] = is_chief(model)
    result["replicas"] = strategy.num_replicas_in_sync
    return result


def run_jax(index, port):
    import jax

    try:  # Cross-process collectives on CPU; the default in newer JAX.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, KeyError, ValueError):
        pass
    import keras

    keras.distribution.initialize(f"localhost:{port}", 2, index)
    # Each process feeds its own half of the data (see local_half).
    distribution = keras.distribution.DataParallel(
        devices=jax.devices(), auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    model = tiny_regression.build_model(keras)
    x, y = tiny_regression.data(N_SAMPLES)
    # Each process feeds its half of every global batch.
    result = fit(keras, model, local_half(x, index), local_half(y, index),
                 BATCH // 2)
    result["replicas"] = len(jax.devices())
    return result


def run_torch(index, port):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://localhost:{port}",
                            rank=index, world_size=2)
    try:
        import keras

        model = tiny_regression.build_model(keras)
        x, y = tiny_regression.data(N_SAMPLES)
        result = fit(keras, model, x, y, BATCH)
        result["replicas"] = dist.get_world_size()
        return result
    finally:
        dist.destroy_process_group()


def run_single(index, port):
    import keras

    model = tiny_regression.build_model(keras)
    x, y = tiny_regression.data(N_SAMPLES)
    result = fit(keras, model, x, y, BATCH)
    result["replicas"] = 1
    return result


def main(mode, index, port, output):
    runner = {"tf": run_tf, "jax": run_jax, "torch": run_torch,
              "single": run_single}[mode]
    result = runner(int(index), int(port))
    with open(output, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
