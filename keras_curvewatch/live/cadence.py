"""`DiagnosisCadence`: when `CurveWatch` runs the full diagnosis.

The full diagnosis (`analyze()` on every epoch so far) costs more as the
run grows, while an epoch of a small-data run costs a few milliseconds. So
the full diagnosis runs only while its total cost stays under
`DIAGNOSIS_BUDGET` of the training time, and cheap O(1) checks run at every
epoch end and call for it at once when a NaN, a possible critical divergence
(above its start, or exploded) or a possible one-epoch spike appears: those
findings are still raised in the epoch they appear. A slower climb, a
warning, waits for the budget's next full diagnosis. A possible critical
divergence (an O(1) bound) is confirmed by the rule's own test on the
training loss alone (`critical_divergence`, a tenth of a full diagnosis)
before the full one runs; at an end no higher than one already checked,
only while those checks stay within `RECHECK_BUDGET` of the training time.
The report at train end is always a full diagnosis, so it equals
`analyze()` on the same history.

Imports no keras: the checks work on the host-side history lists.
"""

import contextlib
import math
import time

from keras_curvewatch.engine.rules.spikes import SPIKE_MIN_LOG_JUMP
from keras_curvewatch.engine.rules.spikes import SPIKE_MIN_SHARE_OF_RANGE
from keras_curvewatch.engine.rules.training import DIVERGING_MIN_RELATIVE_RISE
from keras_curvewatch.engine.rules.training import (
    DIVERGING_MIN_SHARE_OF_RANGE)
from keras_curvewatch.engine.rules.training import EXPLODED_RATIO
from keras_curvewatch.engine.rules.training import critical_divergence
from keras_curvewatch.engine.series import is_curve
from keras_curvewatch.engine.series import pick_curves
from keras_curvewatch.engine.stats import robust_smooth

# Share of the training time the full diagnosis may take: the target is a
# whole fit at most 5 % slower than bare, and on a 3-step epoch of a small
# Dense model on JAX (bench/overhead.py --case long, 2.3 ms an epoch) the
# epoch hooks (50 us), the tap's compilation (about 90 ms) and its extra
# state, and the last report (20 ms) already take about 5 % of the fit.
# With half a percent, a 1,000-epoch JAX LSTM fit at batch 4 diagnosed at
# epochs 1-5 (paid by the time the first epoch spends compiling), 41, 371,
# 633 and 989, 83 ms in all, and a Dense fit at batch 32 at epochs 1-3 and
# 575 (bench/overhead.py --case long, 2026-12-02).
DIAGNOSIS_BUDGET = 0.005

# A diagnosis costs a fixed part plus a part that grows about linearly with
# the epochs it covers: about 6 ms and 0.015 ms an epoch in fits on one CPU
# core (20 ms at 1,000 epochs; bench/overhead.py --case long prints each
# diagnosis's epochs and cost), so its fixed part weighs as much as 400
# epochs. The next cost is predicted in proportion to the last one's:
# measuring the growth between diagnoses instead read the first epochs'
# rise (2 ms at epoch 1, 5 ms at epoch 5, as rules with a minimum of
# epochs join) as 0.8 ms an epoch, and no diagnosis ran again.
FIXED_COST_EPOCHS = 400

# The prediction takes the cheapest of the last few diagnoses (each scaled
# as above): one that met a full garbage collection of a TensorFlow
# process took 255-305 ms against 3-27 ms for the others of the same fit
# (bench/overhead.py --case long, TensorFlow LSTM, 2026-12-02), and
# predicted from alone it held off every diagnosis until the last report.
# Its time is still charged to the budget.
RECENT_COSTS = 3

# A possible critical divergence whose smoothed end is no higher than one
# already checked is checked again only while the checks have taken less
# than this share of the training time, the full diagnoses' share
# (DIAGNOSIS_BUDGET): the rule's answer can turn at a lower end (its
# trend test gains power with each epoch of a climb that followed a
# higher spike: 1, 1, 1, 14, 14, 1, 2, 26, 2, 20 was not critical at the
# 26 and is at the 20), and a loss that bounces visibly at its floor meets
# the bounds at most epochs of each bounce (a check costs about 1 ms at
# 350 epochs). Past it, only a new high is checked until the budget has
# room again; the next full diagnosis sees the rest.
RECHECK_BUDGET = DIAGNOSIS_BUDGET

# The last smoothed value of `robust_smooth` depends on the last 6 raw
# values only (running medians of 5 then 3, Tukey's end-point rule); 8
# gives a margin. See `_smoothed_end`.
SMOOTH_END_POINTS = 8


class DiagnosisCadence:
    """Decides at each epoch end whether to run the full diagnosis.

    Call `start()` in `on_train_begin`, `due(history, entry)` at each epoch
    end, wrap the diagnosis in `timed()`, and check `behind` at train end.

    Args:
        budget: float or None. Share of the training time the full
            diagnosis may take. Defaults to `None`: `DIAGNOSIS_BUDGET`.
        recheck_budget: float or None. Share of the training time the
            re-checks of a possible critical divergence below a checked
            high may take. Defaults to `None`: `RECHECK_BUDGET`.
    """

    def __init__(self, budget=None, recheck_budget=None):
        self.budget = float(DIAGNOSIS_BUDGET if budget is None else budget)
        self.recheck_budget = float(
            RECHECK_BUDGET if recheck_budget is None else recheck_budget)
        self.start()

    def start(self):
        """Resets the clock and the counters at the start of a `fit`."""
        self._begin = time.perf_counter()
        self.spent = 0.0  # seconds spent in full diagnoses
        self.last_cost = 0.0  # seconds of the last full diagnosis
        self._recent = []  # (seconds, epochs) of the last RECENT_COSTS
        # The least of their costs per epoch covered (fixed part included):
        # `predicted_cost` is this times the epochs plus the fixed part.
        self._cost_rate = 0.0
        self.epochs = 0  # epochs seen
        self.runs = 0  # full diagnoses run
        self.behind = False  # epochs seen since the last full diagnosis
        self._loss_nonfinite = False  # a non-finite training loss seen
        # Running minimum of the settled medians of 5 of the training loss
        # (indices 2..folded), a lower bound of its smoothed minimum.
        self._median_min = math.inf
        self._folded = 1
        self._head = None  # the bound from the first three values, once set
        self._start = None  # the smoothed start, once settled
        self._checked_end = -math.inf  # highest end a diagnosis checked
        self.check_spent = 0.0  # seconds in `critical_divergence`
        self._ranges = {}  # curve name -> (min, max) of its finite values
        # ((loss, val_loss), the keys that are curves) of the history
        self._curves = ((None, None), frozenset())
        self._history, self._n_keys = None, -1  # the history picked from

    def due(self, history, entry):
        """Records an epoch and says whether to diagnose now.

        Args:
            history: dict of curve name to the list of its values so far,
                the epoch just ended included.
            entry: dict of curve name to the value logged at this epoch.

        Returns:
            bool. True on the first epoch, when a cheap check calls for it
            (see `alarm`), or when the budget has room for it.
        """
        self.epochs += 1
        self.behind = True
        if self.runs == 0 or self.alarm(history, entry):
            return True
        return (self.spent + self.predicted_cost()
                < self.budget * self._training_time())

    def predicted_cost(self, epochs=None):
        """Seconds a full diagnosis of `epochs` epochs (default: those
        seen) is expected to take: the cost of one of the last
        `RECENT_COSTS`, scaled by the epochs covered plus
        `FIXED_COST_EPOCHS` (its fixed part), the least of them; 0 before
        the first."""
        epochs = self.epochs if epochs is None else epochs
        return self._cost_rate * (epochs + FIXED_COST_EPOCHS)

    @contextlib.contextmanager
    def timed(self):
        """Times one full diagnosis (the block) and charges it."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.last_cost = time.perf_counter() - start
            self.spent += self.last_cost
            self._recent = (self._recent + [
                (self.last_cost, self.epochs)])[-RECENT_COSTS:]
            self._cost_rate = min(cost / (covered + FIXED_COST_EPOCHS)
                                  for cost, covered in self._recent)
            self.runs += 1
            self.behind = False

    def alarm(self, history, entry):
        """The cheap checks: a non-finite value logged at this epoch, a
        training loss that may be diverging critically (see `_diverging`),
        or a training or validation loss whose previous value is a visible
        jump above both neighbours (a necessary condition of
        `loss_spike`). O(1) in the epochs so far."""
        # Keys are only ever added to a history: the same dict with as
        # many keys has the same ones (picked once, not at every epoch).
        if history is not self._history or len(history) != self._n_keys:
            self._pick(history)
        loss, val_loss = self._curves[0]
        if _maybe_nonfinite(entry.values()):
            curves = self._curves[1]
            if any(isinstance(v, float) and not math.isfinite(v)
                   for k, v in entry.items() if k in curves or (
                       k not in history and is_curve(k))):
                return True
        if loss is None:
            return True  # No loss to watch cheaply: diagnose every epoch.
        values = history[loss]
        # Both spike checks run: each keeps its curve's running range.
        spike = self._spike_before_last(loss, values)
        if val_loss is not None and self._spike_before_last(
                val_loss, history[val_loss]):
            spike = True
        low, high = self._ranges.get(loss, (0.0, 0.0))
        return self._diverging(values, span=high - low) or spike

    def _pick(self, history):
        """Picks the curves among the history's keys."""
        curves = [k for k in history if is_curve(k)]
        loss, val_loss, _, _ = pick_curves(curves)
        self._curves = ((loss, val_loss), frozenset(curves))
        self._history, self._n_keys = history, len(history)

    def _spike_before_last(self, name, values):
        """A necessary condition of a one-epoch `loss_spike` at the epoch
        before the last: that value stands `SPIKE_MIN_LOG_JUMP` above both
        neighbours, by `SPIKE_MIN_SHARE_OF_RANGE` of the curve's range so
        far (kept as a running minimum and maximum)."""
        last = values[-1] if values else math.nan
        low, high = self._ranges.get(name, (math.inf, -math.inf))
        if (isinstance(last, (int, float)) and -math.inf < last < math.inf
                and not low <= last <= high):
            low, high = min(low, last), max(high, last)
            self._ranges[name] = (low, high)
        if len(values) < 3:
            return False
        before, value, after = values[-3], values[-2], values[-1]
        # `jumps` needs a positive finite curve (comparisons with NaN are
        # false), and a jump stands above both neighbours: most epochs
        # stop at these tests.
        if not (0.0 < before < math.inf and 0.0 < after < math.inf):
            return False
        reference = max(before, after)
        if not reference < value < math.inf:
            return False
        return (math.log(value / reference) >= SPIKE_MIN_LOG_JUMP
                and value - reference >= SPIKE_MIN_SHARE_OF_RANGE * (
                    high - low))

    def _diverging(self, values, span=0.0):
        """A necessary condition of a critical `diverging`: the smoothed
        end lies more than `DIVERGING_MIN_RELATIVE_RISE` above a lower
        bound of the smoothed minimum (see `_smoothed_floor`), by at least
        `DIVERGING_MIN_SHARE_OF_RANGE` of `span` (a lower bound of the
        curve's range, max - min of its finite values: the running range
        `alarm` keeps), and above the smoothed start or `EXPLODED_RATIO`
        times that bound (what makes the finding critical). A climb that
        is only a warning waits for the budget's next full diagnosis."""
        last = values[-1]
        if not math.isfinite(last):
            self._loss_nonfinite = True
        if self._loss_nonfinite:
            # Past a NaN, `diverging` judges the epochs before it, which no
            # longer change (the NaN epoch itself is diagnosed at once, by
            # the check on the epoch's entry).
            return False
        if len(values) < SMOOTH_END_POINTS:
            smooth = robust_smooth(values)  # a few points: exact
            floor, end = float(min(smooth)), float(smooth[-1])
            start = float(smooth[0])
        else:
            floor = self._smoothed_floor(values)
            if self._start is None:
                # The smoothed start depends on the first 6 values only.
                self._start = float(
                    robust_smooth(values[:SMOOTH_END_POINTS])[0])
            start = self._start
            # The smoothed end is at most the largest of the last 6 values
            # (Tukey's end is a median of 3, at most the larger of any two
            # of them: the last value and medians of those 6): most epochs
            # fail the bounds below on that alone.
            peak = max(values[-6:])
            if floor > 0 and (
                    peak <= (1.0 + DIVERGING_MIN_RELATIVE_RISE) * floor
                    or (peak <= start and peak < EXPLODED_RATIO * floor)
                    or peak - floor < DIVERGING_MIN_SHARE_OF_RANGE * span):
                return False
            end = _smoothed_end(values[-SMOOTH_END_POINTS:])
        if floor <= 0:
            return True  # The relative bounds below need positive losses.
        if end <= (1.0 + DIVERGING_MIN_RELATIVE_RISE) * floor:
            return False
        # The rise from the smoothed minimum (at least `floor`) is at most
        # `end - floor`: too small for the plot's height, the rule's climb
        # fails (a zero loss bouncing from 1e-5 to 1e-4 at its floor after
        # a fall from 2.7 meets the relative bounds at most new highs, and
        # each call of `critical_divergence` took 0.8 ms at 350 epochs of
        # a Dense batch-4 fit on JAX).
        if end - floor < DIVERGING_MIN_SHARE_OF_RANGE * span:
            return False
        if not (end > start or end >= EXPLODED_RATIO * floor):
            return False
        # A loss that bounces by 10x at its floor (Adam near a zero loss)
        # meets the bounds at most epochs of a bounce without diverging: an
        # end no higher than one checked already is checked again only
        # within `recheck_budget` (see RECHECK_BUDGET).
        if end <= self._checked_end and not self._recheck_affordable():
            return False
        self._checked_end = max(self._checked_end, end)
        # The rule's own test on the loss alone (about 1 ms on 1,000
        # epochs, a tenth of a full diagnosis) decides.
        begin = time.perf_counter()
        try:
            return critical_divergence(values)
        finally:
            self.check_spent += time.perf_counter() - begin

    def _recheck_affordable(self):
        """Whether the checks so far took less than `recheck_budget` of
        the training time."""
        return self.check_spent < self.recheck_budget * self._training_time()

    def _training_time(self):
        """Seconds since `start()`, less those spent in full diagnoses
        and in `critical_divergence`."""
        return (time.perf_counter() - self._begin - self.spent
                - self.check_spent)

    def _smoothed_floor(self, values):
        """A lower bound of `min(robust_smooth(values))`, amortised O(1).

        The Hanning pass averages neighbours and the median of 3 is at
        least the least of its medians of 5, so every interior smoothed
        value is at least the least median of 5; each end-point value is
        at least the lesser of its raw value and its neighbour (a median
        of three is at least the lesser of any two of them). The medians
        of full windows (indices 2..n-3) are settled and kept as a running
        minimum; the head's bound is kept once set (the first values no
        longer change) and the tail's is recomputed from its three values.
        """
        n = len(values)
        for i in range(max(self._folded + 1, 2), n - 2):
            self._median_min = min(self._median_min,
                                   sorted(values[i - 2:i + 3])[2])
            self._folded = i
        if self._head is None:  # the head's values no longer change
            self._head = min(values[0], sorted(values[:3])[1])
        a, b, c = values[-3:]
        # The median of the last three is max(min(a, b), min(max(a, b), c)).
        return min(self._median_min, self._head,
                   max(min(a, b), min(max(a, b), c)), c)


def _maybe_nonfinite(values):
    """False when every value is a finite number: their sum is finite
    (a NaN or an infinity makes it non-finite, and so may an overflow,
    which only sends the caller to its exact check)."""
    try:
        return not math.isfinite(sum(values))
    except (TypeError, OverflowError):
        return True


def _smoothed_end(tail):
    """`robust_smooth(values)[-1]` from the last `SMOOTH_END_POINTS`
    finite values, in plain Python (a few microseconds): the end depends
    on the last 6 values only. Medians of odd windows are their middle
    elements, so this is exact."""
    n = len(tail)
    if n <= 3:
        return float(tail[-1])

    def median_filter(values, half, at):
        h = min(half, at, n - 1 - at)
        return sorted(values[at - h:at + h + 1])[h]

    wanted = range(max(n - 4, 0), n)
    by_5 = {i: median_filter(tail, 2, i) for i in wanted}
    by_5_list = [by_5.get(i) for i in range(n)]

    def by_3(at):
        h = min(1, at, n - 1 - at)
        return sorted(by_5_list[at - h:at + h + 1])[h]

    before_last, two_before = by_3(n - 2), by_3(n - 3)
    return float(sorted([tail[-1], before_last,
                         2 * before_last - two_before])[1])
