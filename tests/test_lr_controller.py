"""Tests of `LRController` parts that need no training."""

import numpy as np
import pytest

from keras_curvewatch.engine.analysis import analyze
from keras_curvewatch.control.policy import LRControl
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.control.controller import MIN_SEGMENT_EPOCHS
from keras_curvewatch.control.controller import LRController
from keras_curvewatch.control.controller import as_control


def test_as_control_accepts_bool_and_instances():
    assert as_control(True) == LRControl()
    assert as_control(False) is None and as_control(None) is None
    control = LRControl(factor=0.3)
    assert as_control(control) is control
    with pytest.raises(ConfigError, match="lr_control must be True"):
        as_control("yes")
    with pytest.raises(ConfigError, match="Received lr_control=0.5"):
        as_control(0.5)


def oscillating_then_calm(n_wild=12, n_calm=8, seed=0):
    rng = np.random.default_rng(seed)
    wild = 1.0 + 0.4 * (-1.0) ** np.arange(n_wild) + rng.normal(0, .05,
                                                                n_wild)
    calm = np.linspace(0.8, 0.6, n_calm)
    loss = np.concatenate([wild, calm])
    return {"loss": list(loss), "val_loss": list(loss + 0.1)}


def test_segment_forgets_the_oscillation_before_the_last_change():
    from keras_curvewatch.control.inputs import segment_curves
    from keras_curvewatch.engine.analysis import diagnose

    history = oscillating_then_calm()
    report = analyze(history)
    assert report.has("train_oscillation")
    controller = LRController(LRControl())
    assert controller.segment_since() is None  # no change yet
    assert controller._segment(report, None) is None
    controller.state = controller.state._replace(last_change_epoch=11)
    assert controller.segment_since() == 11
    segment = diagnose(*segment_curves(report, 11))
    assert segment.n_epochs == 8
    assert not segment.has("train_oscillation")
    assert controller._segment(report, segment) is segment
    # Too few epochs since the change: no findings, the whole run's series.
    since = 19 - MIN_SEGMENT_EPOCHS + 1
    short = diagnose(*segment_curves(report, since))
    kept = controller._segment(report, short)
    assert kept.findings == [] and kept.series is report.series


def test_state_round_trips_through_json():
    import json

    controller = LRController(LRControl())
    controller.state = controller.state._replace(
        wait=3, n_rollbacks=1, last_change_epoch=7, best=0.25,
        best_loss=0.2, best_monitor=0.3)
    controller.actions = [{"epoch": 7, "old": 0.1, "new": 0.05,
                           "reason": "plateau", "action": "reduce",
                           "evidence": {"noise_band": 0.01}}]
    data = json.loads(json.dumps(controller.get_state(), allow_nan=False))
    again = LRController(LRControl())
    again.set_state(data)
    # NaN-aware: the encoded states are equal strings and numbers.
    assert again.get_state()["state"] == controller.get_state()["state"]
    assert again.state.best == 0.25 and again.state.wait == 3
    assert isinstance(again.state.trial_kind, str)
    assert again.actions == controller.actions
    fresh = LRController(LRControl())
    fresh.set_state(json.loads(json.dumps(fresh.get_state())))
    assert np.isnan(fresh.state.best) and fresh.state.wait == 0
