"""Every DICOM export passes dciodvfy (dicom3tools) with no error, and opens in pydicom and
highdicom.

Each case writes the whole DICOM export of an analysed phantom study (Secondary Capture key
images, Key Object Selection, Comprehensive SR, Encapsulated PDF) and runs ``dciodvfy`` on
every file. Errors fail the test; so do warnings other than the ones below, which are
expected and explained.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import pydicom
import pypdfium2 as pdfium
import pytest

from mscc_desktop.reporting import ReportInputs, export_dicom
from mscc_desktop.workflow.report_inputs import load_report_inputs
from tests.reporting.study import AnalysedStudy, analysed_study

DCIODVFY = shutil.which("dciodvfy")
pytestmark = pytest.mark.skipif(
    DCIODVFY is None,
    reason="dciodvfy is not on PATH (Debian/Ubuntu: apt-get install dicom3tools)",
)

SC = "1.2.840.10008.5.1.4.1.1.7"
KOS = "1.2.840.10008.5.1.4.1.1.88.59"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"

EXPECTED_WARNINGS = (
    # The SR's private codes (Bilsky grade groups, reader decisions: no standard code
    # exists). dciodvfy only knows its built-in list of designators; declaring 99MSCC in
    # the Coding Scheme Identification Sequence does not silence it (it warns there too).
    "Warning - Unrecognized defined term <99MSCC> for value 1 of attribute "
    "<Coding Scheme Designator>",
    # De-identified exports empty Study Date, Study Time and Study ID (PS3.15 action Z)
    # rather than invent a study date a PACS would show as real.
    "Warning - Missing attribute or value that would be needed to build DICOMDIR - Study Date",
    "Warning - Missing attribute or value that would be needed to build DICOMDIR - Study Time",
    "Warning - Missing attribute or value that would be needed to build DICOMDIR - Study ID",
)


def dciodvfy(path: Path) -> str:
    """dciodvfy's report on ``path`` (it writes to stderr; values may be in any charset)."""
    assert DCIODVFY is not None
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, timeout=120, check=False)
    return (run.stdout + run.stderr).decode("utf-8", "replace")


def _non_latin(inputs: ReportInputs) -> ReportInputs:
    info = replace(
        inputs.volume.info,
        patient_name="Zielińska^Anna=ジェリンスカ^アンナ",
        institution_name="Szpital Świętej Łucji",
        referring_physician="Żółć^Grzegorz",
    )
    sign_off = replace(inputs.sign_off, by="Dr Łukasz Wróbel")
    return replace(inputs, volume=replace(inputs.volume, info=info), sign_off=sign_off)


def _inputs(study: AnalysedStudy) -> ReportInputs:
    return load_report_inputs(study.db, study.volume, series_id=study.series.id)


CASES: dict[str, tuple[str, bool, Callable[[ReportInputs], ReportInputs]]] = {
    # case: (study fixture, de-identify, change to the inputs)
    "signed-off": ("reviewed", False, lambda i: i),
    "signed-off-deidentified": ("reviewed", True, lambda i: i),
    "unreviewed": ("unreviewed", False, lambda i: i),
    "unreviewed-deidentified": ("unreviewed", True, lambda i: i),
    "non-latin-names": ("reviewed", False, _non_latin),
    "non-latin-names-deidentified": ("reviewed", True, _non_latin),
}


@pytest.fixture(scope="module")
def no_findings(tmp_path_factory: pytest.TempPathFactory) -> AnalysedStudy:
    """A study with nothing found: no key images, so no SC and no KOS."""
    return analysed_study(tmp_path_factory.mktemp("clear"), n_slices=12, lesions=())


def _check_file(path: Path) -> tuple[str, list[str]]:
    """The SOP Class of ``path`` and what is wrong with it (dciodvfy and reading back)."""
    report = dciodvfy(path)
    lines = report.splitlines()
    problems = [line for line in lines if line.startswith("Error")]
    problems += [
        line for line in lines if line.startswith("Warning") and line not in EXPECTED_WARNINGS
    ]
    if problems:
        return "", [f"{path.name}: dciodvfy says\n{report}"]
    ds = pydicom.dcmread(path)
    sop_class = str(ds.SOPClassUID)
    if sop_class == SC:
        image = hd.Image.from_dataset(ds)
        assert image.pixel_array.shape[-1] == 3
    elif sop_class == KOS:
        hd.ko.KeyObjectSelectionDocument.from_dataset(ds)
    elif sop_class == COMPREHENSIVE_SR:
        assert hd.sr.srread(path).content.get_observer_contexts()
    elif sop_class == ENCAPSULATED_PDF:
        document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
        pdf = pdfium.PdfDocument(document)
        try:
            assert len(pdf) >= 1
        finally:
            pdf.close()
    return sop_class, []


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_export_passes_dciodvfy(
    case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fixture, deidentify, change = CASES[case]
    inputs = change(_inputs(request.getfixturevalue(fixture)))
    result = export_dicom(inputs, tmp_path, deidentify=deidentify)
    kinds: dict[str, int] = {}
    problems: list[str] = []
    for path in result.files:
        sop_class, found = _check_file(path)
        kinds[sop_class] = kinds.get(sop_class, 0) + 1
        problems += found
    assert not problems, "\n\n".join(problems)
    assert set(kinds) == {SC, KOS, COMPREHENSIVE_SR, ENCAPSULATED_PDF}


@pytest.mark.parametrize("deidentify", [False, True], ids=["plain", "deidentified"])
def test_a_study_with_nothing_found_passes_dciodvfy(
    no_findings: AnalysedStudy, tmp_path: Path, deidentify: bool
) -> None:
    result = export_dicom(_inputs(no_findings), tmp_path, deidentify=deidentify)
    kinds: list[str] = []
    problems: list[str] = []
    for path in result.files:
        sop_class, found = _check_file(path)
        kinds.append(sop_class)
        problems += found
    assert not problems, "\n\n".join(problems)
    assert sorted(kinds) == sorted([COMPREHENSIVE_SR, ENCAPSULATED_PDF])


def test_the_check_catches_what_dciodvfy_reports(reviewed: AnalysedStudy, tmp_path: Path) -> None:
    """The test above can fail: the old middle dot without a character set is an error."""
    result = export_dicom(_inputs(reviewed), tmp_path)
    path = next(p for p in result.files if p.name.startswith("SC"))
    ds = pydicom.dcmread(path)
    ds.ImageComments = "High grade \u00b7 P(high) 0.99"
    ds.save_as(path)
    _, problems = _check_file(path)
    assert problems and "Image Comments" in problems[0]
