"""The signal check at the end of a live run (`CurveWatch(signal_check=)`).

Kept apart from `signal_findings`, which `signal` imports, so that imports
go one way.
"""

import math

from keras_curvewatch.preflight.signal import signal_check
from keras_curvewatch.preflight.signal_findings import VAL_ACCURACY_KEYS
from keras_curvewatch.preflight.signal_findings import VAL_MSE_KEYS


def add_signal_check(report, model, history, x, y, n_val=None):
    """Runs `signal_check` at the end of a live run, with the final
    validation error from `history` (or the model's error on `x`, `y`),
    and adds its notes to `report`; the caller merges its findings through
    the session's one merge point."""
    val_error = None
    for key in VAL_ACCURACY_KEYS + VAL_MSE_KEYS:
        values = [v for v in history.get(key, []) if math.isfinite(v)]
        if values:
            last = values[-1]
            val_error = 1.0 - last if key in VAL_ACCURACY_KEYS else last
            break
    check = signal_check(x, y, val_error=val_error,
                         model=None if val_error is not None else model,
                         n_val=n_val if val_error is not None else None)
    report.notes.extend(n for n in check.notes if n not in report.notes)
    return check
