"""Regenerates the README images in docs/ from a real training run.

Trains the forum-style LSTM (98 noisy sequences, `batch_size=4`,
`validation_split=0.2`) on CPU, analyses its History, then writes:

- `docs/overfitting_lstm.png`: `report.plot()`;
- `docs/report_card.png`: the HTML cards rendered by headless Chromium,
  on a light and a dark background side by side.

Run from the repository root: `python docs/make_images.py` (about 30 s).
Needs keras, matplotlib and Debian's `chromium`.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

EPOCHS = 60
N_SAMPLES, N_STEPS, BATCH_SIZE = 98, 20, 4
CARD_WIDTH_PX = 880
# Colours kept in the screenshot: text on flat tints shows no banding at
# 128, and the file is a third of the full-colour one.
SCREENSHOT_COLOURS = 128
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking",
                  "--disable-component-update", "--no-first-run",
                  "--hide-scrollbars")
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body style="margin:0;display:flex;">
<div style="background:#ffffff;color:#1f2328;padding:12px;width:{w}px;">{card}</div>
<div style="background:#1e1e1e;color:#d4d4d4;padding:12px;width:{w}px;">{card}</div>
<script>window.addEventListener('load', function () {{
document.body.setAttribute('data-height', document.body.scrollHeight);}});
</script></body></html>"""


def train_and_analyze():
    import keras
    import numpy as np

    import keras_curvewatch as kcw

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_SAMPLES, N_STEPS, 1)).astype("float32")
    y = (x[:, :5, 0].sum(axis=1) > 0).astype("float32")
    flip = rng.random(N_SAMPLES) < 0.15
    y[flip] = 1 - y[flip]
    model = keras.Sequential([
        keras.Input(shape=(N_STEPS, 1)),
        keras.layers.LSTM(64),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    batch_losses = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_losses.append(
            float(logs["loss"])))
    history = model.fit(x, y, validation_split=0.2, batch_size=BATCH_SIZE,
                        epochs=EPOCHS, verbose=0, callbacks=[record])
    n_train = int(N_SAMPLES * 0.8)
    report = kcw.analyze(
        history, batch_size=BATCH_SIZE, n_train=n_train,
        n_val=N_SAMPLES - n_train, model=model, batch_losses=batch_losses,
        steps_per_epoch=-(-n_train // BATCH_SIZE),
    )
    report.source = "LSTM, 98 sequences, batch_size=4"
    return report


def chromium(*args):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout


def screenshot_cards(report, path):
    from keras_curvewatch.render.html import render_html

    with tempfile.TemporaryDirectory() as tmp:
        page = pathlib.Path(tmp) / "cards.html"
        page.write_text(PAGE.format(w=CARD_WIDTH_PX, card=render_html(report)),
                        encoding="utf-8")
        width = 2 * (CARD_WIDTH_PX + 24)
        dom = chromium("--dump-dom", f"--window-size={width},800",
                       page.as_uri())
        height = int(re.search(r'data-height="(\d+)"', dom).group(1))
        chromium(f"--window-size={width},{height}", f"--screenshot={path}",
                 page.as_uri())
    from PIL import Image  # Pillow comes with matplotlib.

    image = Image.open(path).convert("RGB")
    image.quantize(colors=SCREENSHOT_COLOURS).save(path, optimize=True)


def main():
    from keras_curvewatch.render.plot import write_plot

    report = train_and_analyze()
    print("findings:", report.codes)
    write_plot(report, DOCS / "overfitting_lstm.png")
    screenshot_cards(report, DOCS / "report_card.png")
    print("wrote", DOCS / "overfitting_lstm.png", DOCS / "report_card.png")


if __name__ == "__main__":
    main()
