"""Tests of the pure learning-rate policy: no keras, no training."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_curvewatch.engine.analysis import analyze
from keras_curvewatch.control.types import ACTIONS
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
          nonfinite=False, history=None):
    """`EpochStats` whose raw and smoothed monitored curves are `history`
    (a list of levels up to this epoch) when given."""
    pairs = tuple(enumerate(history)) if history is not None else ()
    return EpochStats(epoch=epoch, learning_rate=lr, findings=findings,
                      level=level, noise=noise, loss=loss,
                      nonfinite=nonfinite, smoothed=pairs, values=pairs,
                      losses=pairs)


def run(control, levels, lr=0.1, noise=0.01, findings=None, after=None):
    """Feeds a sequence of levels, applying each decision's new rate.

    `after(epoch, level, lr)`, when given, returns the level the curve
    takes at the current rate instead of `levels[epoch]`.
    """
    state = control.init()
    decisions, history = [], []
    for epoch, level in enumerate(levels):
        if after is not None:
            level = after(epoch, level, lr)
        history.append(level)
        found = findings(epoch) if findings else ()
        decision, state = control.propose(
            state, stats(epoch, lr, level, noise, loss=level,
                         findings=found, history=history))
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
    ({"critical_factor": 1.5}, "critical_factor >= 1.0"),
    ({"max_lr": 0.0}, "max_lr must be a finite number > 0"),
    ({"max_lr": 1e-7}, "max_lr must be >= min_lr"),
    ({"verify_epochs": 0}, "verify_epochs must be an int >= 1"),
    ({"retry_after": -1}, "retry_after=-1"),
    ({"warmup": 1}, "warmup must be True or False"),
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


def test_flat_curve_cut_that_did_not_help_is_undone_and_not_retried():
    control = LRControl(patience=3, factor=0.5, verify_epochs=3,
                        retry_after=6)
    decisions, state, lr = run(control, [1.0] * 20)
    actions = [(i, d.action) for i, d in enumerate(decisions)
               if d.action != "none"]
    # Epoch 0 sets the best; 1-3 wait; the cut at 3 is judged at 6: the
    # curve stayed on its projection, so the old rate comes back, and no
    # cut before epoch 12; then again.
    assert actions[:4] == [(3, "reduce"), (6, "undo"), (12, "reduce"),
                           (15, "undo")]
    assert decisions[3].reason == "plateau"
    undo = decisions[6]
    assert undo.reason == "neutral" and undo.new_lr == pytest.approx(0.1)
    assert undo.evidence["restore_weights"] == 0.0
    assert undo.evidence["mean_since"] == pytest.approx(1.0)
    assert undo.evidence["projected"] == pytest.approx(1.0)
    assert "did not help" in undo.message and "epoch 12" in undo.message
    assert lr == pytest.approx(0.1) and state.scale == pytest.approx(1.0)
    assert state.n_undone >= 2


def test_cut_that_made_it_worse_restores_the_weights_too():
    control = LRControl(patience=3)
    # After the cut the curve climbs well beyond its noise.
    decisions, _, lr = run(control, [1.0] * 8, noise=0.01,
                           after=lambda e, v, lr: v if lr == 0.1 else 1.1)
    undo = decisions[6]
    assert undo.action == "undo" and undo.reason == "worse"
    assert undo.evidence["restore_weights"] == 1.0
    assert lr == pytest.approx(0.1)
    # With rollback off there are no weights to restore.
    decisions, _, _ = run(LRControl(patience=3, rollback=False), [1.0] * 8,
                          after=lambda e, v, lr: v if lr == 0.1 else 1.1)
    assert decisions[6].evidence["restore_weights"] == 0.0


def test_cut_that_helped_is_kept():
    control = LRControl(patience=3)
    # A lower rate lowers the plateau's floor well beyond the noise.
    decisions, state, lr = run(
        control, [1.0] * 7, noise=0.01,
        after=lambda e, v, lr: v - (0.1 if lr < 0.1 else 0.0))
    keep = decisions[6]
    assert keep.action == "keep" and keep.reason == "helped"
    assert keep.new_lr is None and "helped" in keep.message
    assert keep.evidence["mean_since"] < keep.evidence["projected"] - (
        keep.evidence["helped_band"])
    assert lr == pytest.approx(0.05) and state.trial_epoch == -1


def test_cooldown_holds_the_next_cut():
    control = LRControl(cooldown=4, patience=1, verify_epochs=1)
    decisions, _, _ = run(control, [1.0] * 8,
                          after=lambda e, v, lr: v - (1.0 - 10 * lr))
    assert [d.action for d in decisions][:4] == [
        "none", "reduce", "keep", "none"]
    reduce_epochs = [i for i, d in enumerate(decisions)
                     if d.action == "reduce"]
    assert reduce_epochs[1] - reduce_epochs[0] > 4


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


def test_oscillation_cut_kept_when_the_sawtooth_shrinks():
    control = LRControl(patience=100)
    finding = (("train_oscillation", "warning", "learning_rate"),)
    state, lr, losses, decisions = control.init(), 0.1, [], []
    for epoch in range(9):
        # The training loss zig-zags by an amount that follows the rate;
        # the smoothed validation level stays put.
        losses.append((epoch, 1.0 + (lr / 0.1) * 0.2 * (-1) ** epoch))
        flat = tuple((e, 1.0) for e in range(epoch + 1))
        decision, state = control.propose(state, EpochStats(
            epoch, lr, finding if epoch == 5 else (), level=1.0, noise=0.01,
            loss=losses[-1][1], smoothed=flat, values=flat,
            losses=tuple(losses)))
        decisions.append(decision)
        lr = decision.new_lr or lr
    assert decisions[5].action == "reduce"
    keep = decisions[8]
    assert keep.action == "keep"
    assert keep.evidence["sawtooth_ratio"] == pytest.approx(0.5, rel=0.3)
    assert lr == pytest.approx(0.05)


def test_never_below_min_lr_and_stops_reducing_there():
    control = LRControl(factor=0.1, min_lr=1e-3, patience=0,
                        verify_epochs=1)
    # Every cut helps: the level falls with the rate.
    decisions, _, lr = run(control, [1.0] * 10, lr=0.05,
                           after=lambda e, v, lr: lr * 10 - 0.001 * e)
    rates = [d.new_lr for d in decisions if d.action == "reduce"]
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
    assert lr == pytest.approx(0.1 * control.critical ** 2)
    assert control.critical == pytest.approx(0.25)
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
    verify_epochs=st.integers(1, 3),
    lr0=st.one_of(st.floats(min_value=1e-10, max_value=10.0),
                  st.just(math.nan), st.just(0.0)),
    inputs=epoch_inputs,
)
def test_safety_invariants(factor, min_lr, patience, cooldown, max_rollbacks,
                           rollback, verify_epochs, lr0, inputs):
    control = LRControl(factor=factor, min_lr=min_lr, patience=patience,
                        cooldown=cooldown, max_rollbacks=max_rollbacks,
                        rollback=rollback, verify_epochs=verify_epochs)
    state, lr = control.init(), lr0
    history = []
    for epoch, (level, noise, loss, nonfinite, found) in enumerate(inputs):
        history.append((epoch, level))
        decision, new_state = control.propose(
            state, EpochStats(epoch, lr, tuple(found), level, noise, loss,
                              nonfinite, smoothed=tuple(history),
                              values=tuple(history),
                              losses=tuple(history)))
        assert decision.action in ACTIONS
        if decision.new_lr is not None:
            new = decision.new_lr
            assert math.isfinite(new) and new > 0 and new >= min_lr
            if decision.action in ("reduce", "rollback"):
                assert new < lr
            else:
                assert decision.action in ("raise", "undo")
            # Never above the starting rate (max_lr=None).
            assert new <= lr0 * (1 + 1e-9)
            lr = new
        else:
            assert decision.action not in ("reduce", "raise")
        if state.stopped:
            assert decision.action == "none" and new_state == state
        assert new_state.n_rollbacks <= max_rollbacks
        assert 0 <= new_state.cooldown_left <= cooldown
        assert new_state.wait >= 0
        if decision.action == "rollback":
            assert rollback
        if math.isfinite(lr0) and lr0 > 0:
            assert new_state.scale == pytest.approx(lr / lr0, rel=1e-6)
        state = new_state


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


@pytest.mark.parametrize("noise_finding", [
    ("small_batch", "warning", "batch_size"),
    ("val_fluctuation", "warning", "validation_size"),
    ("class_imbalance", "warning", "class_imbalance"),
    ("train_oscillation", "warning", "batch_size"),
])
def test_plateau_of_batch_noise_is_left_alone(noise_finding):
    control = LRControl(patience=3)
    decisions, state, lr = run(control, [1.0] * 12,
                               findings=lambda e: (noise_finding,))
    assert all(d.action == "none" for d in decisions)
    assert lr == 0.1 and state.n_reductions == 0
    assert decisions[-1].evidence["held_back_by_batch_noise"] == 1.0
    # The same plateau without that finding is cut.
    decisions, _, _ = run(control, [1.0] * 12)
    assert decisions[3].action == "reduce"


def test_a_rate_finding_still_cuts_beside_batch_noise():
    control = LRControl(patience=100)
    found = (("small_batch", "warning", "batch_size"),
             ("diverging", "warning", "learning_rate"))
    decision, _ = control.propose(control.init(), stats(3, findings=found))
    assert decision.action == "reduce" and decision.reason == "diverging"


def test_causes_are_read_in_the_engines_order():
    from keras_curvewatch.control.evidence import view
    from keras_curvewatch.engine.findings import Finding

    finding = Finding(code="train_oscillation", severity="warning",
                      message="m", causes=(("batch_size", "a"),
                                           ("learning_rate", "b")))
    seen = view(finding)
    assert seen.causes == ("batch_size", "learning_rate")
    assert seen.top_cause == "batch_size"
    control = LRControl(patience=100)
    decision, _ = control.propose(control.init(),
                                  stats(3, findings=(seen,)))
    assert decision.action == "none"


def _overcut_run(control, epochs=24):
    """A plateau cut that helps, after which the curve falls in a slow
    straight line whose speed follows the rate."""
    def curve(epoch, level, lr):
        if epoch <= 3:
            return 1.0
        return 0.9 - 0.02 * (lr / 0.05) * (epoch - 3)

    return run(control, [1.0] * epochs, noise=0.002, after=curve)


def test_warm_up_after_an_over_cut_within_the_starting_rate():
    decisions, state, lr = _overcut_run(LRControl(patience=3))
    actions = [(i, d.action) for i, d in enumerate(decisions)
               if d.action != "none"]
    assert actions[0] == (3, "reduce") and actions[1] == (6, "keep")
    raise_epoch, raise_ = next((i, d) for i, d in enumerate(decisions)
                               if d.action == "raise")
    assert raise_epoch >= 3 + 5  # five epochs at the cut rate
    assert raise_.reason == "overcut"
    assert raise_.new_lr == pytest.approx(0.1)
    assert raise_.evidence["fall_in_noise_sigmas"] > 4
    # Never above the starting rate: no second raise.
    assert sum(d.action == "raise" for d in decisions) == 1
    assert lr <= 0.1 and state.scale <= 1.0


def test_warm_up_respects_max_lr_and_can_be_turned_off():
    decisions, _, _ = _overcut_run(LRControl(patience=3, max_lr=0.07))
    raises = [d for d in decisions if d.action == "raise"]
    assert raises and raises[0].new_lr == pytest.approx(0.07)
    decisions, _, _ = _overcut_run(LRControl(patience=3, warmup=False))
    assert not any(d.action == "raise" for d in decisions)


def test_warm_up_that_did_not_help_is_undone():
    def curve(epoch, level, lr):
        if epoch <= 3:
            return 1.0
        # Straight decline at the cut rate; the higher rate stalls.
        return 0.9 - 0.02 * (epoch - 3) if lr < 0.1 else 0.8

    decisions, state, lr = run(LRControl(patience=3), [1.0] * 20,
                               noise=0.002, after=curve)
    raise_epoch = next(i for i, d in enumerate(decisions)
                       if d.action == "raise")
    undo = decisions[raise_epoch + 3]
    assert undo.action == "undo" and undo.new_lr == pytest.approx(0.05)
    assert state.no_warmup_until == raise_epoch + 3 + 10


def test_critical_factor_is_explicit():
    critical = (("train_oscillation", "critical", "learning_rate"),)
    control = LRControl(factor=0.5)
    assert control.critical == pytest.approx(0.25)
    decision, _ = control.propose(control.init(),
                                  stats(3, lr=0.05, findings=critical))
    assert decision.new_lr == pytest.approx(0.0125)
    assert "critical: cut by 0.25" in decision.message
    control = LRControl(factor=0.5, critical_factor=0.5)
    decision, _ = control.propose(control.init(),
                                  stats(3, lr=0.05, findings=critical))
    assert decision.new_lr == pytest.approx(0.025)


def test_a_climb_far_beyond_the_noise_is_signal_even_with_batch_noise():
    control = LRControl(patience=3)
    noisy = (("small_validation_set", "warning", "validation_size"),)
    # Falls, then climbs by 5 noise sigmas per epoch: not the batch's noise.
    levels = [1.0, 0.9, 0.8] + [0.8 + 0.05 * i for i in range(1, 8)]
    decisions, _, _ = run(control, levels, noise=0.01,
                          findings=lambda e: noisy)
    assert any(d.action == "reduce" and d.reason == "plateau"
               for d in decisions)


def test_decision_default_evidence_is_not_a_shared_mutable_dict():
    from keras_curvewatch.control.types import Decision

    first, second = Decision(), Decision()
    with pytest.raises(TypeError):
        first.evidence["x"] = 1.0
    assert dict(second.evidence) == {}
