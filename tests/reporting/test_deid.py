"""De-identified exports leak nothing: every byte of every PDF, PNG and DICOM file is searched."""

from __future__ import annotations

import zlib
from pathlib import Path

import pydicom
import pypdfium2 as pdfium
import pytest
from PIL import Image

from mscc_desktop.reporting import (
    ReportInputs,
    export_dicom,
    export_identity,
    export_key_images,
    export_pdf,
)
from mscc_desktop.reporting.deid import install_secret, mapped_uid, pseudonym
from mscc_desktop.reporting.text import identity_line
from tests.reporting.conftest import pdf_all_bytes, pdf_pages_text
from tests.reporting.study import PATIENT, AnalysedStudy


def forbidden(inputs: ReportInputs) -> list[str]:
    """Every identifying value of the study, in the spellings an export could use."""
    info = PATIENT
    values = [
        info.patient_name,  # DICOM form "Zielinska^Anna^Maria"
        "Zielinska",
        "Anna Maria",
        info.patient_id,
        info.patient_birth_date,
        "1952-09-14",
        info.study_date,
        "2024-01-17",
        info.study_time,
        info.accession_number,
        info.study_id,
        info.study_description,
        info.series_description,
        info.institution_name,
        "Elsewhere",
        "House",  # referring physician
        info.contrast_agent,
        "Dr Reader",  # the reader's name
        "Cord flattened",  # a free-text comment
        inputs.volume.info.study_instance_uid,
        inputs.volume.info.series_instance_uid,
        inputs.volume.info.frame_of_reference_uid,
        *inputs.volume.sop_instance_uids,
    ]
    return [v for v in values if v]


def assert_clean(blob: bytes, values: list[str], where: str) -> None:
    lowered = blob.lower()
    for value in values:
        for encoding in ("utf-8", "utf-16-be", "utf-16-le"):
            needle = value.lower().encode(encoding)
            assert needle not in lowered, f"{value!r} ({encoding}) found in {where}"


def test_deidentified_pdf_has_no_identifying_value(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    path = export_pdf(reviewed_inputs, tmp_path, deidentify=True).path
    values = forbidden(reviewed_inputs)
    assert_clean(pdf_all_bytes(path), values, path.name)
    text = "\n".join(pdf_pages_text(path))
    assert_clean(text.encode(), values, "extracted text")
    pdf = pdfium.PdfDocument(path.read_bytes())
    metadata = " ".join(str(v) for v in pdf.get_metadata_dict().values())
    pdf.close()
    assert_clean(metadata.encode(), values, "PDF metadata")
    alias = pseudonym(PATIENT, install_secret())
    assert alias in text and alias in metadata
    assert "De-identification" in text and "Basic Application Level Confidentiality" in text
    assert alias in path.name and "Zielinska" not in str(path)


def test_identified_pdf_does_contain_them(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    """The check above can fail: without de-identification the same search finds the values."""
    path = export_pdf(reviewed_inputs, tmp_path).path
    blob = "\n".join(pdf_pages_text(path)).encode()
    with pytest.raises(AssertionError):
        assert_clean(blob, forbidden(reviewed_inputs), path.name)


def _png_chunks(path: Path) -> bytes:
    """Raw bytes plus every text chunk decoded (pixel data is pixels: the burned-in text is
    checked through the identity line that draws it)."""
    data = path.read_bytes()
    parts = [data]
    pos = 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"zTXt":  # keyword \0 method compressed-text
            parts.append(zlib.decompress(body[body.index(b"\0") + 2 :]))
        elif kind == b"iTXt":  # keyword \0 flag method language \0 translated \0 text
            keyword_end = body.index(b"\0")
            compressed = body[keyword_end + 1] == 1
            rest = body[keyword_end + 3 :]
            text = rest.split(b"\0", 2)[2]
            parts.append(zlib.decompress(text) if compressed else text)
        pos += 12 + length
    return b"\n".join(parts)


def test_deidentified_pngs_have_no_identifying_value(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    result = export_key_images(reviewed_inputs, tmp_path, deidentify=True)
    values = forbidden(reviewed_inputs)
    assert result.files
    for path in result.files:
        assert_clean(_png_chunks(path), values, path.name)
        with Image.open(path) as image:
            chunks = " ".join(f"{k}={v}" for k, v in image.text.items())
        assert_clean(chunks.encode(), values, f"{path.name} text chunks")
        assert "De-identification" in chunks
    # The burned-in header line names only the pseudonym.
    identity = export_identity(reviewed_inputs.volume.info, deidentify=True)
    assert_clean(identity_line(identity).encode(), values, "burned-in identity line")
    assert identity_line(identity).startswith("ANON-")


def _strings(ds: pydicom.Dataset) -> list[str]:
    found: list[str] = []
    for element in ds.iterall():
        if element.VR == "SQ" or element.value is None:
            continue
        values = element.value if element.VM > 1 else [element.value]
        found += [str(v) for v in values if not isinstance(v, bytes)]
    return found


def test_deidentified_dicom_has_no_identifying_value(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    result = export_dicom(reviewed_inputs, tmp_path, deidentify=True)
    values = forbidden(reviewed_inputs)
    secret = install_secret()
    for path in result.files:
        assert_clean(path.read_bytes(), values, path.name)
        ds = pydicom.dcmread(path)
        assert_clean("\n".join(_strings(ds)).encode(), values, f"{path.name} elements")
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.DeidentificationMethodCodeSequence[0].CodingSchemeDesignator == "DCM"
        assert "Basic Application Level Confidentiality Profile" in ds.DeidentificationMethod
        assert ds.PatientName == pseudonym(PATIENT, secret) + "^"
        assert ds.StudyDate == "" and ds.PatientBirthDate == ""
        for element in ds.iterall():
            if element.VR == "DA" and element.value:
                assert element.value == "19000101", element.keyword
        # UIDs are replaced consistently: the study UID is the mapped source UID.
        assert ds.StudyInstanceUID == mapped_uid(
            reviewed_inputs.volume.info.study_instance_uid, secret
        )
        if ds.Modality == "DOC":  # the encapsulated PDF: its pages, streams decompressed
            pdf = tmp_path / "encapsulated.pdf"
            pdf.write_bytes(bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)])
            assert_clean(pdf_all_bytes(pdf), values, f"{path.name} PDF")
            assert ds.BurnedInAnnotation == "NO"
    assert any(path.name.startswith("DOC") for path in result.files)


def test_pseudonyms_are_stable_per_patient_and_install(tmp_path: Path) -> None:
    from dataclasses import replace

    secret = install_secret(tmp_path)
    assert install_secret(tmp_path) == secret  # created once, then reused
    assert (tmp_path / "deid-secret.bin").stat().st_mode & 0o077 == 0  # owner only
    again = pseudonym(PATIENT, secret)
    assert again == pseudonym(PATIENT, secret)
    assert again != pseudonym(replace(PATIENT, patient_id="OTHER"), secret)
    assert again != pseudonym(PATIENT, b"another install".ljust(32, b"x"))
    assert mapped_uid("1.2.3", secret) == mapped_uid("1.2.3", secret) != mapped_uid("1.2.4", secret)
    assert len(mapped_uid("1.2.3", secret)) <= 64


def test_deidentified_exports_of_one_patient_share_the_pseudonym(
    reviewed: AnalysedStudy, reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    first = export_pdf(reviewed_inputs, tmp_path / "a", deidentify=True).path.name
    second = export_pdf(reviewed_inputs, tmp_path / "b", deidentify=True).path.name
    assert first == second and first.startswith("MSCC_ANON-")
