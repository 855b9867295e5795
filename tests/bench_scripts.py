"""Loads a script of bench/ as a module, for the tests that check what a
benchmark computes."""

import importlib.util
import pathlib


def load(name):
    """The module of `bench/<name>.py`."""
    path = pathlib.Path(__file__).resolve().parents[1] / "bench" / (
        f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
