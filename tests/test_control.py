"""Tests of the pure learning-rate policy: no keras, no training."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_curvewatch.engine.analysis import analyze
from keras_curvewatch.control.policy import CRITICAL_FACTOR_POWER
from keras_curvewatch.control.policy import ControlState
from keras_curvewatch.control.policy import LRControl
from keras_curvewatch.control.policy import NOISE_BAND_SIGMAS
from keras_curvewatch.control.policy import RISING_NOISE_SIGMAS
from keras_curvewatch.control.policy import ROLLBACK_LOSS_RATIO
from keras_curvewatch.control.policy import ROLLBACK_MONITOR_RATIO
from keras_curvewatch.control.policy import ROLLBACK_MONITOR_SIGMAS
from keras_curvewatch.control.inputs import EpochStats
from keras_curvewatch.control.inputs import epoch_stats_from_report
from keras_curvewatch.errors import ConfigError


def stats(epoch, lr=0.1, level=1.0, noise=0.01, loss=1.0, findings=(),
          nonfinite=False):
    return EpochStats(epoch=epoch, learning_rate=lr, findings=findings,
                      level=level, noise=noise, loss=loss,
                      nonfinite=nonfinite)


def run(control, levels, lr=0.1, noise=0.01, findings=None):
    """Feeds a sequence of levels, applying each decision's new rate."""
    state = control.init()
    decisions = []
    for epoch, level in enumerate(levels):
        found = findings(epoch) if findings else ()
        decision, state = control.propose(
            state, stats(epoch, lr, level, noise, loss=level, findings=found))
        decisions.append(decision)
        if decision.new_lr is not None:
            lr = decision.new_lr
    return decisions, state, lr


@pytest.mark.parametrize("kwargs,fragment", [
    ({"factor": 1.0}, "does not support factor >= 1.0. Received factor=1.0"),
    ({"factor": 2}, "factor=2"),
    ({"factor": 0.0}, "range (0, 1)"),
    ({"factor": -0.5}, "range (0, 1)"),
    ({"factor": float("nan")}, "factor=nan"),
    ({"factor": "half"}, "must be a number"),
    ({"min_lr": 0.0}, "min_lr must be a finite number > 0"),
    ({"min_lr": float("inf")}, "min_lr"),
    ({"patience": -1}, "patience must be an int >= 0. Received patience=-1"),
    ({"patience": 2.5}, "patience"),
    ({"cooldown": -2}, "cooldown=-2"),
    ({"max_rollbacks": -1}, "max_rollbacks=-1"),
    ({"max_rollbacks": True}, "max_rollbacks=True"),
    ({"rollback": "yes"}, "rollback must be True or False"),
    ({"monitor": ""}, "monitor"),
    ({"min_delta": -1.0}, "min_delta"),
])
def test_constructor_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        LRControl(**kwargs)
    assert fragment in str(info.value)


def test_config_round_trip_and_immutability():
    control = LRControl(factor=0.3, patience=4, cooldown=1, min_lr=1e-5,
                        rollback=False, max_rollbacks=2, monitor="loss")
    assert LRControl.from_config(control.get_config()) == control
    with pytest.raises(Exception):
        control.factor = 0.9


def test_propose_does_not_modify_state():
    control = LRControl(patience=0, cooldown=0)
    state = ControlState(best=1.0, wait=3)
    before = tuple(state)
    _, new = control.propose(state, stats(5, level=2.0))
    assert tuple(state) == before
    assert new is not state


def test_steady_improvement_never_reduces():
    levels = [1.0 * 0.9 ** i for i in range(40)]
    decisions, state, lr = run(LRControl(patience=3), levels, noise=0.001)
    assert all(d.action == "none" for d in decisions)
    assert lr == 0.1 and state.n_reductions == 0


def test_flat_curve_reduces_after_patience_then_cooldown():
    control = LRControl(patience=3, cooldown=2, factor=0.5)
    decisions, state, lr = run(control, [1.0] * 12)
    epochs = [i for i, d in enumerate(decisions) if d.action == "reduce"]
    # Epoch 0 sets the best; 1-3 wait; 4-5 cool down; 6-8 wait again.
    assert epochs == [3, 8]
    assert decisions[3].reason == "plateau"
    assert lr == pytest.approx(0.025)
    assert state.n_reductions == 2


def test_improvement_inside_the_noise_band_does_not_count():
    noise = 0.05
    # Falls by 0.4 band per epoch: the wait restarts every third epoch and
    # never reaches patience 3.
    step = 0.4 * NOISE_BAND_SIGMAS * noise
    slow = [1.0 - step * i for i in range(12)]
    decisions, _, _ = run(LRControl(patience=3), slow, noise=noise)
    assert all(d.action == "none" for d in decisions)
    # The same fall with a band 5x wider is a plateau.
    decisions, _, _ = run(LRControl(patience=3), slow, noise=5 * noise)
    assert any(d.reason == "plateau" for d in decisions)


def _plateau_reductions(raw):
    """Reductions by the policy on the engine's report, epoch by epoch."""
    history = {"loss": list(np.linspace(1.0, 0.5, len(raw))),
               "val_loss": list(raw)}
    control = LRControl(patience=5)
    state, lr = control.init(), 0.1
    for epoch in range(len(raw)):
        report = analyze({k: v[:epoch + 1] for k, v in history.items()})
        decision, state = control.propose(state, epoch_stats_from_report(
            report, epoch, lr, {"loss": history["loss"][epoch],
                                "val_loss": raw[epoch]}))
        lr = decision.new_lr or lr
    return state.n_reductions


def _raw_plateau_reductions(raw, patience=5):
    """ReduceLROnPlateau's test: raw values against the raw best."""
    best, wait, reductions = math.inf, 0, 0
    for value in raw:
        if value < best:
            best, wait = value, 0
        else:
            wait += 1
            if wait >= patience:
                reductions, wait = reductions + 1, 0
    return reductions


def test_noise_aware_plateau_reduces_less_on_noisy_improving_curves():
    epochs = np.arange(30)
    ours = raw = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        curve = 1.0 - 0.015 * epochs + rng.normal(0, 0.06, size=30)
        ours += _plateau_reductions(curve)
        raw += _raw_plateau_reductions(curve)
    assert ours < raw


def test_noise_aware_plateau_still_finds_a_noisy_plateau():
    epochs = np.arange(30)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        curve = np.where(epochs < 8, 1.0 - 0.05 * epochs, 0.6)
        assert _plateau_reductions(curve + rng.normal(0, 0.03, 30)) >= 1


@pytest.mark.parametrize("code", ["train_oscillation", "diverging",
                                  "loss_spike"])
def test_lr_findings_reduce_at_once(code):
    control = LRControl(patience=100)
    state = control.init()
    decision, state = control.propose(
        state, stats(3, findings=((code, "warning", "learning_rate"),)))
    assert decision.action == "reduce" and decision.reason == code
    assert decision.new_lr == pytest.approx(0.05)
    assert state.cooldown_left == control.cooldown


def test_critical_lr_finding_reduces_twice_as_hard():
    control = LRControl(factor=0.5)
    decision, _ = control.propose(control.init(), stats(
        3, findings=(("train_oscillation", "critical", "learning_rate"),)))
    assert decision.new_lr == pytest.approx(0.025)


@pytest.mark.parametrize("findings", [
    (("train_oscillation", "warning", "batch_size"),),
    (("overfitting", "warning", "learning_rate"),),
    (("val_fluctuation", "warning", "learning_rate"),),
])
def test_other_findings_or_causes_do_not_reduce(findings):
    control = LRControl(patience=100)
    decision, _ = control.propose(control.init(),
                                  stats(3, findings=findings))
    assert decision.action == "none" and decision.new_lr is None


def test_findings_wait_for_cooldown():
    control = LRControl(cooldown=3, patience=100)
    finding = (("diverging", "warning", "learning_rate"),)
    decisions, _, _ = run(control, [1.0] * 8, findings=lambda e: finding)
    assert [d.action for d in decisions][:5] == [
        "reduce", "none", "none", "none", "reduce"]


def test_never_below_min_lr_and_stops_reducing_there():
    control = LRControl(factor=0.1, min_lr=1e-3, patience=0, cooldown=0)
    decisions, _, lr = run(control, [1.0] * 10, lr=0.05)
    rates = [d.new_lr for d in decisions if d.new_lr is not None]
    assert rates == [pytest.approx(5e-3), pytest.approx(1e-3)]
    assert lr == pytest.approx(1e-3)


def test_rate_already_under_min_lr_is_never_raised():
    control = LRControl(min_lr=1e-2, patience=0, cooldown=0)
    decisions, _, lr = run(control, [1.0] * 5, lr=1e-3)
    assert all(d.new_lr is None for d in decisions) and lr == 1e-3


def test_nan_rolls_back_then_stops_after_max_rollbacks():
    control = LRControl(max_rollbacks=2, cooldown=0)
    state, lr, actions = control.init(), 0.1, []
    for epoch in range(5):
        decision, state = control.propose(
            state, stats(epoch, lr, nonfinite=True, loss=math.nan,
                         level=math.nan))
        actions.append(decision.action)
        lr = decision.new_lr or lr
    assert actions == ["rollback", "rollback", "stop", "none", "none"]
    assert lr == pytest.approx(0.1 * 0.5 ** (2 * CRITICAL_FACTOR_POWER))
    assert state.stopped and state.n_rollbacks == 2


def test_rollback_off_stops_on_nan():
    control = LRControl(rollback=False)
    decision, state = control.propose(control.init(),
                                      stats(2, nonfinite=True))
    assert decision.action == "stop" and decision.reason == "nan_loss"
    assert "rollback is off" in decision.message and state.stopped


def test_exploded_loss_rolls_back():
    control = LRControl()
    state = control.init()
    _, state = control.propose(state, stats(0, loss=0.5))
    decision, state = control.propose(
        state, stats(1, loss=0.5 * ROLLBACK_LOSS_RATIO * 1.01))
    assert decision.action == "rollback" and decision.reason == "diverging"
    assert decision.evidence["best_loss"] == 0.5
    # Just under the ratio is left to the other rules.
    decision, _ = control.propose(
        control.propose(control.init(), stats(0, loss=0.5))[1],
        stats(1, loss=0.5 * ROLLBACK_LOSS_RATIO * 0.99))
    assert decision.action == "none"


def test_epoch_stats_from_report_reads_engine_numbers():
    values = [1.0, 0.8, 0.7, 0.65, 0.6, 0.58, 0.57, 0.56]
    report = analyze({"loss": values, "val_loss": [v + 0.1 for v in values]})
    s = epoch_stats_from_report(report, 7, 0.01,
                                {"loss": 0.56, "val_loss": 0.66})
    assert s.level == pytest.approx(report.series["val_loss"].smoothed[-1])
    assert s.noise == report.series["val_loss"].noise
    assert not s.nonfinite and s.loss == 0.56
    nan = epoch_stats_from_report(report, 7, 0.01, {"loss": float("nan")})
    assert nan.nonfinite


finite_or_not = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.just(math.nan), st.just(math.inf), st.just(-math.inf))
finding_triples = st.lists(st.tuples(
    st.sampled_from(["train_oscillation", "diverging", "loss_spike",
                     "overfitting", "nan_loss"]),
    st.sampled_from(["info", "warning", "critical"]),
    st.sampled_from(["learning_rate", "batch_size", None])), max_size=3)
epoch_inputs = st.lists(st.tuples(
    finite_or_not, finite_or_not, finite_or_not, st.booleans(),
    finding_triples), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    factor=st.floats(min_value=0.01, max_value=0.99),
    min_lr=st.floats(min_value=1e-9, max_value=1.0),
    patience=st.integers(0, 6),
    cooldown=st.integers(0, 4),
    max_rollbacks=st.integers(0, 4),
    rollback=st.booleans(),
    lr0=st.one_of(st.floats(min_value=1e-10, max_value=10.0),
                  st.just(math.nan), st.just(0.0)),
    inputs=epoch_inputs,
)
def test_safety_invariants(factor, min_lr, patience, cooldown, max_rollbacks,
                           rollback, lr0, inputs):
    control = LRControl(factor=factor, min_lr=min_lr, patience=patience,
                        cooldown=cooldown, max_rollbacks=max_rollbacks,
                        rollback=rollback)
    state, lr = control.init(), lr0
    n_changes = 0
    for epoch, (level, noise, loss, nonfinite, found) in enumerate(inputs):
        decision, new_state = control.propose(
            state, EpochStats(epoch, lr, tuple(found), level, noise, loss,
                              nonfinite))
        assert decision.action in ("none", "reduce", "rollback", "stop")
        if decision.new_lr is not None:
            new = decision.new_lr
            assert math.isfinite(new) and new > 0
            assert new >= min_lr and new < lr
            n_changes += 1
            lr = new
        if state.stopped:
            assert decision.action == "none" and new_state == state
        assert new_state.n_rollbacks <= max_rollbacks
        assert 0 <= new_state.cooldown_left <= cooldown
        assert new_state.wait >= 0
        if decision.action == "rollback":
            assert rollback
        state = new_state
    assert n_changes == state.n_reductions
    assert n_changes == 0 or (math.isfinite(lr) and lr >= min_lr)


def test_validation_jump_rolls_back_but_slow_overfitting_does_not():
    control = LRControl()
    state = control.init()
    _, state = control.propose(state, EpochStats(0, 0.1, monitor_value=0.2,
                                                 loss=0.2, noise=0.01))
    jump = 0.2 * ROLLBACK_MONITOR_RATIO * 1.1
    decision, _ = control.propose(state, EpochStats(
        1, 0.1, monitor_value=jump, loss=0.1, noise=0.01))
    assert decision.action == "rollback" and decision.reason == "diverging"
    assert decision.evidence["best_monitor"] == 0.2
    # As large a ratio but inside the noise: no rollback.
    noise = jump / ROLLBACK_MONITOR_SIGMAS
    decision, _ = control.propose(state, EpochStats(
        1, 0.1, monitor_value=jump, loss=0.1, noise=noise))
    assert decision.action != "rollback"
    decision, _ = control.propose(state, EpochStats(
        1, 0.1, monitor_value=0.2 * 1.5, loss=0.1, noise=0.01))
    assert decision.action == "none"


def test_a_curve_moving_away_from_its_best_counts_double():
    control = LRControl(patience=4)
    noise = 0.01
    rising = [1.0, 1.0 + 3 * RISING_NOISE_SIGMAS * noise] + [1.1] * 4
    flat = [1.0] * 6
    first = {}
    for name, levels in (("rising", rising), ("flat", flat)):
        decisions, _, _ = run(control, levels, noise=noise)
        first[name] = next(i for i, d in enumerate(decisions)
                           if d.action == "reduce")
    assert first == {"rising": 2, "flat": 4}
