"""The `curvewatch` command line.

Exit codes: 0 when nothing is found at or above `--fail-on`, 1 when
something is, 2 for bad input (a one-line error, never a traceback).
"""

import argparse
import os
import sys

from keras_curvewatch.engine import codes
from keras_curvewatch.engine.findings import SEVERITY_RANK
from keras_curvewatch.errors import CurvewatchError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """Argument errors exit 2 with one line, like every bad input."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"curvewatch: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, found {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, found {text!r}"
        )
    return value


def build_parser():
    parser = _Parser(
        prog="curvewatch",
        description="Diagnose Keras training curves: are they healthy, why "
        "do they fluctuate, and what to do about it.",
    )
    from keras_curvewatch import __version__

    parser.add_argument("--version", action="version",
                        version=f"curvewatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    _add_analyze(sub)
    _add_compare(sub)
    _add_lint(sub)
    _add_demo(sub)
    return parser


def _add_analyze(sub):
    """Adds the `analyze` command: one run, diagnosed."""
    analyze = sub.add_parser(
        "analyze",
        help="analyse a CSVLogger file, a JSON History dump or a "
        "TensorBoard log directory",
        epilog=codes.help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_argument("path", help="file or TensorBoard log directory")
    analyze.add_argument("--batch-size", type=_positive_int)
    analyze.add_argument("--n-train", type=_positive_int)
    analyze.add_argument("--n-val", type=_positive_int)
    analyze.add_argument("--n-params", type=_positive_int)
    analyze.add_argument(
        "--layers", help="comma-separated layer class names, e.g. LSTM,Dense"
    )
    analyze.add_argument(
        "--format", choices=("text", "json", "html"), default="text"
    )
    analyze.add_argument(
        "--output", "-o", help="write the report here instead of stdout"
    )
    analyze.add_argument("--plot", help="also write the figure to this PNG")
    analyze.add_argument(
        "--fail-on",
        choices=("info", "warning", "critical"),
        default="critical",
        help="exit 1 when a finding at or above this severity is found "
        "(default: critical)",
    )


def _add_compare(sub):
    """Adds the `compare` command: several runs side by side."""
    compare = sub.add_parser(
        "compare",
        help="compare runs (CSVLogger files, JSON dumps, TensorBoard "
        "directories): noise, best epochs, which to keep",
    )
    compare.add_argument("paths", nargs="+", metavar="path")
    compare.add_argument(
        "--names", help="comma-separated run names, one per path")
    compare.add_argument(
        "--format", choices=("text", "json", "html"), default="text")
    compare.add_argument(
        "--output", "-o", help="write the comparison here instead of stdout")


def _add_lint(sub):
    """Adds the `lint` command: a saved model, checked."""
    lint = sub.add_parser("lint", help="lint a saved .keras model")
    lint.add_argument("path", help="a .keras model file")
    lint.add_argument("--format", choices=("text", "json"), default="text")
    lint.add_argument(
        "--fail-on", choices=("info", "warning", "critical"),
        default="critical",
    )


def _add_demo(sub):
    """Adds the `demo` command: a small noisy fit, diagnosed."""
    demo = sub.add_parser(
        "demo",
        help="train a small LSTM on 98 generated sequences (batch 4) and "
        "diagnose it",
    )
    demo.add_argument("--epochs", type=_positive_int, default=30)
    demo.add_argument("--batch-size", type=_positive_int, default=4)
    demo.add_argument("--seed", type=int, default=0)


def _exit_code(report, fail_on):
    floor = SEVERITY_RANK[fail_on]
    failed = any(f.rank >= floor for f in report.findings)
    return EXIT_FINDINGS if failed else EXIT_OK


def _emit(text, output):
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _render(report, fmt):
    if fmt == "json":
        return report.to_json()
    if fmt == "html":
        from keras_curvewatch.render.standalone import render_standalone_html

        return render_standalone_html(report)
    return str(report)


def _cmd_analyze(args):
    from keras_curvewatch.engine.analysis import analyze

    if not os.path.exists(args.path):
        raise FileNotFoundError(args.path)
    layers = None
    if args.layers:
        layers = [name.strip() for name in args.layers.split(",") if name]
    report = analyze(
        args.path,
        batch_size=args.batch_size,
        n_train=args.n_train,
        n_val=args.n_val,
        n_params=args.n_params,
        layers=layers,
    )
    _emit(_render(report, args.format), args.output)
    if args.plot:
        from keras_curvewatch.render.plot import write_plot

        write_plot(report, args.plot)
    return _exit_code(report, args.fail_on)


def _cmd_compare(args):
    from keras_curvewatch.engine.compare import compare

    for path in args.paths:
        if not os.path.exists(path):
            raise FileNotFoundError(path)
    names = None
    if args.names:
        names = [name.strip() for name in args.names.split(",")]
    comparison = compare(args.paths, names=names)
    if args.format == "json":
        text = comparison.to_json()
    elif args.format == "html":
        from keras_curvewatch.render.compare import render_compare_page

        text = render_compare_page(comparison)
    else:
        text = str(comparison)
    _emit(text, args.output)
    return EXIT_OK


def _import_keras_quietly():
    """Imports keras (and its backend, finding its devices) without
    TensorFlow's start-up log lines.

    TF_CPP_MIN_LOG_LEVEL hides most of them; the few that the C++ runtime
    writes before its logging is set up bypass it, so the process's stderr
    is parked in a temporary file meanwhile and shown only if the import
    fails."""
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # No file descriptor 2 (embedded interpreter).
        import keras  # noqa: F401
        return
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                # Device discovery logs its own lines (cuInit) on first use.
                tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _cmd_lint(args):
    _import_keras_quietly()
    from keras_curvewatch.preflight.lint import lint_file

    report = lint_file(args.path)
    _emit(_render(report, args.format), None)
    return _exit_code(report, args.fail_on)


def _cmd_demo(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_curvewatch.demo import run_demo

    report = run_demo(
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed
    )
    _emit(str(report), None)
    return EXIT_OK


_COMMANDS = {"analyze": _cmd_analyze, "compare": _cmd_compare,
             "lint": _cmd_lint, "demo": _cmd_demo}


def main(argv=None):
    """Runs the `curvewatch` command line.

    Args:
        argv: list of str. Defaults to `sys.argv[1:]`.

    Returns:
        int. The exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except CurvewatchError as exc:
        message = str(exc).replace("\n", " ")
        sys.stderr.write(f"curvewatch: error: {message}\n")
    except FileNotFoundError as exc:
        name = exc.filename or str(exc)
        sys.stderr.write(
            f"curvewatch: error: {name}: no such file or directory\n"
        )
    except (OSError, UnicodeError) as exc:
        sys.stderr.write(f"curvewatch: error: {exc}\n".replace("\n", " ")
                         .rstrip() + "\n")
    except KeyboardInterrupt:
        sys.stderr.write("curvewatch: interrupted\n")
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        sys.stderr.write(
            f"curvewatch: internal error: {type(exc).__name__}: {exc}. "
            "Please report it with the input that caused it.\n"
        )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
