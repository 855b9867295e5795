"""keras_curvewatch: are your Keras loss curves healthy, why do they
fluctuate, and what should you do about it?

The statistics, the rules and `analyze()` import neither keras nor
tensorflow, so analysing a CSV file starts fast. The parts that need keras
(`CurveWatch`, `lint`) are imported on first use.
"""

__version__ = "0.1.0"

from keras_curvewatch.engine.analysis import analyze
from keras_curvewatch.control.policy import LRControl
from keras_curvewatch.engine.curves import Curves
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.errors import CurvewatchError
from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError
from keras_curvewatch.errors import MissingExtraError
from keras_curvewatch.engine.findings import CAUSES
from keras_curvewatch.engine.findings import CODES
from keras_curvewatch.engine.findings import Finding
from keras_curvewatch.io.history import load_history
from keras_curvewatch.engine.report import Report
from keras_curvewatch.engine.report import SeriesStats
from keras_curvewatch.live import warning_types as _warning_types

# The warning classes, one per finding code in the registry
# (`keras_curvewatch.engine.codes`): `kcw.SmallBatchWarning`, ...
_WARNING_NAMES = _warning_types.warning_names()
globals().update(
    {name: getattr(_warning_types, name) for name in _WARNING_NAMES})
# Run comparison and the signal check (issue 16).
from keras_curvewatch.engine.comparison import Comparison
from keras_curvewatch.engine.compare import compare
from keras_curvewatch.preflight.signal import signal_check

# Public names that import keras, resolved lazily by `__getattr__`.
_LAZY = {
    "CurveWatch": ("keras_curvewatch.live.callback", "CurveWatch"),
    "LRController": ("keras_curvewatch.control.controller", "LRController"),
    "ScaledSchedule": ("keras_curvewatch.control.apply", "ScaledSchedule"),
    "describe_model": ("keras_curvewatch.preflight.model_info", "describe_model"),
    "lint": ("keras_curvewatch.preflight.lint", "lint"),
    "lint_file": ("keras_curvewatch.preflight.lint", "lint_file"),
    "lint_report": ("keras_curvewatch.preflight.lint", "lint_report"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_curvewatch' has no attribute {name!r}")


__all__ = [
    "CAUSES",
    "CODES",
    "Comparison",  # issue 16
    "ConfigError",
    "Curves",
    "CurvewatchError",
    "Finding",
    "FormatError",
    "InputError",
    "LRControl",
    "MissingExtraError",
    "Report",
    "SeriesStats",
    "analyze",
    "compare",  # issue 16
    "load_history",
    "signal_check",  # issue 16
] + sorted(_LAZY) + list(_WARNING_NAMES)
