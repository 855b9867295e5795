"""One notebook output area, updated in place while a model trains.

IPython is optional: `LiveDisplay.create()` returns None when there is no
IPython kernel (plain Python, a terminal IPython, no IPython installed), and
the callback then falls back to warnings and logging.

This module imports neither keras nor tensorflow.
"""

import base64
import html
import time
import warnings

from keras_curvewatch.errors import MissingExtraError
from keras_curvewatch.render.html import render_html

# Size of the live plot in inches and its resolution: about 600 x 280 px
# with its legend, small enough to sit beside the findings and re-render in
# about 0.1 s per epoch.
LIVE_FIGSIZE = (6.4, 3.0)
LIVE_DPI = 96
# Width the plot takes next to the findings: about its PNG width, so the
# browser does not rescale (and blur) it.
LIVE_PLOT_WIDTH_PX = 600
# Least time between two redraws: epochs of tiny models take a few
# milliseconds, and redrawing a PNG for each one would slow training down.
LIVE_MIN_INTERVAL_S = 0.5

_PLACEHOLDER = (
    '<div class="curvewatch-live" style="color:inherit;opacity:0.75;'
    "font-family:system-ui,sans-serif;font-size:13px;\">"
    "Curvewatch: waiting for the first epoch…</div>"
)


class LiveDisplay:
    """A notebook output area that shows the current report during `fit`.

    Create it before training starts (in `on_train_begin`), so the area sits
    above Keras's progress bar and never interleaves with it; then call
    `update(report)` at each epoch end. Errors while rendering are turned
    into one warning and the display stops updating: it never breaks the
    training.

    Args:
        handle: `IPython.display.DisplayHandle`. The output area to update.
        show_plot: bool. Show a small plot next to the findings. Defaults
            to `True`.

    Example:

    ```python
    live = LiveDisplay.create()  # None outside a notebook.
    if live is not None:
        live.update(report)
    ```
    """

    def __init__(self, handle, show_plot=True):
        self._handle = handle
        self.show_plot = bool(show_plot)
        self._last_update = None
        self._pending = None
        self._failed = False
        self.updates = 0

    @classmethod
    def create(cls, show_plot=True):
        """Opens the output area in the current notebook cell.

        Args:
            show_plot: bool. Show a small plot. Defaults to `True`.

        Returns:
            `LiveDisplay`, or None when not running in an IPython kernel
            (or when IPython is not installed).
        """
        try:
            from IPython import get_ipython
            from IPython.display import HTML
            from IPython.display import display
        except ImportError:
            return None
        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:
            return None
        try:
            handle = display(HTML(_PLACEHOLDER), display_id=True)
        except Exception:  # A front end without display ids: stay silent.
            return None
        if handle is None:
            return None
        return cls(handle, show_plot=show_plot)

    def update(self, report, force=False):
        """Shows `report` in the output area, replacing what was there.

        Redraws at most every `LIVE_MIN_INTERVAL_S` seconds; a skipped
        report is kept and shown by the next `update` or by `flush`.

        Args:
            report: `Report`. The current report.
            force: bool. Redraw now whatever the interval. Defaults to
                `False`.

        Returns:
            bool. True if the area was redrawn.
        """
        if self._failed:
            return False
        now = time.monotonic()
        if (not force and self._last_update is not None
                and now - self._last_update < LIVE_MIN_INTERVAL_S):
            self._pending = report
            return False
        self._pending = None
        try:
            from IPython.display import HTML

            self._handle.update(HTML(self.render(report)))
        except Exception as exc:  # Never break the user's training.
            self._failed = True
            warnings.warn(
                f"Curvewatch stopped updating its notebook display: {exc!r}",
                RuntimeWarning,
                stacklevel=2,
            )
            return False
        self._last_update = time.monotonic()
        self.updates += 1
        return True

    def flush(self):
        """Shows the last report that `update` skipped, if any.

        Returns:
            bool. True if the area was redrawn.
        """
        if self._pending is None:
            return False
        return self.update(self._pending, force=True)

    def render(self, report):
        """Returns the live HTML: a small plot and one line per finding.

        Args:
            report: `Report`. The report to show.

        Returns:
            str. An HTML fragment.
        """
        epochs = f"epoch {report.n_epochs}" if report.n_epochs else "live"
        lines = render_html(report, title=f"Curvewatch · {epochs}",
                            compact=True)
        plot = _small_plot(report) if self.show_plot else ""
        if plot:
            plot = (f'<div style="flex:0 1 {LIVE_PLOT_WIDTH_PX}px;">'
                    f"{plot}</div>")
        return (
            '<div class="curvewatch-live" style="color:inherit;display:flex;'
            'flex-wrap:wrap;gap:12px;align-items:flex-start;">'
            f'{plot}<div style="flex:1 1 360px;min-width:0;">{lines}</div>'
            "</div>"
        )


def _small_plot(report):
    """The main panel of `plot_report` as an inline <img>, or ''."""
    if not report.series:
        return ""
    try:
        from keras_curvewatch.errors import require_extra
        from keras_curvewatch.render.plot import plot_report

        figure_module = require_extra("matplotlib.figure", "plot")
    except MissingExtraError:
        return ""
    import io

    # A bare Figure is not registered with pyplot, so the notebook does not
    # show it a second time when the cell ends.
    figure = figure_module.Figure(figsize=LIVE_FIGSIZE)
    axes = figure.add_subplot()
    plot_report(report, ax=axes)
    axes.set_title("", loc="left")  # The HTML heading says it already.
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=LIVE_DPI, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<img alt="{html.escape("curvewatch live plot")}" '
        f'src="data:image/png;base64,{data}" '
        'style="max-width:100%;height:auto;background:#fff;'
        'border-radius:4px;">'
    )
