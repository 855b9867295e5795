"""`CurveWatch` under data parallelism: the statistics are global.

Each test needs two devices configured before its backend starts, so run
this file alone, once per backend (the other backend's test skips):

    KERAS_BACKEND=tensorflow \
        python3 -m pytest tests/test_callback_distributed.py
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python3 -m pytest tests/test_callback_distributed.py
"""

import contextlib
import os
import sys
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if _BACKEND == "jax" and "jax" not in sys.modules:
    flag = "--xla_force_host_platform_device_count=2"
    if flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " " + flag)

import keras  # noqa: E402
import tiny_regression  # noqa: E402
from two_devices import two_tf_cpus as _two_tf_cpus  # noqa: E402

from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
from keras_curvewatch.live.warning_types import CurveWarning  # noqa: E402
from keras_curvewatch.live.warning_types import SmallBatchWarning  # noqa: E402

BACKEND = keras.backend.backend()
N_SAMPLES = 50
BATCH = 8  # global batch; the last one holds 2 samples, one per device
EPOCHS = 3


def _train(scope=None):
    """Fits a small model with CurveWatch; returns the callback, the History
    and the CurveWarnings raised."""
    with scope if scope is not None else contextlib.nullcontext():
        model = tiny_regression.build_model(keras)
    watch = CurveWatch(log_batch_stats=True)
    x, y = tiny_regression.data(N_SAMPLES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS,
                            shuffle=False, verbose=0, callbacks=[watch])
    return watch, history, [w for w in caught
                            if issubclass(w.category, CurveWarning)]


def _check_global(single, distributed):
    watch, history, caught = distributed
    reference = single[0]
    assert not watch.disabled, watch.error
    context = watch.report.context
    assert context["batch_size"] == BATCH  # global, not per device
    assert context["n_train"] == N_SAMPLES
    assert context["steps_per_epoch"] == 7
    np.testing.assert_allclose(watch.report.batch["batch_losses"],
                               reference.report.batch["batch_losses"],
                               rtol=1e-4)
    for key in ("loss_batch_std", "loss_batch_min", "loss_batch_max"):
        np.testing.assert_allclose(history.history[key],
                                   single[1].history[key], rtol=1e-3)
    # The batch-size-weighted mean of the device losses is Keras's loss.
    losses = np.reshape(watch.report.batch["batch_losses"], (EPOCHS, 7))
    sizes = np.array([BATCH] * 6 + [N_SAMPLES % BATCH], dtype=float)
    np.testing.assert_allclose(losses @ sizes / N_SAMPLES,
                               history.history["loss"], rtol=1e-4)
    # One process, one warning per code.
    assert [w.category for w in caught].count(SmallBatchWarning) == 1
    assert len(caught) == len({w.category for w in caught})


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute test")
def test_mirrored_strategy_over_two_cpus_gives_global_statistics():
    import tensorflow as tf

    if _two_tf_cpus() < 2:
        pytest.skip("TensorFlow started before this file could split the "
                    "CPU; run this file in its own process.")
    single = _train()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    distributed = _train(strategy.scope())
    assert distributed[0].model.distribute_strategy.num_replicas_in_sync == 2
    _check_global(single, distributed)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX DataParallel test")
def test_jax_data_parallel_over_two_devices_gives_global_statistics():
    import jax

    if len(jax.devices()) < 2:
        pytest.skip("JAX started with one device; run with "
                    "XLA_FLAGS=--xla_force_host_platform_device_count=2.")
    single = _train()
    distribution = keras.distribution.DataParallel(devices=jax.devices()[:2])
    keras.distribution.set_distribution(distribution)
    try:
        distributed = _train()
    finally:
        keras.distribution.set_distribution(None)
    kernel = distributed[0].model.trainable_variables[0].value
    assert len(kernel.sharding.device_set) == 2  # replicated on both
    _check_global(single, distributed)
