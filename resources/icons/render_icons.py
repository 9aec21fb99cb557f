"""Render the application icon from ``mscc-desktop.svg`` into PNG, ICO and ICNS files.

Run after editing the SVG (the outputs are committed so that a build needs no renderer)::

    QT_QPA_PLATFORM=offscreen python resources/icons/render_icons.py

Writes ``png/<n>x<n>/mscc-desktop.png`` (the freedesktop hicolor sizes the Linux bundle
installs), ``mscc-desktop.ico`` (Windows: exe, Start menu, DICOMDIR association) and
``mscc-desktop.icns`` (macOS ``.app``). Qt's SVG renderer draws each size directly from the
vector, so small sizes stay crisp instead of being downscaled from 512 px.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "mscc-desktop.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(size: int, target: Path) -> None:
    """Draw the SVG at ``size`` x ``size`` pixels into ``target`` (transparent background)."""
    from PySide6 import QtCore, QtGui, QtSvg

    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    QtSvg.QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target), "PNG"):
        raise OSError(f"could not write {target}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6 import QtGui

    _app = QtGui.QGuiApplication(sys.argv[:1])
    pngs: dict[int, Path] = {}
    for size in PNG_SIZES:
        pngs[size] = HERE / "png" / f"{size}x{size}" / "mscc-desktop.png"
        render_png(size, pngs[size])
    largest = Image.open(pngs[256])
    extra = [Image.open(pngs[s]) for s in ICO_SIZES if s != 256]
    largest.save(HERE / "mscc-desktop.ico", sizes=[(s, s) for s in ICO_SIZES], append_images=extra)
    # macOS wants a 1024 px representation (512@2x); render it rather than upscale.
    with tempfile.TemporaryDirectory() as scratch:
        big = Path(scratch) / "1024.png"
        render_png(1024, big)
        Image.open(big).save(HERE / "mscc-desktop.icns")
    print(f"wrote {len(pngs)} PNG sizes, mscc-desktop.ico and mscc-desktop.icns in {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
