"""Checks of `LRControl`'s settings, each failure a `ConfigError` naming
the argument, the value and what is expected.

This module imports neither keras nor tensorflow.
"""

import math

from keras_curvewatch.errors import ConfigError


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"LRControl {name} must be a number. Received {name}={value!r}.")
    return float(value)


def _fraction(name, value):
    number = _number(name, value)
    if not number < 1.0:
        raise ConfigError(
            f"LRControl does not support {name} >= 1.0. Received "
            f"{name}={value!r}. Use a {name} in (0, 1), e.g. 0.5.")
    if not number > 0.0:
        raise ConfigError(
            f"LRControl {name} must be in the range (0, 1). Received "
            f"{name}={value!r}.")
    return number


def _positive(name, value):
    number = _number(name, value)
    if not (math.isfinite(number) and number > 0.0):
        raise ConfigError(
            f"LRControl {name} must be a finite number > 0. Received "
            f"{name}={value!r}.")
    return number


def check_config(control):
    """Checks an `LRControl`'s fields.

    Returns:
        dict of the fields to store converted (floats).

    Raises:
        ConfigError: if a field is out of range.
    """
    out = {"factor": _fraction("factor", control.factor),
           "min_lr": _positive("min_lr", control.min_lr)}
    if control.critical_factor is not None:
        out["critical_factor"] = _fraction("critical_factor",
                                           control.critical_factor)
    if control.max_lr is not None:
        out["max_lr"] = _positive("max_lr", control.max_lr)
        if out["max_lr"] < out["min_lr"]:
            raise ConfigError(
                f"LRControl max_lr must be >= min_lr. Received "
                f"max_lr={control.max_lr!r}, min_lr={control.min_lr!r}.")
    for name, low in (("patience", 0), ("cooldown", 0), ("max_rollbacks", 0),
                      ("verify_epochs", 1), ("retry_after", 0)):
        value = getattr(control, name)
        if isinstance(value, bool) or not isinstance(value, int) or (
                value < low):
            raise ConfigError(
                f"LRControl {name} must be an int >= {low}. Received "
                f"{name}={value!r}.")
    for name in ("rollback", "warmup"):
        if not isinstance(getattr(control, name), bool):
            raise ConfigError(
                f"LRControl {name} must be True or False. Received "
                f"{name}={getattr(control, name)!r}.")
    if not isinstance(control.monitor, str) or not control.monitor:
        raise ConfigError(
            "LRControl monitor must be a curve name such as 'val_loss'. "
            f"Received monitor={control.monitor!r}.")
    min_delta = _number("min_delta", control.min_delta)
    if not (math.isfinite(min_delta) and min_delta >= 0.0):
        raise ConfigError(
            "LRControl min_delta must be a finite number >= 0. Received "
            f"min_delta={control.min_delta!r}.")
    out["min_delta"] = min_delta
    return out
