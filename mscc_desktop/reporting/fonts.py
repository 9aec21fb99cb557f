"""One embedded TrueType font family for every export (PDF text and burned-in PNG text).

Patient names come in every script a hospital sees. The PDF base-14 fonts only cover
Latin-1 and draw black boxes for "Łukasz"; a wrong-looking name on a report is a patient
safety problem. So reports embed a TrueType font, chosen once per process:

1. ``resources/fonts/ReportSans.ttf`` (+ ``ReportSans-Bold.ttf``) when a build bundles one;
2. DejaVu Sans, installed on most Linux desktops (Latin, Greek, Cyrillic and more);
3. Arial / Segoe UI on Windows, Arial Unicode on macOS;
4. Bitstream Vera, which ships inside reportlab itself, so there is always a font.

:func:`missing_glyphs` tells the report which characters the chosen font cannot draw, so it
can say so instead of silently showing an incomplete name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import reportlab
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from mscc_desktop.core.config import resources_dir

REGULAR = "MsccSans"
BOLD = "MsccSans-Bold"


@dataclass(frozen=True, slots=True)
class FontFiles:
    """The regular and bold TrueType files of the report font."""

    regular: Path
    bold: Path
    name: str  # family name shown in the report's method section


def _candidates() -> list[FontFiles]:
    bundled = resources_dir() / "fonts"
    windows = Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"
    vera = Path(reportlab.__file__).parent / "fonts"
    return [
        FontFiles(bundled / "ReportSans.ttf", bundled / "ReportSans-Bold.ttf", "bundled"),
        FontFiles(
            Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
            Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
            "DejaVu Sans",
        ),
        FontFiles(
            Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
            Path("/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
            "DejaVu Sans",
        ),
        FontFiles(windows / "segoeui.ttf", windows / "segoeuib.ttf", "Segoe UI"),
        FontFiles(windows / "arial.ttf", windows / "arialbd.ttf", "Arial"),
        FontFiles(
            Path("/System/Library/Fonts/Supplemental/Arial Unicode.ttf"),
            Path("/System/Library/Fonts/Supplemental/Arial Bold.ttf"),
            "Arial Unicode",
        ),
        FontFiles(vera / "Vera.ttf", vera / "VeraBd.ttf", "Bitstream Vera"),
    ]


@lru_cache(maxsize=1)
def font_files() -> FontFiles:
    """The first complete font family found (see the module docstring)."""
    for candidate in _candidates():
        if candidate.regular.is_file() and candidate.bold.is_file():
            return candidate
    raise RuntimeError("reportlab's bundled Vera fonts are missing: reinstall reportlab")


@lru_cache(maxsize=1)
def register_pdf_fonts() -> str:
    """Register :data:`REGULAR` and :data:`BOLD` with reportlab (once) and return the family.

    ``<b>`` in paragraphs maps to the bold face.
    """
    files = font_files()
    pdfmetrics.registerFont(TTFont(REGULAR, str(files.regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(files.bold)))
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    return REGULAR


def missing_glyphs(text: str) -> str:
    """Characters of ``text`` the report font cannot draw (empty when it draws them all)."""
    register_pdf_fonts()
    font = pdfmetrics.getFont(REGULAR)
    covered = font.face.charToGlyph  # type: ignore[attr-defined]
    missing = {ch for ch in text if not ch.isspace() and ord(ch) not in covered}
    return "".join(sorted(missing))


__all__ = ["BOLD", "REGULAR", "FontFiles", "font_files", "missing_glyphs", "register_pdf_fonts"]
