"""The PDF summary read back: required fields, findings table, key-image pages, paper sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.reporting import Paper, ReportInputs, export_pdf, report_content
from mscc_desktop.reporting.deid import export_identity
from mscc_desktop.reporting.palette import GROUP_COLOURS, rgb
from tests.reporting.conftest import pdf_pages_text
from tests.reporting.study import AnalysedStudy, Lesion, analysed_study


def _flat(text: str) -> str:
    """Extracted text with line breaks as spaces (table cells wrap)."""
    return " ".join(text.split())


def test_pdf_holds_identity_result_and_findings(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    result = export_pdf(reviewed_inputs, tmp_path / "out")
    pages = pdf_pages_text(result.path)
    first = _flat(pages[0])
    for expected in (
        "Zielinska, Anna Maria",
        "PID-884213",
        "1952-09-14",
        "female",
        "2024-01-17",
        "ACC-5590217",
        "CT CHEST ABDOMEN PELVIS STAGING",
        "St Elsewhere General Hospital",
        "Report created",
        "Reviewed by Dr Reader",
        "Review status Signed off",
        "Verified by a radiologist",
    ):
        assert expected in first, expected
    # The verdict is the reader's: finding 3 was regraded to low, finding 1 stays high.
    assert "High-grade MSCC suspected" in first
    assert "8 high-grade slices on the AI read" in first
    assert "high grade at T7" in first
    assert "L2-L3" not in first.split("high grade at")[1].split("Verified")[0]
    # Findings table: level, grade, the probability its call rests on beside the cut-off of
    # that call (P(high) for high grade, P(low or high) for low grade), slices, decision,
    # comment per finding; a legend says what the two numbers are.
    table = first.split("Findings")[1]
    assert "1 T7 · slices 10–14 z +55.0 to +35.0 mm" in table
    assert (
        "High grade Bilsky 1c/2/3 0.90 cut-off 0.50 5 Accepted (Dr Reader) Cord flattened; "
        "CSF effaced." in table
    )
    assert "2 T12 · slices 23–24" in table
    assert "Low grade Bilsky 1a/1b 0.82 cut-off 0.50 2 Accepted" in table
    assert "The cut-off beside it is the value from which the model calls that grade" in table
    assert (
        "3 L2-L3" in table
        and "Regraded to low grade (Dr Reader) Thecal sac deformed only." in table
    )
    assert result.pages == len(pages) >= 2


def test_every_page_has_identifier_and_page_n_of_m(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    pages = pdf_pages_text(export_pdf(reviewed_inputs, tmp_path).path)
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in text
        assert "Zielinska, Anna Maria · ID PID-884213" in text
        assert "High-grade MSCC suspected" in text  # the answer is on every page


def test_method_provenance_intended_use_and_bilsky_scale(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    text = _flat(" ".join(pdf_pages_text(export_pdf(reviewed_inputs, tmp_path).path)))
    prov = reviewed_inputs.result.provenance
    for expected in (
        "Bone W 1500 / L 300, Abdomen W 400 / L 50, Spine W 200 / L 100",
        f"{prov.model_id} version {prov.model_version}",
        prov.model_sha256,
        "onnxruntime 1.31.1 · CPU · 2 threads",
        f"mscc-desktop {reviewed_inputs.software_version}",
        "Not for clinical use: the model has never seen a real patient with epidural disease",
        "Bilsky 1c High grade Thecal sac deformed, cord abutted but not compressed",
        "Bilsky 3 High grade Cord compressed, no CSF visible around the cord",
    ):
        assert expected in text, expected
    # The pipeline's input checks travel into the report (coverage warning on 40 slices).
    assert reviewed_inputs.notices
    assert _flat(reviewed_inputs.notices[0].message) in text


def test_unreviewed_result_is_marked_as_ai_only(
    unreviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    first = _flat(pdf_pages_text(export_pdf(unreviewed_inputs, tmp_path).path)[0])
    assert "AI RESULT, NOT VERIFIED BY A RADIOLOGIST" in first
    assert "Review status Not reviewed" in first
    assert "Reviewed by Nobody yet" in first
    assert "high grade at slices 10–14" in first  # no level entered: slices and z instead
    assert "Not reviewed" in first.split("Findings")[1]


def test_signed_off_regrade_changes_the_verdict(tmp_path: Path) -> None:
    from mscc_desktop import storage

    study = analysed_study(tmp_path, lesions=(Lesion(9, 12, GradeGroup.HIGH),), n_slices=24)
    storage.save_review(
        study.db,
        study.analysis_id,
        1,
        decision=storage.ReviewDecision.REGRADE,
        regraded_group=GradeGroup.LOW,
        user="Dr Second",
    )
    storage.set_study_review_status(
        study.db, study.series.study_id, storage.ReviewStatus.REVIEWED, user="Dr Second"
    )
    from mscc_desktop.workflow.report_inputs import load_report_inputs

    inputs = load_report_inputs(study.db, study.volume, series_id=study.series.id)
    first = _flat(pdf_pages_text(export_pdf(inputs, tmp_path / "out").path)[0])
    assert "Low-grade epidural disease only" in first
    assert "The AI result was: High-grade MSCC suspected." in first
    assert "Signed off by Dr Second" in first


def test_no_finding_study_says_so(tmp_path: Path) -> None:
    from mscc_desktop.workflow.report_inputs import load_report_inputs

    study: AnalysedStudy = analysed_study(tmp_path, lesions=(), n_slices=16)
    inputs = load_report_inputs(study.db, study.volume, series_id=study.series.id)
    text = _flat(" ".join(pdf_pages_text(export_pdf(inputs, tmp_path / "out").path)))
    assert "No MSCC detected" in text
    assert "No finding: no slice reached the low- or high-grade threshold." in text
    assert "no high-grade slice" in text


def _images(page: pdfium.PdfPage) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
    """Bounds (points) and embedded pixels of every image on a page."""
    found = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        pixels = np.asarray(obj.get_bitmap().to_numpy(), dtype=np.float64)
        found.append((obj.get_bounds(), pixels))
    return found


def test_key_image_pages_show_the_images(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    path = export_pdf(reviewed_inputs, tmp_path).path
    identity = export_identity(reviewed_inputs.volume.info, deidentify=False)
    views = report_content(reviewed_inputs, identity).key_views
    pdf = pdfium.PdfDocument(path.read_bytes())
    scale = 2.0
    vermillion = np.array(rgb(GROUP_COLOURS[GradeGroup.HIGH]))
    n_images = 0
    found_high_box = False
    for number, page in enumerate(pdf):
        images = _images(page)
        if number == 0:
            images = images[1:]  # the first image on page 1 is the spine overview
        if not images:
            continue
        text = page.get_textpage().get_text_range()
        assert "Bone" in text and "Abdomen" in text and "Spine" in text
        pixels = np.asarray(page.render(scale=scale).to_pil().convert("RGB"), dtype=np.float64)
        height = pixels.shape[0]
        for (left, bottom, right, top), embedded in images:
            assert embedded.std() > 20.0  # CT anatomy in the file, not a blank image
            region = pixels[
                int(height - top * scale) : int(height - bottom * scale),
                int(left * scale) : int(right * scale),
            ]
            assert region.size and region.std() > 20.0  # and it is drawn on the page
            distance = np.abs(region - vermillion).sum(axis=2)
            found_high_box |= bool((distance < 40).sum() > 20)
        n_images += len(images)
    pdf.close()
    # Three zoomed windows and one whole-slice locator per key image.
    assert n_images == 4 * len(views) and len(views) == 4
    assert found_high_box  # the high-grade canal box is drawn in vermillion


def test_key_images_are_high_grade_first(reviewed_inputs: ReportInputs) -> None:
    identity = export_identity(reviewed_inputs.volume.info, deidentify=False)
    views = report_content(reviewed_inputs, identity).key_views
    assert views[0].group is GradeGroup.HIGH and views[0].lesion_number == 1
    assert [v.group for v in views] == sorted(
        (v.group for v in views),
        key=lambda g: {"high": 0, "low": 1, "normal": 2}[g.value if g else "normal"],
    )
    assert any(v.reader_marked and v.slice_index == 5 for v in views)


@pytest.mark.parametrize(
    ("paper", "size"), [(Paper.A4, (595.3, 841.9)), (Paper.LETTER, (612.0, 792.0))]
)
def test_paper_sizes(
    reviewed_inputs: ReportInputs, tmp_path: Path, paper: Paper, size: tuple[float, float]
) -> None:
    pdf = pdfium.PdfDocument(export_pdf(reviewed_inputs, tmp_path, paper=paper).path.read_bytes())
    for page in pdf:
        assert page.get_size() == pytest.approx(size, abs=0.5)
    pdf.close()


def test_non_latin_names_are_printed(tmp_path: Path) -> None:
    from dataclasses import replace

    from mscc_desktop.workflow.report_inputs import load_report_inputs
    from tests.reporting.study import PATIENT

    info = replace(PATIENT, patient_name="Żółć^Łukasz", patient_id="PL-1")
    study = analysed_study(tmp_path, info=info, n_slices=16, lesions=())
    inputs = load_report_inputs(study.db, study.volume, series_id=study.series.id)
    pages = pdf_pages_text(export_pdf(inputs, tmp_path / "out").path)
    assert "Żółć, Łukasz" in pages[0]


def test_the_model_s_limitations_calibration_and_cut_offs_are_stated(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    from dataclasses import replace

    from mscc_desktop.core.findings import Thresholds

    limits = (
        "On real CT it called 12 of 28 disease-free slices high grade (target: none).",
        "Canal found on 89 % of real slices (target 90 %).",
    )
    result = reviewed_inputs.result
    inputs = replace(
        reviewed_inputs,
        result=replace(
            result,
            provenance=replace(result.provenance, probability_temperature=1.6, limitations=limits),
        ),
    )
    text = _flat(" ".join(pdf_pages_text(export_pdf(inputs, tmp_path / "out").path)))
    method = text.split("Method and provenance")[1]
    model_row = method.split("Model SHA-256")[0]
    assert "Model limitations" in model_row  # right beside the model's identity
    for limit in limits:
        assert f"• {limit}" in model_row
    assert "calibrated on the model's calibration studies by temperature scaling (T = 1.60)" in (
        method
    )
    assert "called high grade from P(high) 0.50; low grade from P(low or high) 0.50" in method
    # Key-image captions: the grade with the probability its call rests on and the cut-off.
    assert "High grade · P(high) 0.90 (called high from 0.50)" in text
    # Without limitations or calibration the report says the probabilities are raw.
    plain = _flat(" ".join(pdf_pages_text(export_pdf(reviewed_inputs, tmp_path / "p").path)))
    assert "Model limitations" not in plain and "not calibrated" in plain
    # With the recipe's low cut-offs, the legend says why a called finding can be below 0.5.
    low_cut = replace(
        reviewed_inputs, result=replace(result, thresholds=Thresholds(high=0.08, any_mscc=0.4))
    )
    low_text = _flat(" ".join(pdf_pages_text(export_pdf(low_cut, tmp_path / "l").path)))
    assert "0.90 cut-off 0.08" in low_text
    assert "a finding can be called although its probability is below 0.5" in low_text
