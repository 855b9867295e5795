"""Renders the standalone HTML report in real headless Chromium.

Skipped when no Chromium binary is installed (Debian: `apt-get install -y
chromium`).
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

import report_samples as samples
from keras_curvewatch.render.standalone import write_html

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Cold start of headless Chromium on a loaded 2-core machine takes 2-10 s.
CHROMIUM_TIMEOUT_S = 120
# Chromium flags for a machine without network, display or GPU.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--virtual-time-budget=5000",
)
# Written into the page for the test only: proves the embedded PNG decodes.
PROBE = (
    "<script>window.addEventListener('load', function () {"
    "var img = document.querySelector('img.curvewatch-plot');"
    "document.body.setAttribute('data-img-size', img.naturalWidth + 'x' "
    "+ img.naturalHeight);});</script>"
)


def _chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(*args):
    """Runs headless Chromium with a fresh profile; returns stdout."""
    binary = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


pytestmark = pytest.mark.skipif(_chromium() is None,
                                reason="no chromium binary found")


def _probed_page(tmp_path, report):
    path = tmp_path / "report.html"
    write_html(report, path)
    page = path.read_text(encoding="utf-8")
    path.write_text(page.replace("</body>", PROBE + "</body>"),
                    encoding="utf-8")
    return path


def test_chromium_renders_codes_and_plot(tmp_path):
    report = samples.handmade_report()
    path = _probed_page(tmp_path, report)
    dom = run_chromium("--dump-dom", path.as_uri())
    for code in report.codes:
        assert f'data-code="{code}"' in dom
    assert re.search(r'<img class="curvewatch-plot"[^>]+src="data:image/png;'
                     r"base64,", dom)
    size = re.search(r'data-img-size="(\d+)x(\d+)"', dom)
    assert size is not None, "the load probe did not run"
    width, height = int(size.group(1)), int(size.group(2))
    assert width > 500 and height > 300  # the PNG decoded to a real image


def test_chromium_screenshot_is_not_blank(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    path = _probed_page(tmp_path, samples.handmade_report())
    shot = tmp_path / "shot.png"
    run_chromium("--hide-scrollbars", "--window-size=1000,700",
                 f"--screenshot={shot}", path.as_uri())
    pixels = matplotlib_image.imread(os.fspath(shot))
    assert pixels.shape[:2] == (700, 1000)
    # The red critical badge and card border are on screen.
    red = ((pixels[..., 0] > 0.8) & (pixels[..., 1] < 0.3)
           & (pixels[..., 2] < 0.3))
    assert red.sum() > 200
