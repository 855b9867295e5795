"""`DiagnosisCadence`: when `CurveWatch` runs the full diagnosis.

The full diagnosis (`analyze()` on every epoch so far) costs more as the
run grows, while an epoch of a small-data run costs a few milliseconds. So
the full diagnosis runs only while its total cost stays under
`DIAGNOSIS_BUDGET` of the training time, and cheap O(1) checks run at every
epoch end and call for it at once when a NaN, a possible divergence or a
possible spike appears: those findings are still raised in the epoch they
appear. The report at train end is always a full diagnosis, so it equals
`analyze()` on the same history.

Imports no keras: the checks work on the host-side history lists.
"""

import contextlib
import math
import time

from keras_curvewatch.engine.rules.training import DIVERGING_MIN_RELATIVE_RISE
from keras_curvewatch.engine.series import SPIKE_MIN_RELATIVE_JUMP
from keras_curvewatch.engine.series import is_curve
from keras_curvewatch.engine.series import pick_curves
from keras_curvewatch.engine.stats import robust_smooth

# Share of the training time the full diagnosis may take: the target is a
# whole fit at most 5 % slower than bare, and on a 3-step epoch of a small
# Dense model (bench/overhead.py --case long) the tap, the read-back and
# the cheap checks already take about 3 % of the CPU time.
DIAGNOSIS_BUDGET = 0.01

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
    """

    def __init__(self, budget=None):
        self.budget = float(DIAGNOSIS_BUDGET if budget is None else budget)
        self.start()

    def start(self):
        """Resets the clock and the counters at the start of a `fit`."""
        self._begin = time.perf_counter()
        self.spent = 0.0  # seconds spent in full diagnoses
        self.last_cost = 0.0  # seconds of the last full diagnosis
        self.last_epochs = 0  # epochs it covered
        self.epochs = 0  # epochs seen
        self.runs = 0  # full diagnoses run
        self.behind = False  # epochs seen since the last full diagnosis
        self._loss_min = math.inf  # running minimum of the training loss
        self._loss_nonfinite = False  # a non-finite training loss seen
        self._curves = (None, None)  # (history keys, (loss, val_loss))

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
        training = time.perf_counter() - self._begin - self.spent
        # The diagnosis grows about linearly with the epochs it covers.
        predicted = self.last_cost * self.epochs / max(self.last_epochs, 1)
        return self.spent + predicted < self.budget * training

    @contextlib.contextmanager
    def timed(self):
        """Times one full diagnosis (the block) and charges it."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.last_cost = time.perf_counter() - start
            self.spent += self.last_cost
            self.last_epochs = self.epochs
            self.runs += 1
            self.behind = False

    def alarm(self, history, entry):
        """The cheap checks: a non-finite value logged at this epoch, a
        training loss whose smoothed end has risen more than
        `DIVERGING_MIN_RELATIVE_RISE` above its lowest value (a necessary
        condition of `diverging`), or a training or validation loss whose
        previous value is a visible jump above both neighbours (a necessary
        condition of `loss_spike`). O(1) in the epochs so far."""
        if any(isinstance(v, float) and not math.isfinite(v)
               for k, v in entry.items() if is_curve(k)):
            return True
        keys = tuple(history)
        if self._curves[0] != keys:  # keys rarely change: pick once
            loss, val_loss, _, _ = pick_curves(
                [k for k in keys if is_curve(k)])
            self._curves = (keys, (loss, val_loss))
        loss, val_loss = self._curves[1]
        if loss is None:
            return True  # No loss to watch cheaply: diagnose every epoch.
        values = history[loss]
        if self._diverging(values):
            return True
        return any(_spike_before_last(history[name])
                   for name in (loss, val_loss) if name is not None)

    def _diverging(self, values):
        last = values[-1]
        if not math.isfinite(last):
            self._loss_nonfinite = True
        if self._loss_nonfinite:
            # `diverging` skips a loss with any non-finite value (the NaN
            # itself is raised by the check on the epoch's entry).
            return False
        self._loss_min = min(self._loss_min, last)
        if self._loss_min <= 0:
            return True  # The cheap bound below needs positive losses.
        tail = values[-SMOOTH_END_POINTS:]
        # The smoothed minimum is at least the raw minimum, so a smoothed
        # end above (1 + rise) * raw minimum is necessary for a divergence.
        end = _smoothed_end(tail)
        return end > (1.0 + DIVERGING_MIN_RELATIVE_RISE) * self._loss_min


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


def _spike_before_last(values):
    """True if the value before the last stands above both neighbours by
    at least `SPIKE_MIN_RELATIVE_JUMP` of the larger."""
    if len(values) < 3:
        return False
    before, value, after = values[-3], values[-2], values[-1]
    if not all(math.isfinite(v) for v in (before, value, after)):
        return False  # A spike score next to a NaN is NaN: no spike.
    reference = max(before, after)
    return value > reference and (
        reference == 0
        or (value - reference) / abs(reference) >= SPIKE_MIN_RELATIVE_JUMP
    )
