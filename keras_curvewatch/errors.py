"""Errors raised by keras_curvewatch.

Every error is a `CurvewatchError`. The subclasses also derive from the
matching built-in (`ValueError`, `ImportError`, ...) so callers can catch
either parent.
"""


class CurvewatchError(Exception):
    """Base class of every error raised by keras_curvewatch."""


class InputError(CurvewatchError, ValueError):
    """The training history given to curvewatch cannot be read.

    The message names the source (file, key or column), what was found and
    what was expected.
    """


class FormatError(InputError):
    """A file's format is unknown or its content does not parse."""


class ConfigError(CurvewatchError, ValueError):
    """An argument given to a curvewatch function or class is invalid."""


class MissingExtraError(CurvewatchError, ImportError):
    """An optional dependency is missing; the message names the extra."""


def require_extra(module_name, extra):
    """Imports an optional dependency or raises `MissingExtraError`.

    Args:
        module_name: str. The module to import, e.g. `"matplotlib.pyplot"`.
        extra: str. The extra that installs it, e.g. `"plot"`.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: if the module cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module_name} is required for this feature but is not "
            f"installed. Install it with: pip install "
            f"'keras-curvewatch[{extra}]'"
        ) from exc
