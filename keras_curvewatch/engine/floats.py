"""Floats from epoch logs, and floats in strict JSON (NaN and the
infinities are written as strings)."""

import math


def encode_float(value):
    """Encodes a float for strict JSON: NaN and infinities become strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_float(value):
    """Decodes `encode_float` output; `None` (a JSON null) is NaN."""
    if value is None:
        return float("nan")
    return float(value)  # float() parses "NaN", "Infinity", "-Infinity".


def to_float(value):
    """A log value as a float; NaN where it is not a number (a string, a
    list or `None` in the logs)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
