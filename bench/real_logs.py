"""Scores the diagnosis on the labelled real CSVLogger logs.

Loads every file listed in `LABELS.tsv` (beside the logs, default
`../shared/real_logs`) with `keras_curvewatch.analyze(path)`, and compares
the set of curve finding codes found (at any severity) with the labels.
Codes in a file's `allowed` column count neither way; `healthy` means none
of the curve codes. Prints per-code TP/FP/FN, precision and recall,
micro-F1, each file's mismatches, and the files labelled `healthy` that got
a finding at warning level or above.

`--split` scores two fixed halves separately: a file is in the "tune" half
when the first byte of the SHA-256 of its name is even, "held-out"
otherwise. Thresholds were tuned looking only at the tune half.

    python bench/real_logs.py [--split] [--dir ../shared/real_logs] [-v]
"""

import argparse
import collections
import csv
import hashlib
import os
import pathlib
import sys
import warnings

import keras_curvewatch as kcw

CURVE_CODES = (
    "nan_loss", "diverging", "not_learning", "plateau_then_drop",
    "not_converged", "overfitting", "train_oscillation", "val_fluctuation",
    "loss_spike", "metric_loss_mismatch",
)
DEFAULT_DIR = (pathlib.Path(__file__).resolve().parents[1].parent
               / "shared" / "real_logs")
WARNING_OR_WORSE = ("warning", "critical")


def half_of(name):
    """'tune' or 'held-out': a fixed split by a hash of the file name."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return "tune" if digest[0] % 2 == 0 else "held-out"


def read_labels(directory):
    """Rows of LABELS.tsv as `(file, labels, allowed)` with sets."""
    out = []
    with open(pathlib.Path(directory) / "LABELS.tsv", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            labels = {c for c in row["labels"].split(",") if c}
            labels.discard("healthy")
            allowed = {c for c in (row.get("allowed") or "").split(",") if c}
            out.append((row["file"], labels, allowed))
    return out


def analyse(directory, rows):
    """`{file: (found_codes, severities, labels, allowed)}`."""
    results = {}
    for name, labels, allowed in rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = kcw.analyze(os.path.join(directory, name))
        found = {}
        for f in report.findings:
            if f.code in CURVE_CODES:
                found[f.code] = f.severity
        results[name] = (found, labels, allowed)
    return results


def score(results):
    """Per-code counts and micro totals over `results`."""
    counts = collections.defaultdict(lambda: [0, 0, 0])
    for found, labels, allowed in results.values():
        for code in CURVE_CODES:
            if code in allowed:
                continue
            hit, truth = code in found, code in labels
            if hit and truth:
                counts[code][0] += 1
            elif hit:
                counts[code][1] += 1
            elif truth:
                counts[code][2] += 1
    tp = sum(c[0] for c in counts.values())
    fp = sum(c[1] for c in counts.values())
    fn = sum(c[2] for c in counts.values())
    return counts, (tp, fp, fn)


def _ratio(a, b):
    return a / b if b else float("nan")


def micro_f1(totals):
    tp, fp, fn = totals
    return _ratio(2 * tp, 2 * tp + fp + fn)


def print_table(title, results):
    counts, totals = score(results)
    print(f"\n{title} ({len(results)} logs)")
    print(f"{'code':24s} {'TP':>4s} {'FP':>4s} {'FN':>4s} "
          f"{'precision':>9s} {'recall':>7s}")
    for code in CURVE_CODES:
        tp, fp, fn = counts[code]
        if tp + fp + fn == 0:
            continue
        print(f"{code:24s} {tp:4d} {fp:4d} {fn:4d} "
              f"{_ratio(tp, tp + fp):9.2f} {_ratio(tp, tp + fn):7.2f}")
    tp, fp, fn = totals
    print(f"{'micro':24s} {tp:4d} {fp:4d} {fn:4d} "
          f"{_ratio(tp, tp + fp):9.2f} {_ratio(tp, tp + fn):7.2f}   "
          f"micro-F1 {micro_f1(totals):.3f}")
    return micro_f1(totals)


def healthy_alarms(results):
    """Files with no labels but a warning-or-worse curve finding."""
    out = []
    for name, (found, labels, allowed) in sorted(results.items()):
        if labels:
            continue
        loud = [f"{c}({s})" for c, s in found.items()
                if s in WARNING_OR_WORSE and c not in allowed]
        if loud:
            out.append((name, loud))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=str(DEFAULT_DIR))
    parser.add_argument("--split", action="store_true",
                        help="also score the tune and held-out halves")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="list every file's mismatches")
    args = parser.parse_args(argv)
    rows = read_labels(args.dir)
    results = analyse(args.dir, rows)
    if args.verbose:
        print("file mismatches (missed -, extra +):")
        for name, (found, labels, allowed) in sorted(results.items()):
            missed = sorted(labels - set(found) - allowed)
            extra = sorted(set(found) - labels - allowed)
            if missed or extra:
                print(f"  [{half_of(name)[0]}] {name[:48]:48s} "
                      + " ".join([f"-{c}" for c in missed]
                                 + [f"+{c}" for c in extra]))
    f1 = print_table("All labelled real logs", results)
    if args.split:
        for half in ("tune", "held-out"):
            print_table(f"Half '{half}' (sha256(file name)[0] "
                        f"{'even' if half == 'tune' else 'odd'})",
                        {k: v for k, v in results.items()
                         if half_of(k) == half})
    alarms = healthy_alarms(results)
    print(f"\nhealthy-labelled files with a warning-or-worse finding: "
          f"{len(alarms)}")
    for name, loud in alarms:
        print(f"  {name}: {', '.join(loud)}")
    return f1


if __name__ == "__main__":
    main(sys.argv[1:])
