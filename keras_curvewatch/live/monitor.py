"""The Keras habit for a `monitor` that is not logged: warn once and list
the metrics that do exist, as `keras.callbacks.EarlyStopping` does,
instead of silently watching another curve.

This module imports neither keras nor tensorflow.
"""

import logging
import warnings

from keras_curvewatch.engine.series import is_curve
from keras_curvewatch.live.warning_types import LOGGER_NAME


class MonitorCheck:
    """Checks, epoch by epoch, that a monitored metric is in the logs.

    A missing `val_*` monitor is judged at train end while no validation
    has run yet (`fit(validation_freq=...)`), so a run that validates every
    other epoch gets no false warning.

    Args:
        monitor: str. The metric, e.g. `"val_loss"`.
        who: str. What monitors it, for the message. Defaults to
            `"LRControl"`.
        fallback: str. What is used instead. Defaults to `"loss"`.
    """

    def __init__(self, monitor, who="LRControl", fallback="loss"):
        self.monitor = monitor
        self.who = who
        self.fallback = fallback
        self.reset()

    def reset(self):
        self.done = False
        self.available = []

    def epoch_end(self, logs):
        """Checks one epoch's logs; returns the warning text, if warned."""
        if self.done:
            return None
        if self.monitor in logs:
            self.done = True
            return None
        self.available = sorted(k for k in logs if is_curve(k))
        ran_validation = any(k.startswith("val_") for k in logs)
        if self.monitor.startswith("val_") and not ran_validation:
            return None
        return self._warn()

    def train_end(self, history):
        """Warns at train end if the monitor never appeared in `history`."""
        if self.done or self.monitor in history:
            return None
        return self._warn()

    def _warn(self):
        self.done = True
        message = (
            f"{self.who} is conditioned on metric `{self.monitor}`, which is "
            f"not available; it uses `{self.fallback}` instead. Available "
            f"metrics are: {', '.join(self.available) or 'none'}.")
        try:
            warnings.warn(message, UserWarning, stacklevel=3)
        except Exception:  # warnings made errors must not stop training
            logging.getLogger(LOGGER_NAME).warning(message)
        return message
