"""Fixtures: analysed studies (written, loaded, analysed, stored) and PDF reading helpers."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from mscc_desktop.reporting import ReportInputs
from mscc_desktop.workflow.report_inputs import load_report_inputs
from tests.reporting.study import AnalysedStudy, analysed_study, review


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> AnalysedStudy:
    """Three findings (high, low, high→regraded low), levels, a key image, signed off."""
    study = analysed_study(tmp_path_factory.mktemp("reviewed"))
    review(study, sign_off=True)
    return study


@pytest.fixture(scope="module")
def unreviewed(tmp_path_factory: pytest.TempPathFactory) -> AnalysedStudy:
    """The same study as the model left it: no review at all."""
    return analysed_study(tmp_path_factory.mktemp("unreviewed"))


@pytest.fixture
def reviewed_inputs(reviewed: AnalysedStudy) -> ReportInputs:
    return load_report_inputs(reviewed.db, reviewed.volume, series_id=reviewed.series.id)


@pytest.fixture
def unreviewed_inputs(unreviewed: AnalysedStudy) -> ReportInputs:
    return load_report_inputs(unreviewed.db, unreviewed.volume, series_id=unreviewed.series.id)


def pdf_pages_text(path: Path) -> list[str]:
    """The text of every page, as pypdfium2 extracts it."""
    pdf = pdfium.PdfDocument(path.read_bytes())
    try:
        return [page.get_textpage().get_text_range() for page in pdf]
    finally:
        pdf.close()


def pdf_all_bytes(path: Path) -> bytes:
    """The file's bytes plus every stream decompressed (Flate), for byte-level searches."""
    data = path.read_bytes()
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove nothing changed)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
