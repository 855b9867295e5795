"""CurveWatch under everyday misuse: what reaches the progress bar, what
reaches stderr when it switches itself off, and bad arguments."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import keras_curvewatch as kcw  # noqa: E402
from keras_curvewatch.errors import ConfigError  # noqa: E402
from keras_curvewatch.live.callback import CurveWatch  # noqa: E402
import tiny_regression  # noqa: E402

BATCH_STAT_KEYS = ("loss_batch_std", "loss_flip_rate", "loss_batch_min",
                   "loss_batch_max")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Seen(keras.callbacks.Callback):
    """Records the keys of the logs that reach the callbacks after
    CurveWatch, as the progress bar (appended last by Keras) sees them."""

    def __init__(self):
        super().__init__()
        self.keys = []

    def on_epoch_end(self, epoch, logs=None):
        self.keys.append(set(logs))


def _fit(watch, epochs=2):
    x, y = tiny_regression.data(32)
    model = tiny_regression.build_model(keras)
    seen = _Seen()
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0,
              callbacks=[watch, seen])
    return model, seen


def test_batch_statistics_stay_off_the_progress_bar_by_default():
    watch = CurveWatch(display=False)
    _, seen = _fit(watch)
    assert all(not keys & set(BATCH_STAT_KEYS) for keys in seen.keys)
    # ...but they are measured and kept for the report.
    assert set(BATCH_STAT_KEYS) <= set(watch.history)
    assert np.isfinite(watch.history["loss_batch_std"]).all()
    watch = CurveWatch(display=False, log_batch_stats=True)
    _, seen = _fit(watch)
    assert all(set(BATCH_STAT_KEYS) <= keys for keys in seen.keys)


def test_progress_bar_line_has_no_batch_statistics(capfd):
    x, y = tiny_regression.data(32)
    model = tiny_regression.build_model(keras)
    model.fit(x, y, epochs=1, batch_size=8, verbose=2,
              callbacks=[CurveWatch(display=False)])
    out = capfd.readouterr().out
    assert "loss:" in out and "loss_batch_std" not in out


def test_backup_dir_error_names_the_value_received():
    with pytest.raises(ConfigError, match=r"backup_dir=5 \(int\)"):
        CurveWatch(backup_dir=5)
    with pytest.raises(ConfigError, match=r"batch_size='32' \(str\)"):
        CurveWatch(batch_size="32")
    with pytest.raises(ConfigError, match=r"n_train=inf"):
        CurveWatch(n_train=float("inf"))
    assert CurveWatch(batch_size=32.0).batch_size == 32


def test_lint_still_works_after_a_fit_and_after_lint_report():
    model, _ = _fit(CurveWatch(display=False), epochs=1)
    x, y = tiny_regression.data(32)
    assert callable(kcw.lint)
    assert kcw.lint(model, x, y) == []
    assert kcw.lint_report(model).findings == []
    assert kcw.lint(model, x, y) == []


_DISABLED_SCRIPT = textwrap.dedent("""
    import os, warnings
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras, tiny_regression
    from keras_curvewatch.live.callback import CurveWatch

    class Broken(CurveWatch):
        def _diagnose(self):
            raise RuntimeError("injected fault")

    warnings.simplefilter("ignore")
    x, y = tiny_regression.data(16)
    model = tiny_regression.build_model(keras)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0,
              callbacks=[Broken(display=False)])
    print("fit finished")
""")


def _run_disabled(env_debug):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT, os.path.join(ROOT, "tests")]))
    env.pop("KERAS_CURVEWATCH_DEBUG", None)
    if env_debug:
        env["KERAS_CURVEWATCH_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", _DISABLED_SCRIPT],
                          capture_output=True, text=True, env=env,
                          timeout=300)


def test_switching_off_prints_one_line_not_a_traceback():
    result = _run_disabled(env_debug=False)
    assert "fit finished" in result.stdout
    ours = [line for line in result.stderr.splitlines()
            if "keras_curvewatch" in line or "Traceback" in line]
    assert len(ours) == 1, result.stderr
    assert "injected fault" in ours[0] and "switched itself off" in ours[0]
    assert "Traceback" not in result.stderr
    debug = _run_disabled(env_debug=True)
    assert "Traceback" in debug.stderr and "injected fault" in debug.stderr
