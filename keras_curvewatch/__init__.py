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
from keras_curvewatch.live.warning_types import CurveWarning
from keras_curvewatch.live.warning_types import CurvewatchDisabledWarning
from keras_curvewatch.live.warning_types import NanLossWarning
from keras_curvewatch.live.warning_types import DivergingWarning
from keras_curvewatch.live.warning_types import NotLearningWarning
from keras_curvewatch.live.warning_types import OverfittingWarning
from keras_curvewatch.live.warning_types import NotConvergedWarning
from keras_curvewatch.live.warning_types import PlateauThenDropWarning
from keras_curvewatch.live.warning_types import TrainOscillationWarning
from keras_curvewatch.live.warning_types import ValFluctuationWarning
from keras_curvewatch.live.warning_types import LossSpikeWarning
from keras_curvewatch.live.warning_types import MetricLossMismatchWarning
from keras_curvewatch.live.warning_types import NoisyBestEpochWarning
from keras_curvewatch.live.warning_types import SmallBatchWarning
from keras_curvewatch.live.warning_types import OverparameterizedWarning
from keras_curvewatch.live.warning_types import SmallValidationSetWarning
from keras_curvewatch.live.warning_types import UnshuffledDataWarning
from keras_curvewatch.live.warning_types import ReluBeforeSoftmaxWarning
from keras_curvewatch.live.warning_types import LogitsMismatchWarning
from keras_curvewatch.live.warning_types import ClassImbalanceWarning
from keras_curvewatch.live.warning_types import UnscaledInputsWarning
from keras_curvewatch.live.warning_types import DropoutTooHighWarning
from keras_curvewatch.live.warning_types import SplitMismatchWarning
from keras_curvewatch.live.warning_types import UnderfittingWarning

_WARNING_NAMES = [
    "CurveWarning",
    "CurvewatchDisabledWarning",
    "NanLossWarning",
    "DivergingWarning",
    "NotLearningWarning",
    "OverfittingWarning",
    "NotConvergedWarning",
    "PlateauThenDropWarning",
    "TrainOscillationWarning",
    "ValFluctuationWarning",
    "LossSpikeWarning",
    "MetricLossMismatchWarning",
    "NoisyBestEpochWarning",
    "SmallBatchWarning",
    "OverparameterizedWarning",
    "SmallValidationSetWarning",
    "UnshuffledDataWarning",
    "ReluBeforeSoftmaxWarning",
    "LogitsMismatchWarning",
    "ClassImbalanceWarning",
    "UnscaledInputsWarning",
    "DropoutTooHighWarning",
    "SplitMismatchWarning",
    "UnderfittingWarning",
]

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
] + sorted(_LAZY) + list(_WARNING_NAMES)
