"""keras_curvewatch: are your Keras loss curves healthy, why do they
fluctuate, and what should you do about it?

The statistics, the rules and `analyze()` import neither keras nor
tensorflow, so analysing a CSV file starts fast. The parts that need keras
(`CurveWatch`, `lint`) are imported on first use.
"""

__version__ = "0.1.0"

from keras_curvewatch.analysis import analyze
from keras_curvewatch.control import LRControl
from keras_curvewatch.curves import Curves
from keras_curvewatch.errors import ConfigError
from keras_curvewatch.errors import CurvewatchError
from keras_curvewatch.errors import FormatError
from keras_curvewatch.errors import InputError
from keras_curvewatch.errors import MissingExtraError
from keras_curvewatch.findings import CAUSES
from keras_curvewatch.findings import CODES
from keras_curvewatch.findings import Finding
from keras_curvewatch.history import load_history
from keras_curvewatch.report import Report
from keras_curvewatch.report import SeriesStats

# Public names that import keras, resolved lazily by `__getattr__`.
_LAZY = {
    "LRController": ("keras_curvewatch.lr_controller", "LRController"),
    "ScaledSchedule": ("keras_curvewatch.lr_apply", "ScaledSchedule"),
    "describe_model": ("keras_curvewatch.model_info", "describe_model"),
    "lint": ("keras_curvewatch.lint", "lint"),
    "lint_file": ("keras_curvewatch.lint", "lint_file"),
    "lint_report": ("keras_curvewatch.lint", "lint_report"),
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
    "load_history",
] + sorted(_LAZY)
