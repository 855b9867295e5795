"""`CurveWatch` counts the labels of both replicas under
`tf.distribute.MirroredStrategy`.

A second MirroredStrategy fit in a process that already ran one fails in
TensorFlow's collective ops, so this test has a file, and a process, of its
own; it needs two logical CPUs configured before TensorFlow starts:

    KERAS_BACKEND=tensorflow \
        python3 -m pytest tests/test_label_counts_distributed.py
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from two_devices import two_tf_cpus as _two_tf_cpus  # noqa: E402

from keras_curvewatch.live.callback import CurveWatch  # noqa: E402

BACKEND = keras.backend.backend()
N_SAMPLES = 50
BATCH = 8  # global batch; the last one holds 2 samples, one per device


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute test")
def test_mirrored_strategy_counts_labels_over_both_replicas():
    import tensorflow as tf

    if _two_tf_cpus() < 2:
        pytest.skip("TensorFlow started before this file could split the "
                    "CPU; run this file in its own process.")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_SAMPLES, 4)).astype("float32")
    y = np.sort(rng.integers(0, 3, size=N_SAMPLES))  # class-sorted
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
    watch = CurveWatch(display=False, warn=lambda finding: None)
    model.fit(x, y, batch_size=BATCH, epochs=1, validation_split=0.3,
              verbose=0, callbacks=[watch])
    assert not watch.disabled, watch.error
    split_at = int(N_SAMPLES * 0.7)
    assert watch.report.context["class_counts"] == list(
        np.bincount(y[:split_at], minlength=3))
    assert watch.report.has("split_mismatch")
