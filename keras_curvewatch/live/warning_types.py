"""Warning categories for findings, and the policy that raises them.

Each finding code has its own `CurveWarning` subclass, so users can filter
one diagnosis with the standard `warnings` machinery:

```python
warnings.filterwarnings("ignore", category=kcw.SmallBatchWarning)
```

This module imports neither keras nor tensorflow.
"""

import logging
import os
import sys
import traceback
import warnings

from keras_curvewatch.engine import codes
from keras_curvewatch.engine.findings import SEVERITY_RANK
from keras_curvewatch.engine.format import finding_text
from keras_curvewatch.errors import ConfigError

LOGGER_NAME = "keras_curvewatch"
# Set to 1 to print the full traceback when CurveWatch switches itself off.
DEBUG_ENV = "KERAS_CURVEWATCH_DEBUG"

# Evidence numbers shown in a warning; the report holds them all.
MAX_EVIDENCE_IN_WARNING = 6
# Causes shown in a warning: the most likely ones.
MAX_CAUSES_IN_WARNING = 3

WARN_MODES = ("warnings", "logging")


def debug_requested():
    """True when tracebacks are asked for: `KERAS_CURVEWATCH_DEBUG=1`, or
    the `"keras_curvewatch"` logger at DEBUG level."""
    if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
        return True
    return logging.getLogger(LOGGER_NAME).getEffectiveLevel() <= logging.DEBUG


class _OneLineHandler(logging.Handler):
    """Stands in for `logging.lastResort` when the application configured
    no logging: warnings and errors print as their message alone, without
    the traceback (unless `debug_requested()`). Silent as soon as any other
    handler would receive the record."""

    def __init__(self):
        super().__init__(logging.WARNING)

    def emit(self, record):
        if _other_handler(logging.getLogger(record.name), self):
            return
        try:
            text = record.getMessage()
            if record.exc_info and debug_requested():
                text += "\n" + "".join(
                    traceback.format_exception(*record.exc_info)).rstrip()
            sys.stderr.write(text + "\n")
        except Exception:
            self.handleError(record)


def _other_handler(logger, own):
    while logger is not None:
        if any(h is not own for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def _install_handler():
    logger = logging.getLogger(LOGGER_NAME)
    if not any(type(h).__name__ == "_OneLineHandler" for h in logger.handlers):
        logger.addHandler(_OneLineHandler())


_install_handler()


class CurveWarning(UserWarning):
    """Base category of every warning raised for a curvewatch finding."""


class CurvewatchDisabledWarning(RuntimeWarning):
    """Curvewatch hit an internal error and switched itself off; training
    goes on."""


# One `CurveWarning` subclass per registered finding code, named after it
# (`small_batch` -> `SmallBatchWarning`) and made from the registry, so a
# new code needs no class written by hand.
WARNING_CLASSES = {}


def _make_class(code):
    cls = type(code.warning, (CurveWarning,), {
        "__doc__": f"{code.meaning[:1].upper()}{code.meaning[1:]} "
                   f"(`{code.name}`).",
        "__module__": __name__,
    })
    WARNING_CLASSES[code.name] = cls
    globals()[code.warning] = cls
    return cls


for _code in codes.all_codes():
    _make_class(_code)
del _code


def warning_names():
    """list of str. The public names of the warning classes: the base
    classes, then one per registered code."""
    return ["CurveWarning", "CurvewatchDisabledWarning"] + [
        code.warning for code in codes.all_codes()]


def warning_class(code):
    """Returns the `CurveWarning` subclass for a finding code.

    Args:
        code: str. One of `keras_curvewatch.CODES`.

    Returns:
        A subclass of `CurveWarning`; `CurveWarning` itself for a code
        without its own class.
    """
    cls = WARNING_CLASSES.get(code)
    if cls is None and code in codes.names():
        cls = _make_class(codes.get(code))  # registered after import
    return cls or CurveWarning


def format_finding(finding):
    """Formats a finding as a warning message (see
    `keras_curvewatch.engine.format.finding_text`)."""
    return finding_text(finding, MAX_EVIDENCE_IN_WARNING,
                        MAX_CAUSES_IN_WARNING)


class Notifier:
    """Raises each finding once, and again only when its severity rises.

    Args:
        warn: `"warnings"` (a `CurveWarning` subclass per code; the text is
            also logged at INFO level to the `"keras_curvewatch"` logger),
            `"logging"` (a WARNING record on that logger only) or a callable
            that receives each `Finding`. Defaults to `"warnings"`.

    Raises:
        ConfigError: if `warn` is none of these.
    """

    def __init__(self, warn="warnings"):
        if not callable(warn) and warn not in WARN_MODES:
            raise ConfigError(
                f"warn must be one of {WARN_MODES} or a callable. Received "
                f"warn={warn!r}."
            )
        self.warn = warn
        self.raised = {}  # code -> severity rank of its last warning

    def reset(self):
        self.raised = {}

    def pending(self, findings):
        """Returns the findings that are new or more severe than when they
        were last raised; at most one per code, the most severe."""
        best = {}
        for finding in findings:
            kept = best.get(finding.code)
            if kept is None or finding.rank > kept.rank:
                best[finding.code] = finding
        return [
            f for f in best.values()
            if f.rank > self.raised.get(f.code, -1)
        ]

    def notify(self, findings, shown_live=False):
        """Raises the pending findings.

        Args:
            findings: iterable of `Finding`.
            shown_live: bool. True when a live notebook display already
                shows them: the default `"warnings"` mode then only logs,
                so the notebook gets no new printout per epoch.

        Returns:
            list of `Finding`. The ones raised now.
        """
        raised = self.pending(findings)
        logger = logging.getLogger(LOGGER_NAME)
        for finding in raised:
            self.raised[finding.code] = finding.rank
            text = format_finding(finding)
            if self.warn == "warnings" and shown_live:
                logger.info(text)
            elif self.warn == "warnings":
                logger.info(text)
                # Attributed to the package, not to a line of its source:
                # the warning then prints as one clean block, and
                # `filterwarnings(module="keras_curvewatch")` matches it.
                warnings.warn_explicit(
                    text, warning_class(finding.code),
                    filename=LOGGER_NAME, lineno=0, module=LOGGER_NAME)
            elif self.warn == "logging":
                level = (logging.INFO if finding.severity == "info"
                         else logging.WARNING)
                logger.log(level, text)
            else:
                logger.info(text)
                self.warn(finding)
        return raised

    def get_state(self):
        return {"raised": dict(self.raised)}

    def set_state(self, state):
        self.raised = {
            str(code): int(rank)
            for code, rank in dict(state.get("raised", {})).items()
            if int(rank) in SEVERITY_RANK.values()
        }

