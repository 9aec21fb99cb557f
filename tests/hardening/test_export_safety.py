"""Exports: no path traversal through DICOM-derived names; de-identified output leaks no PHI.

Extends tests/reporting (safe_filename under hypothesis, de-identification of the identity
fields): here the whole naming path (export stem → unique name → atomic write) runs on
hostile patient names, IDs, dates and series descriptions, a full export runs with the
nastiest of them, and de-identified PDF, PNG and DICOM exports are searched byte by byte for
values that only ever lived in the *source files* — private tags, free-text comments, other
staff names, addresses, other patient IDs — which the exports must never pick up.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from mscc_desktop import storage
from mscc_desktop.core.dicom import open_folder
from mscc_desktop.reporting import (
    ReportInputs,
    export_dicom,
    export_key_images,
    export_pdf,
)
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.safe_files import unique_path, write_bytes_atomic
from mscc_desktop.reporting.text import export_stem
from mscc_desktop.workflow.report_inputs import load_report_inputs
from tests.factories.dicom_factory import rewrite, write_series
from tests.reporting.conftest import pdf_all_bytes
from tests.reporting.study import PATIENT, analyse, spine_phantom
from tests.reporting.test_deid import _png_chunks

SEPARATORS = "/\\.:\x00\n\r\t~$%*?<>|\"' ^=-_"
hostile_text = st.one_of(
    st.sampled_from(
        ["../../etc/passwd", "..", ".", "/", "\\\\server\\share\\x", "C:\\Windows\\x", "CON",
         "nul.pdf", "a" * 400, "~/.ssh/id_rsa", "$HOME", "%APPDATA%", "\u202egnp.exe", ""]
    ),
    st.text(alphabet=st.sampled_from(SEPARATORS + "AbZ09éЖ名"), max_size=60),
    st.text(max_size=60),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    name=hostile_text,
    patient_id=hostile_text,
    study_date=hostile_text,
    description=hostile_text,
    number=st.one_of(st.none(), st.integers(-(10**12), 10**12)),
)
def test_dicom_derived_export_names_stay_in_the_export_folder(
    name: str, patient_id: str, study_date: str, description: str, number: int | None
) -> None:
    info = replace(
        PATIENT,
        patient_name=name,
        patient_id=patient_id,
        study_date=study_date,
        series_description=description,
        series_number=number,
    )
    stem = export_stem(ExportIdentity(info))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "exports"
        folder.mkdir()
        for suffix in (".pdf", "_key_images", "_DICOM", ".pdf"):  # twice: the _2 name too
            path = unique_path(folder, stem + suffix)
            assert path.parent == folder and path.resolve().parent == folder.resolve()
            write_bytes_atomic(path, b"x")
        written = sorted(p.relative_to(root) for p in root.rglob("*"))
        assert len(written) == 5 and all(p.parts[0] == "exports" for p in written)
        for entry in folder.iterdir():
            assert not entry.name.startswith(".") and entry.name.isprintable()
            assert not set(entry.name) & set("/\\:\x00\n\r"), entry.name


# ------------------------------------------------------------------ full exports, hostile
HOSTILE = replace(
    PATIENT,
    patient_name="../../../tmp/evil^..\\..\\boot",
    patient_id="../PID/..",
    study_date="../../",
    series_description="/etc/passwd",
)
# Values that exist only in the source files: none may reach a de-identified export.
SOURCE_ONLY = {
    "PatientComments": "Zielinska prefers Polish",
    "AdditionalPatientHistory": "Known breast cancer, Anna Zielinska",
    "ImageComments": "Scanned for Mrs Zielinska, ring 555-0199",
    "RequestingPhysician": "Requester^Rita",
    "PerformingPhysicianName": "Performer^Paul",
    "OperatorsName": "Operator^Olga",
    "OtherPatientIDs": "OTHER-77731",
    "PatientAddress": "12 Hospital Road, Gdansk",
    "InstitutionAddress": "1 Infirmary Square",
    "StationName": "CTSTATION7",
    "DeviceSerialNumber": "SN-99812",
    "RequestedProcedureDescription": "Staging for Anna Zielinska",
    "PatientMotherBirthName": "Kowalska",
}
PRIVATE_VALUES = ("Zielinska private tag", "PID-884213-private", "Private note Anna")


def _spoil(ds: Dataset) -> None:
    for keyword, value in SOURCE_ONLY.items():
        setattr(ds, keyword, value)
    block = ds.private_block(0x0009, "ACME SCANNER 1.0", create=True)
    block.add_new(0x01, "LO", PRIVATE_VALUES[0])
    block.add_new(0x02, "LO", PRIVATE_VALUES[1])
    block.add_new(0x03, "UT", PRIVATE_VALUES[2])


def _inputs(root: Path, info: object, *, spoil: bool) -> ReportInputs:
    phantom = spine_phantom(12, shape=(96, 96))
    made = write_series(
        root / "dicom",
        hu=phantom.hu,
        info=info,  # type: ignore[arg-type]
        spacing_mm=5.0,
        pixel_spacing_mm=(phantom.spacing_mm, phantom.spacing_mm),
        seed="export-safety",
    )
    if spoil:
        for path in made.paths:
            rewrite(path, _spoil)
    volume = open_folder(made.folder, workers=1).volume
    db = storage.open_memory_store()
    series = storage.register_volume(db, volume, user="tech")
    result = analyse(volume, phantom)
    analysis_id = storage.save_analysis(db, series, result, user="Dr Reader")
    assert result.findings is not None and result.findings.lesions == ()  # no lesions drawn
    storage.set_key_image(db, series.id, 4, sop_instance_uid=volume.sop_instance_uids[4])
    return load_report_inputs(db, volume, series_id=series.id, analysis_id=analysis_id)


def test_hostile_names_in_a_full_export_stay_inside_the_folder(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "src", HOSTILE, spoil=False)
    out = tmp_path / "out" / "exports"
    results = [
        export_pdf(inputs, out),
        export_key_images(inputs, out),
        export_dicom(inputs, out),
    ]
    everything = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    outside = [
        p for p in everything if out not in p.parents and (tmp_path / "src") not in p.parents
    ]
    assert outside == []
    for result in results:
        assert result.path.parent == out
        assert ".." not in result.path.name and "/" not in result.path.name
        assert result.path.name.startswith("MSCC_")


MALFORMED = {
    "year-only dates": {"study_date": "2024", "patient_birth_date": "1952"},
    "impossible date and time": {"study_date": "20240230", "study_time": "25:99"},
    "dashed date": {"study_date": "2024-01-17", "patient_birth_date": "17/01/1952"},
    "backslashes in values": {"patient_id": "A\\B", "referring_physician": "X\\Y"},
    "long values": {"accession_number": "A" * 40, "study_id": "S" * 30, "patient_id": "P" * 80},
    "odd sex and groups": {"patient_sex": "unknown", "patient_name": "Doe^John=ドウ^ジョン"},
}


@pytest.fixture(scope="module")
def malformed_source(tmp_path_factory: pytest.TempPathFactory) -> ReportInputs:
    return _inputs(tmp_path_factory.mktemp("malformed"), PATIENT, spoil=False)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_identity_values_do_not_break_exports(
    malformed_source: ReportInputs, tmp_path: Path, case: str
) -> None:
    """Real archives hold such values; the exports write what DICOM can hold, never crash."""
    volume = malformed_source.volume
    inputs = replace(
        malformed_source, volume=replace(volume, info=replace(volume.info, **MALFORMED[case]))
    )
    assert export_pdf(inputs, tmp_path).path.is_file()
    for path in export_dicom(inputs, tmp_path).files:
        pydicom.dcmread(path)


def _forbidden() -> list[str]:
    values = [*SOURCE_ONLY.values(), *PRIVATE_VALUES, "Zielinska", "Requester", "Performer"]
    values += ["Operator^Olga", "OTHER-77731", "ACME SCANNER"]
    return values


def _assert_clean(blob: bytes, where: str) -> None:
    lowered = blob.lower()
    for value in _forbidden():
        for encoding in ("utf-8", "utf-16-le", "utf-16-be", "latin-1"):
            needle = value.lower().encode(encoding, "ignore")
            assert needle not in lowered, f"{value!r} ({encoding}) found in {where}"


def _dicom_strings(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    found = [str(element.value) for element in ds.iterall() if element.VR != "SQ"]
    return "\n".join(found).encode("utf-8", "replace")


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory: pytest.TempPathFactory) -> ReportInputs:
    return _inputs(tmp_path_factory.mktemp("spoiled"), PATIENT, spoil=True)


def test_source_private_tags_and_free_text_never_reach_deidentified_exports(
    spoiled: ReportInputs, tmp_path: Path
) -> None:
    source = pydicom.dcmread(spoiled.volume.source_files[0])
    assert source[0x00091001].value == PRIVATE_VALUES[0]  # the source really holds them
    pdf = export_pdf(spoiled, tmp_path, deidentify=True).path
    _assert_clean(pdf_all_bytes(pdf), pdf.name)
    for png in export_key_images(spoiled, tmp_path, deidentify=True).files:
        _assert_clean(_png_chunks(png), png.name)
    dicom = export_dicom(spoiled, tmp_path, deidentify=True)
    assert dicom.files
    for path in dicom.files:
        _assert_clean(path.read_bytes(), path.name)
        _assert_clean(_dicom_strings(path), f"{path.name} elements")
        ds = pydicom.dcmread(path)
        assert not [e for e in ds.iterall() if e.tag.is_private and "ACME" in str(e.value)]


def test_the_search_finds_names_in_identified_exports(
    spoiled: ReportInputs, tmp_path: Path
) -> None:
    """The check above can fail: an identified export does carry the patient's name."""
    dicom = export_dicom(spoiled, tmp_path)
    with pytest.raises(AssertionError, match="Zielinska"):
        _assert_clean(dicom.files[0].read_bytes(), "identified")
