"""`compare()`: which of several training runs is really better?

Each run goes through `analyze()`; the comparison puts their numbers side
by side, tests whether noise differences are beyond noise, and names the
run to keep. Imports neither keras nor tensorflow.
"""

import itertools
import math
import os

from keras_curvewatch.engine import compare_stats
from keras_curvewatch.engine.comparison import Comparison
from keras_curvewatch.engine.findings import SEVERITY_RANK
from keras_curvewatch.engine.report import Report
from keras_curvewatch.errors import ConfigError

# The curves whose noise is compared between runs.
COMPARED_SERIES = ("loss", "val_loss")
# The context arguments `analyze()` takes; each may be one value for every
# run or a list with one value per run.
CONTEXT_NAMES = ("batch_size", "n_train", "n_val", "n_params", "layers",
                 "model", "batch_losses", "steps_per_epoch")


def compare(runs, *, names=None, **context):
    """Compares training runs: their noise, best epochs and findings, which
    differences are beyond noise, and which run to keep.

    Noise differences are tested with a moving-block bootstrap over epochs
    of the residuals about each curve's trend (fixed seed: the same runs
    give the same intervals), e.g. "batch 2's val_loss noise is 2.4x batch
    32's (95% interval 1.7-3.3)".

    Args:
        runs: list of runs, or dict of name to run. Each run is anything
            `analyze()` reads (a `History`, a dict, a CSV/JSON file, a
            TensorBoard directory) or a `Report` already made.
        names: list of str or None. One name per run. Defaults to `None`:
            the dict's keys, the file names, or "run 1", "run 2", ...
        **context: the context arguments of `analyze()` (`batch_size`,
            `n_train`, `n_val`, `n_params`, `layers`, `model`,
            `batch_losses`, `steps_per_epoch`): one value for every run or
            a list with one value per run, e.g. `batch_size=[32, 4, 2]`.

    Returns:
        A `Comparison`: `.rows`, `.pairs`, `.verdict`, `.plot()`.

    Raises:
        ConfigError: if fewer than two runs, names that do not match the
            runs, or an unknown or mis-sized context argument.
        InputError: if a run cannot be read.

    Example:

    ```python
    histories = [model_for(b).fit(x, y, batch_size=b, ...) for b in (32, 4, 2)]
    comparison = keras_curvewatch.compare(
        histories, names=["batch 32", "batch 4", "batch 2"],
        batch_size=[32, 4, 2])
    print(comparison)
    ```
    """
    from keras_curvewatch.engine.analysis import analyze

    runs, names = _runs_and_names(runs, names)
    per_run = _per_run_context(context, len(runs))
    reports = {}
    for name, run, ctx in zip(names, runs, per_run):
        reports[name] = run if isinstance(run, Report) else analyze(run, **ctx)
    return comparison_of(reports)


def comparison_of(reports):
    """Builds the `Comparison` of named reports (dict of name to `Report`)."""
    names = list(reports)
    rows = [_row(name, reports[name]) for name in names]
    residuals = {name: {s: compare_stats.noise_residuals(r.series[s])
                        for s in COMPARED_SERIES if s in r.series}
                 for name, r in reports.items()}
    pairs = []
    for series in COMPARED_SERIES:
        for a, b in itertools.combinations(names, 2):
            pair = _pair(a, b, series, residuals)
            if pair is not None:
                pairs.append(pair)
    monitor = "val_loss" if all(
        "val_loss" in r.series for r in reports.values()) else "loss"
    for row, name in zip(rows, names):
        row.update(_monitor_values(reports[name], monitor))
    verdict = compare_stats.pick_run(rows, pairs, monitor)
    return Comparison(names=names, rows=rows, pairs=pairs, verdict=verdict,
                      reports=reports)


def _runs_and_names(runs, names):
    if isinstance(runs, dict):
        default = [str(k) for k in runs]
        runs = list(runs.values())
    elif isinstance(runs, (list, tuple)):
        runs = list(runs)
        default = _default_names(runs)
    else:
        raise ConfigError(
            "compare needs a list (or dict) of at least two runs. Received "
            f"{type(runs).__name__}.")
    if len(runs) < 2:
        raise ConfigError(
            f"compare needs at least two runs. Received {len(runs)}.")
    names = default if names is None else [str(n) for n in names]
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise ConfigError(
            f"names must hold one distinct name per run ({len(runs)} runs). "
            f"Received names={names!r}.")
    return runs, names


def _default_names(runs):
    names = []
    for i, run in enumerate(runs, 1):
        if isinstance(run, (str, os.PathLike)):
            base = os.path.basename(os.path.normpath(os.fspath(run)))
            names.append(os.path.splitext(base)[0] or f"run {i}")
        else:
            names.append(f"run {i}")
    if len(set(names)) != len(names):
        names = [f"run {i}" for i in range(1, len(runs) + 1)]
    return names


def _per_run_context(context, n):
    for key in context:
        if key not in CONTEXT_NAMES:
            raise ConfigError(
                f"compare got an unknown argument {key!r}. Expected one of "
                f"{CONTEXT_NAMES} (or names=).")
    out = [{} for _ in range(n)]
    for key, value in context.items():
        if _is_per_run(key, value):
            if len(value) != n:
                raise ConfigError(
                    f"compare {key} must be one value for every run or a "
                    f"list of {n} values, one per run. Received "
                    f"{len(value)} values.")
            for ctx, item in zip(out, value):
                ctx[key] = item
        else:
            for ctx in out:
                ctx[key] = value
    return out


def _is_per_run(key, value):
    if not isinstance(value, (list, tuple)):
        return False
    if key in ("layers", "batch_losses"):
        # A list of layer names or of losses is one value for every run.
        return all(v is None or hasattr(v, "__len__") and not isinstance(
            v, str) for v in value)
    return True


def _row(name, report):
    row = {"name": name, "source": report.source,
           "n_epochs": report.n_epochs,
           "batch_size": report.context.get("batch_size")}
    for series in COMPARED_SERIES:
        stats = report.series.get(series)
        nan = float("nan")
        row[f"{series}_noise"] = stats.relative_noise if stats else nan
        row[f"{series}_flip_rate"] = stats.flip_rate if stats else nan
        if stats is not None:
            row[f"{series}_log_scale"] = compare_stats.noise_residuals(
                stats)[1]
    row["final_gap"] = _final_gap(report)
    row["codes"] = list(report.codes)
    row["n_warnings"] = sum(
        f.rank >= SEVERITY_RANK["warning"] for f in report.findings)
    row["worst_severity"] = report.worst_severity
    return row


def _monitor_values(report, monitor):
    stats = report.series.get(monitor)
    nan = float("nan")
    if stats is None:
        return {"monitor": monitor, "best_epoch": None, "best_value": nan,
                "recommended_epoch": None, "recommended_value": nan}
    return {"monitor": monitor,
            "best_epoch": stats.raw_best_epoch, "best_value": stats.best,
            "recommended_epoch": stats.smoothed_best_epoch,
            "recommended_value": stats.smoothed_best}


def _final_gap(report):
    """Smoothed `val_loss` minus smoothed `loss` at the last epoch."""
    loss, val = report.series.get("loss"), report.series.get("val_loss")
    if loss is None or val is None or not loss.smoothed or not val.smoothed:
        return float("nan")
    return float(val.smoothed[-1] - loss.smoothed[-1])


def _pair(a, b, series, residuals):
    if series not in residuals[a] or series not in residuals[b]:
        return None
    (res_a, log_a), (res_b, log_b) = residuals[a][series], residuals[b][
        series]
    if log_a != log_b:
        return None  # one run on the log scale, one not: not comparable
    ratio = compare_stats.noise_ratio(res_a, res_b)[0]
    if not math.isfinite(ratio):
        return None
    noisier, steadier = (a, b) if ratio >= 1 else (b, a)
    ratio, low, high = compare_stats.noise_ratio(
        residuals[noisier][series][0], residuals[steadier][series][0])
    beyond = compare_stats.beyond_noise(low, high)
    sentence = (f"{noisier}'s {series} noise is {_times(ratio)}x "
                f"{steadier}'s")
    if beyond is None:
        sentence += " (too few epochs for an interval)"
    else:
        sentence += (f" (95% interval {_times(low)}–{_times(high)}): "
                     f"{'beyond' if beyond else 'not beyond'} noise")
    return {"series": series, "noisier": noisier, "steadier": steadier,
            "ratio": ratio, "low": low, "high": high,
            "beyond_noise": beyond, "sentence": sentence}


def _times(value):
    """A ratio for people: 2.4, 0.81, 35, 1600."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"
