"""The reader's confirmed vertebral numbering in the report: findings table, key images, SR,
and the spine overview on page 1 (rendered and looked at, not only searched)."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from pydicom.sr.codedict import codes

from mscc_desktop import storage
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS
from mscc_desktop.reporting import export_dicom, export_pdf, report_content
from mscc_desktop.reporting.deid import export_identity
from mscc_desktop.reporting.palette import GROUP_COLOURS, rgb
from mscc_desktop.reporting.pdf.pdf_spine import spine_reformat
from mscc_desktop.workflow.report_inputs import load_report_inputs
from tests.reporting.conftest import pdf_pages_text
from tests.reporting.study import AnalysedStudy, analysed_study


def proposal(n_slices: int) -> list[str | None]:
    """T4 on slices 0-3, T5 on 4-7, ... (a 20 mm level over 5 mm slices)."""
    return [VERTEBRAL_LEVELS[10 + k // 4] if k // 4 < 14 else None for k in range(n_slices)]


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory: pytest.TempPathFactory) -> AnalysedStudy:
    """Finding 1 has a level typed by the reader; the numbering is confirmed shifted by +1."""
    study = analysed_study(tmp_path_factory.mktemp("levels"))
    storage.save_review(
        study.db,
        study.analysis_id,
        1,
        decision=storage.ReviewDecision.ACCEPT,
        vertebral_level="T7",
        user="Dr Reader",
    )
    storage.save_level_numbering(
        study.db,
        study.analysis_id,
        proposal(study.volume.n_slices),
        shift=1,
        reason="Counted 12 rib pairs",
        user="Dr Reader",
    )
    return study


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_findings_without_a_typed_level_take_the_confirmed_numbering(
    confirmed: AnalysedStudy,
) -> None:
    inputs = load_report_inputs(confirmed.db, confirmed.volume, series_id=confirmed.series.id)
    assert inputs.levels is not None and inputs.levels.shift == 1
    rows = report_content(inputs, export_identity(inputs.volume.info, deidentify=False)).rows
    by_number = {row.lesion.number: row for row in rows}
    # Typed by the reader: kept, whatever the numbering says.
    assert by_number[1].level == "T7" and not by_number[1].level_from_numbering
    # Lesion 2 is slices 22-23 (proposed T9, shifted to T10), lesion 3 slices 30-32 (T11 to
    # T12 proposed, T12-L1 confirmed).
    assert by_number[2].level == "T10" and by_number[2].level_from_numbering
    assert by_number[3].level == "T12-L1"


def test_an_unconfirmed_proposal_is_never_reported(tmp_path: Path) -> None:
    study = analysed_study(tmp_path)
    inputs = load_report_inputs(study.db, study.volume, series_id=study.series.id)
    assert inputs.levels is None
    rows = report_content(inputs, export_identity(inputs.volume.info, deidentify=False)).rows
    assert all(row.level == "" for row in rows)
    text = _flat(pdf_pages_text(export_pdf(inputs, tmp_path / "pdf").path)[0])
    assert "Vertebral levels: not confirmed by the reader" in text


def test_pdf_names_the_confirmed_levels_and_draws_the_spine_on_page_one(
    confirmed: AnalysedStudy, tmp_path: Path
) -> None:
    inputs = load_report_inputs(confirmed.db, confirmed.volume, series_id=confirmed.series.id)
    result = export_pdf(inputs, tmp_path / "pdf")
    pages = [_flat(p) for p in pdf_pages_text(result.path)]
    first = pages[0]
    table = first.split("Findings")[1]
    assert "2 T10 · slices 23–24" in table and "3 T12-L1 · slices 31–33" in table
    assert "The spine" in first and "Vertebral levels T5-L2" in first
    assert "shifted 1 level down (towards the feet), confirmed by Dr Reader" in first
    # Key images name their level.
    assert "Finding 3 · T12-L1" in " ".join(pages)
    # The overview is a picture on page 1, taller than wide (the spine, head to feet), with
    # the high-grade findings' outlines in vermillion on it.
    pdf = pdfium.PdfDocument(result.path.read_bytes())
    try:
        page = pdf[0]
        images = [
            obj.get_bounds() for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])
        ]
        scale = 2.0
        pixels = np.asarray(page.render(scale=scale).to_pil().convert("RGB"))
    finally:
        pdf.close()
    assert len(images) == 1
    left, bottom, right, top = images[0]
    assert top - bottom > 1.3 * (right - left)
    height = pixels.shape[0]
    inside = pixels[
        round(height - top * scale) : round(height - bottom * scale),
        round(left * scale) : round(right * scale),
    ].astype(int)
    vermillion = np.array(rgb(GROUP_COLOURS[GradeGroup.HIGH]))
    assert (np.abs(inside - vermillion).sum(axis=2) < 60).sum() > 100
    view, line = spine_reformat(inputs)
    assert line is not None and view.curved


def test_de_identified_pdf_hides_who_confirmed_the_levels(
    confirmed: AnalysedStudy, tmp_path: Path
) -> None:
    inputs = load_report_inputs(confirmed.db, confirmed.volume, series_id=confirmed.series.id)
    result = export_pdf(inputs, tmp_path / "pdf", deidentify=True)
    first = _flat(pdf_pages_text(result.path)[0])
    assert "Vertebral levels T5-L2" in first and "Dr Reader" not in first


def test_sr_codes_the_confirmed_levels_as_finding_sites(
    confirmed: AnalysedStudy, tmp_path: Path
) -> None:
    inputs = load_report_inputs(confirmed.db, confirmed.volume, series_id=confirmed.series.id)
    path = next(p for p in export_dicom(inputs, tmp_path).files if p.name.startswith("SR"))
    groups = hd.sr.srread(path).content.get_planar_roi_measurement_groups()
    sites = [[s.value for s in g.finding_sites] for g in groups]
    assert sites[0] == [codes.SCT.T7Vertebra]
    assert sites[1] == [codes.SCT.T10Vertebra]
    assert sites[2] == [codes.SCT.T12Vertebra, codes.SCT.L1Vertebra]
