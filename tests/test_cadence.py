"""Tests of `keras_curvewatch.live.cadence`: when CurveWatch runs the full
diagnosis, and that the report at train end is still `analyze()`'s."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_curvewatch as kcw
from keras_curvewatch.engine import stats
from keras_curvewatch.engine.rules import training
from keras_curvewatch.live import cadence
from keras_curvewatch.live import device
from keras_curvewatch.live import loss_tap
from keras_curvewatch.live.cadence import DiagnosisCadence
import tiny_regression  # beside this file

# Run again under KERAS_BACKEND=jax and torch by .ci/run: the host marks
# and the deferred reads differ by backend (ring sizes, torch's eager fold).
pytestmark = pytest.mark.backend


def _feed(watch, curves, n):
    """The history lists and last entry of the first `n` epochs."""
    history = {k: [float(v) for v in vs[:n]] for k, vs in curves.items()}
    entry = {k: vs[-1] for k, vs in history.items()}
    return history, entry


def _epochs(watch, curves):
    """Feeds `curves` to `watch` epoch by epoch, with the first epoch's
    diagnosis run (timed) as CurveWatch runs it; yields `(n, history,
    alarm)` after each epoch `n`, `alarm` being what `due` said."""
    for n in range(1, len(next(iter(curves.values()))) + 1):
        history, entry = _feed(watch, curves, n)
        alarm = watch.due(history, entry)
        if n == 1:
            with watch.timed():
                pass
        yield n, history, alarm


def _count_checks(monkeypatch):
    """Makes the cadence's calls of `critical_divergence` append the
    length of the curve checked to the returned list."""
    calls = []
    check = training.critical_divergence
    monkeypatch.setattr(cadence, "critical_divergence",
                        lambda v: calls.append(len(v)) or check(v))
    return calls


def test_first_epoch_and_alarms_are_due_even_with_no_budget():
    watch = DiagnosisCadence(budget=0.0)
    curves = {"loss": [1.0, 0.8, 0.7, 0.65, 0.6, 0.58, float("nan")]}
    history, entry = _feed(watch, curves, 1)
    assert watch.due(history, entry)
    with watch.timed():
        pass
    assert watch.runs == 1 and not watch.behind
    for n in range(2, 7):
        assert not watch.due(*_feed(watch, curves, n))
    assert watch.behind
    assert watch.due(*_feed(watch, curves, 7))  # the NaN


def test_the_budget_decides_between_alarms():
    rich, poor = DiagnosisCadence(budget=1e9), DiagnosisCadence(budget=0.0)
    curves = {"loss": list(np.linspace(1.0, 0.5, 30))}
    for watch in (rich, poor):
        for n in range(1, 31):
            if watch.due(*_feed(watch, curves, n)):
                with watch.timed():
                    pass
    assert rich.runs == 30
    assert poor.runs == 1


class _Clock:
    """A stand-in for `time.perf_counter` that a simulated fit moves."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _diagnosis_s(n):
    """A full diagnosis's cost after `n` epochs, as measured in fits on
    one CPU core: 2 ms at first, 6 ms once the rules with a minimum of
    epochs join (epoch 6), then 0.015 ms more an epoch (20 ms at 1,000)."""
    return 2e-3 + 4e-3 * min(n, 6) / 6 + 1.5e-5 * n


def _simulated_fit(monkeypatch, budget, epoch_s, epochs=1000,
                   compile_s=1.25, cost=_diagnosis_s):
    """Runs `DiagnosisCadence` through a simulated fit: `compile_s` in
    the first epoch, `epoch_s` per epoch, and a full diagnosis of `n`
    epochs costing `cost(n)` seconds. Returns the cadence and the epochs
    it diagnosed."""
    clock = _Clock()
    monkeypatch.setattr(cadence.time, "perf_counter", clock)
    watch = DiagnosisCadence(budget=budget)
    loss = list(1.0 / (1.0 + np.arange(epochs) / 50.0))
    history, diagnosed, training = {"loss": []}, [], 0.0
    for n in range(1, epochs + 1):
        step = epoch_s + (compile_s if n == 1 else 0.0)
        clock.now += step
        training += step
        history["loss"].append(loss[n - 1])
        if watch.due(history, {"loss": loss[n - 1]}):
            with watch.timed():
                clock.now += cost(n)
            diagnosed.append(n)
            # Never past the budget by more than the diagnosis just run.
            assert watch.spent <= budget * training + watch.last_cost
    return watch, diagnosed


@pytest.mark.parametrize("budget,epoch_s", [(0.005, 20e-3), (0.01, 8e-3)])
def test_the_budget_keeps_diagnosing_through_a_long_fit(monkeypatch, budget,
                                                        epoch_s):
    # Epochs of an LSTM on CPU (8 ms on 98 samples at batch 4): the first
    # diagnoses' rise (rules joining) must not read as a growth that
    # starves the rest of the fit.
    watch, diagnosed = _simulated_fit(monkeypatch, budget, epoch_s)
    late = [n for n in diagnosed if n > 100]
    assert len(late) >= 3, diagnosed
    gaps = np.diff([1] + diagnosed + [1000])
    assert gaps.max() <= 400, diagnosed
    # The prediction stays within 2x of the true cost at the end.
    assert (_diagnosis_s(1000) / 2 <= watch.predicted_cost(1000)
            <= 2 * _diagnosis_s(1000))


def test_one_slow_diagnosis_does_not_stall_the_rest(monkeypatch):
    # A diagnosis that meets a full garbage collection (300 ms where the
    # others take 2-20 ms) is charged, but the next ones are predicted
    # from the cheaper ones before it.
    def cost(n):
        return 0.3 if n == 3 else _diagnosis_s(n)

    watch, diagnosed = _simulated_fit(monkeypatch, 0.01, 50e-3, cost=cost)
    assert 3 in diagnosed
    after = [n for n in diagnosed if n > 3]
    assert len(after) >= 3, diagnosed


def test_a_cheap_epoch_leaves_the_budget_to_the_first_epochs(monkeypatch):
    # A Dense model's 2.3 ms epoch accrues less budget per epoch than a
    # diagnosis grows: after the first ones (paid by the compilation),
    # the last report covers the rest, and the whole stays in budget.
    watch, diagnosed = _simulated_fit(monkeypatch, 0.005, 2.3e-3)
    assert diagnosed[0] == 1 and len(diagnosed) >= 2
    assert watch.spent <= 0.005 * (1.25 + 1000 * 2.3e-3) + watch.last_cost


def test_gaps_of_validation_freq_raise_no_alarm():
    watch = DiagnosisCadence(budget=0.0)
    watch.runs = 1
    nan = float("nan")
    history = {"loss": [1.0, 0.9, 0.8, 0.7], "val_loss": [1.1, nan, 0.9, nan]}
    assert not watch.due(history, {"loss": 0.7})


def test_a_missing_loss_curve_is_diagnosed_every_epoch():
    watch = DiagnosisCadence(budget=0.0)
    watch.runs = 1
    assert watch.due({"accuracy": [0.5, 0.6]}, {"accuracy": 0.6})


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=30))
def test_smoothed_end_from_the_tail_equals_the_whole_curve(values):
    tail = values[-cadence.SMOOTH_END_POINTS:]
    assert cadence._smoothed_end(tail) == stats.robust_smooth(values)[-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=8, max_size=30))
def test_smoothed_end_is_at_most_the_largest_of_the_last_six(values):
    # The bound the cheap diverging check skips the smoothed end with.
    assert stats.robust_smooth(values)[-1] <= max(values[-6:])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=8, max_size=40))
def test_smoothed_floor_bounds_the_smoothed_minimum_epoch_by_epoch(values):
    # Fed one epoch at a time, as in fit: every bound holds for the curve
    # so far, so the cheap diverging check never misses a divergence.
    watch = DiagnosisCadence()
    for n in range(cadence.SMOOTH_END_POINTS, len(values) + 1):
        floor = watch._smoothed_floor(values[:n])
        assert floor <= np.min(stats.robust_smooth(values[:n])) + 1e-12


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=8, max_size=40))
def test_smoothed_start_settles_after_the_first_points(values):
    head = values[:cadence.SMOOTH_END_POINTS]
    assert stats.robust_smooth(head)[0] == stats.robust_smooth(values)[0]


def _is_critical_diverging(values):
    report = kcw.analyze({"loss": list(values)})
    return any(f.code == "diverging" and f.severity == "critical"
               for f in report.findings)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=5, max_size=60))
def test_critical_divergence_agrees_with_the_full_diagnosis(values):
    # The cadence's confirmation (with its cheap test on the smoothed
    # curve first) is the rule's answer, on any curve.
    assert training.critical_divergence(values) == _is_critical_diverging(
        values)


def test_critical_divergence_agrees_on_falls_climbs_and_floors():
    rng = np.random.default_rng(11)
    answers = []
    for i in range(60):
        n = int(rng.integers(10, 120))
        t = np.arange(n)
        fall = np.exp(-t / rng.uniform(3, 30)) + rng.uniform(0, 0.05)
        climb = np.where(t > n // 2, (t - n // 2) * rng.uniform(0, 0.1), 0)
        # A loss at a floor near zero that bounces by up to 10x.
        bounce = rng.uniform(1e-4, 1e-3) * rng.lognormal(0, 1, n)
        values = [fall + climb, fall + bounce][i % 2]
        answer = training.critical_divergence(values)
        assert answer == _is_critical_diverging(values), values
        answers.append(answer)
    assert 0 < sum(answers) < len(answers)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.integers(-10**400, 10**400)),
                max_size=6))
def test_the_entry_prefilter_never_hides_a_non_finite_value(values):
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        assert cadence._maybe_nonfinite(values)


def test_a_noisy_falling_loss_raises_no_diverging_alarm():
    # Batch-4 epochs: a loss falling from 1.0 to 0.3 with 15 % noise. Its
    # raw minimum is a lucky low, so a bound from it alarmed at most
    # epochs; a critical divergence needs the end above the start.
    rng = np.random.default_rng(0)
    trend = 0.3 + 0.7 * np.exp(-np.arange(300) / 20.0)
    values = list(trend * np.exp(rng.normal(0.0, 0.15, 300)))
    watch = DiagnosisCadence()
    alarms = sum(watch._diverging(values[:n]) for n in range(1, 301))
    loose = sum(stats.robust_smooth(values[:n])[-1] > 1.1 * min(values[:n])
                for n in range(8, 301))
    assert alarms <= 2 and loose > 100, (alarms, loose)


def test_a_loss_that_climbs_above_its_start_alarms_at_once():
    values = list(np.linspace(1.0, 0.4, 20)) + list(np.linspace(0.45, 1.5, 15))
    watch = DiagnosisCadence()
    flags = [watch._diverging(values[:n]) for n in range(1, len(values) + 1)]
    first = flags.index(True)
    smooth_end = [stats.robust_smooth(values[:n])[-1]
                  for n in range(1, len(values) + 1)]
    # The first epoch whose smoothed end is above the smoothed start.
    above = next(n for n in range(8, len(values))
                 if smooth_end[n] > stats.robust_smooth(values)[0])
    assert first <= above


def _floor_bounce(n, rng):
    """A regression's loss: a fall from 2.7 to a floor near zero that
    bounces by up to 10x there, reaching new highs now and then."""
    t = np.arange(n)
    return (2.7 * np.exp(-t / 3.0)
            + rng.uniform(1e-5, 1e-4) * rng.lognormal(0.0, 1.0, n))


def test_a_loss_bouncing_at_its_floor_skips_the_rules_own_test(
        monkeypatch):
    # The bounces at the floor are 10x the minimum (critical if they were
    # a climb) but a flat line on the plot: the running range rules them
    # out without calling the rule's own test, which says no every time.
    rng = np.random.default_rng(5)
    values = list(_floor_bounce(400, rng))
    calls = _count_checks(monkeypatch)
    watch = DiagnosisCadence(budget=0.0)
    for n, _, alarm in _epochs(watch, {"loss": values}):
        assert not alarm or n == 1
    assert calls == []
    # Without the range, the same curve calls it at several new highs.
    blind = DiagnosisCadence()
    assert not any(blind._diverging(values[:n])
                   for n in range(1, len(values) + 1))
    assert len(calls) >= 3
    assert not any(training.critical_divergence(values[:n]) for n in calls)


def _synthetic_runs():
    """Curves that diverge, spike or stay healthy, as in
    bench/detection.py."""
    rng = np.random.default_rng(7)
    runs = []
    for i in range(12):
        n = int(rng.integers(20, 60))
        t = np.arange(n)
        loss = (0.3 + np.exp(-t / 6.0)) * np.exp(rng.normal(0, 0.03, n))
        if i % 3 == 0:  # diverging after a minimum, past its start
            onset = int(n * rng.uniform(0.3, 0.6))
            loss = loss * np.where(t > onset, 1 + 0.3 * (t - onset), 1.0)
        elif i % 3 == 1:  # spikes
            for epoch in rng.choice(np.arange(2, n - 1), 2, replace=False):
                loss[epoch] *= rng.uniform(1.6, 4.0)
        val = loss * 1.1 * np.exp(rng.normal(0, 0.03, n))
        runs.append({"loss": loss, "val_loss": val})
    for i in range(4):
        # At a floor near zero, bouncing; two of them then climb to 30x
        # the floor and 3 % of the plot (critical: 10x the minimum).
        n = int(rng.integers(40, 70))
        loss = _floor_bounce(n, rng)
        if i % 2 == 0:
            onset = int(n * 0.7)
            loss[onset:] += np.linspace(0.0, 0.08, n - onset)
        runs.append({"loss": loss,
                     "val_loss": loss * np.exp(rng.normal(0, 0.03, n))})
    return runs


def test_alarm_fires_whenever_a_critical_divergence_or_new_spike_is_found():
    # A climb that is only a warning waits for the budget (see
    # DiagnosisCadence._diverging); a critical one is raised at once.
    checked = {"diverging": 0, "spike": 0}
    for curves in _synthetic_runs():
        watch = DiagnosisCadence(budget=0.0)
        before = False
        for n, history, alarm in _epochs(watch, curves):
            report = kcw.analyze(history)
            critical = any(f.code == "diverging" and f.severity == "critical"
                           for f in report.findings)
            if critical and not before:  # the epoch it appears
                checked["diverging"] += 1
                assert alarm, (n, history["loss"])
            before = critical
            new_spike = any(_one_epoch_spike_at(history[name], n - 2)
                            for name in ("loss", "val_loss"))
            if new_spike:
                checked["spike"] += 1
                assert alarm, (n, history)
    assert checked["diverging"] > 0 and checked["spike"] > 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1e-6, 1e3), min_size=8, max_size=50),
       st.floats(1e-6, 1.0))
def test_alarm_fires_when_a_critical_divergence_appears_on_any_curve(
        values, scale):
    # Random curves (scaled, so that some bounce far below their range)
    # fed epoch by epoch: whenever the rule's own test turns critical, the
    # cheap checks (with their running range) call for a diagnosis, while
    # the re-checks below a checked high are within their budget (here
    # unlimited; see test_rechecks_below_a_checked_high_keep_to_budget).
    values = [v * scale for v in values]
    watch = DiagnosisCadence(budget=0.0, recheck_budget=math.inf)
    before = False
    for n, _, alarm in _epochs(watch, {"loss": values}):
        if n == 1:
            continue
        critical = training.critical_divergence(values[:n])
        if critical and not before:
            assert alarm, (n, values[:n])
        before = critical


def test_rechecks_below_a_checked_high_keep_to_budget(monkeypatch):
    # A loss at a floor near zero that bounces visibly (10x and more, a
    # few % of the plot) meets the bounds at most epochs of each bounce.
    # With no re-check budget only new smoothed highs are checked; with
    # an unlimited one, every epoch that meets the bounds.
    rng = np.random.default_rng(3)
    t = np.arange(300)
    values = list(np.exp(-t / 5.0) + 1e-3 * rng.lognormal(0.0, 2.0, 300))
    calls = _count_checks(monkeypatch)
    counts = {}
    for recheck in (0.0, math.inf):
        calls.clear()
        watch = DiagnosisCadence(budget=0.0, recheck_budget=recheck)
        for _ in _epochs(watch, {"loss": values}):
            pass
        counts[recheck] = list(calls)
    ends = [stats.robust_smooth(values[:n])[-1] for n in counts[0.0]]
    assert ends == sorted(set(ends)) and len(ends) >= 2
    assert len(counts[math.inf]) > 2 * len(counts[0.0])
    assert watch.check_spent > 0.0


def _one_epoch_spike_at(values, index):
    """Whether `loss_spike`'s rule counts a one-epoch jump at `index`."""
    from keras_curvewatch.engine.rules import shape
    from keras_curvewatch.engine.rules.spikes import _spikes

    hits, _ = _spikes(values)
    return index in hits and any(
        i == index and width == 1 for i, width, *_ in shape.jumps(values))


def _comparable(report):
    return ([f.to_dict() for f in report.findings],
            {k: s.to_dict() for k, s in report.series.items()})


@pytest.mark.parametrize("capacity", [None, 32])
def test_epochs_read_at_the_next_diagnosis_fill_in_every_row(monkeypatch,
                                                            capacity):
    # With no budget, most epochs' batch statistics wait in the ring for
    # the next diagnosis, or until the ring nears full (32 slots hold about
    # three 9-batch epochs); at train end every row of the history is
    # filled in, each from its own epoch's batch losses, and the report is
    # still analyze()'s.
    monkeypatch.setattr(cadence, "DIAGNOSIS_BUDGET", 0.0)
    reads = []
    read_all = device.BatchLossAccumulator._read_all
    monkeypatch.setattr(device.BatchLossAccumulator, "_read_all",
                        lambda self: reads.append(1) or read_all(self))
    x, y = tiny_regression.data(96)
    model = tiny_regression.build_model(keras)
    if capacity:
        loss_tap.install(model, capacity=capacity, steps=9)
    watch = kcw.CurveWatch(display=False, warn=lambda f: None)
    fitted = model.fit(x, y, batch_size=8, epochs=30, validation_split=0.25,
                       verbose=0, callbacks=[watch])
    assert watch._cadence.runs < 30
    assert loss_tap.installed_accumulator(model).capacity == (
        capacity or loss_tap._capacity_for(9))
    if keras.backend.backend() != "torch":  # torch's eager step folds
        # Epochs after the first are marked on the host: one read per
        # diagnosis or full ring, not one per epoch.
        if capacity:
            # The epoch that finds the ring full is read with the epochs
            # waiting (one transfer for three 9-batch epochs), not apart.
            assert watch._cadence.runs < len(reads) <= (
                watch._cadence.runs + 30 // 3 + 2)
        else:
            assert len(reads) <= 30 // 5
    losses = np.reshape(watch.report.batch["batch_losses"], (30, 9))
    history = watch.history
    for key in ("loss_batch_std", "loss_batch_min", "loss_batch_max"):
        assert len(history[key]) == 30 and np.isfinite(history[key]).all()
    np.testing.assert_allclose(history["loss_batch_std"],
                               losses.std(axis=1, ddof=1), rtol=1e-4)
    np.testing.assert_allclose(history["loss_batch_min"], losses.min(axis=1),
                               rtol=1e-5)
    # Each epoch's batches are that epoch's: their mean is the loss Keras
    # logged for it (9 batches of 8 samples).
    np.testing.assert_allclose(losses.mean(axis=1), fitted.history["loss"],
                               rtol=1e-4)
    assert watch.report.context["n_val"] == 24
    context = watch.report.context
    expected = kcw.analyze(
        fitted.history, batch_losses=watch.report.batch["batch_losses"],
        batch_size=context["batch_size"], n_train=context["n_train"],
        n_val=context["n_val"], steps_per_epoch=context["steps_per_epoch"],
        model=model)
    assert _comparable(watch.report) == _comparable(expected)


@pytest.mark.parametrize("budget", [0.0, 0.02])
def test_report_at_train_end_equals_analyze(monkeypatch, budget):
    monkeypatch.setattr(cadence, "DIAGNOSIS_BUDGET", budget)
    x, y = tiny_regression.data(96)
    model = tiny_regression.build_model(keras)
    watch = kcw.CurveWatch(display=False, warn=lambda f: None)
    history = model.fit(x, y, batch_size=8, epochs=40, validation_split=0.25,
                        verbose=0, callbacks=[watch])
    if budget == 0.0:
        assert watch._cadence.runs < 40  # the cadence skipped epochs
    context = watch.report.context
    expected = kcw.analyze(
        history.history,
        batch_losses=watch.report.batch["batch_losses"],
        batch_size=context["batch_size"],
        n_train=context["n_train"],
        n_val=context["n_val"],
        steps_per_epoch=context["steps_per_epoch"],
        model=model,
    )
    assert len(watch.report.batch["batch_losses"]) == 40 * 9
    assert _comparable(watch.report) == _comparable(expected)


class _StopAt(keras.callbacks.Callback):
    """Stops training after batch `batch` of epoch `epoch`."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.stop = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.stop:
            self.model.stop_training = True


def test_a_last_epoch_stopped_mid_way_keeps_its_own_batches(monkeypatch):
    # Epochs marked on the host, the last one cut short by stop_training:
    # its batches end at the device's count, and every row is its own.
    monkeypatch.setattr(cadence, "DIAGNOSIS_BUDGET", 0.0)
    x, y = tiny_regression.data(96)
    model = tiny_regression.build_model(keras)
    watch = kcw.CurveWatch(display=False, warn=lambda f: None)
    model.fit(x, y, batch_size=8, epochs=30, validation_split=0.25,
              verbose=0, callbacks=[_StopAt(20, 3), watch])
    assert len(watch.history["loss"]) == 21
    losses = watch.report.batch["batch_losses"]
    assert len(losses) == 20 * 9 + 4
    history = watch.history
    assert np.isfinite(history["loss_batch_std"]).all()
    np.testing.assert_allclose(history["loss_batch_min"][-1],
                               min(losses[-4:]), rtol=1e-6)
    np.testing.assert_allclose(history["loss_batch_max"][:20], np.max(
        np.reshape(losses[:180], (20, 9)), axis=1), rtol=1e-6)


class _PoisonWeights(keras.callbacks.Callback):
    """Sets every weight to NaN at the start of epoch `at`."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            for weight in self.model.trainable_weights:
                weight.assign(np.full(weight.shape, np.nan, "float32"))


def test_nan_is_raised_in_the_epoch_it_appears(monkeypatch):
    monkeypatch.setattr(cadence, "DIAGNOSIS_BUDGET", 0.0)
    x, y = tiny_regression.data(64)
    model = tiny_regression.build_model(keras)
    raised = {}

    def record(finding):
        raised.setdefault(finding.code, len(watch.history["loss"]))

    watch = kcw.CurveWatch(display=False, warn=record)
    model.fit(x, y, batch_size=16, epochs=12, verbose=0,
              callbacks=[_PoisonWeights(at=8), watch])
    assert math.isnan(watch.history["loss"][8])
    assert raised["nan_loss"] == 9  # at the end of epoch 8, the 9th
    assert watch._cadence.runs < 12
