"""DICOM outputs read back with pydicom and highdicom: study, patient and source references,
the SR's codes and the encapsulated PDF."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import highdicom as hd
import pydicom
import pypdfium2 as pdfium
import pytest
from pydicom.sr.codedict import codes

from mscc_desktop.reporting import (
    Paper,
    ReportInputs,
    export_dicom,
    export_identity,
    report_content,
)
from tests.reporting.conftest import pdf_pages_text
from tests.reporting.study import PATIENT

SC = "1.2.840.10008.5.1.4.1.1.7"
KOS = "1.2.840.10008.5.1.4.1.1.88.59"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


def _by_class(files: tuple[Path, ...]) -> dict[str, list[pydicom.Dataset]]:
    found: dict[str, list[pydicom.Dataset]] = {}
    for path in files:
        ds = pydicom.dcmread(path)
        found.setdefault(str(ds.SOPClassUID), []).append(ds)
    return found


def _key_uids(inputs: ReportInputs) -> list[str]:
    views = report_content(inputs, export_identity(inputs.volume.info, deidentify=False)).key_views
    return [inputs.volume.sop_instance_uids[v.slice_index] for v in views]


def test_outputs_belong_to_the_source_study(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    result = export_dicom(reviewed_inputs, tmp_path)
    found = _by_class(result.files)
    assert len(found[SC]) == 4 and len(found[KOS]) == 1 and len(found[COMPREHENSIVE_SR]) == 1
    assert len(found[ENCAPSULATED_PDF]) == 1
    info = reviewed_inputs.volume.info
    series = set()
    for datasets in found.values():
        for ds in datasets:
            assert ds.StudyInstanceUID == info.study_instance_uid
            assert ds.PatientID == PATIENT.patient_id
            assert str(ds.PatientName) == PATIENT.patient_name
            assert ds.PatientBirthDate == PATIENT.patient_birth_date
            assert ds.AccessionNumber == PATIENT.accession_number
            assert ds.SeriesInstanceUID != info.series_instance_uid  # new series, same study
            series.add(ds.SeriesInstanceUID)
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert len(series) == 4


def test_secondary_captures_show_and_reference_the_key_slices(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    captures = _by_class(export_dicom(reviewed_inputs, tmp_path).files)[SC]
    expected = _key_uids(reviewed_inputs)
    for ds, uid in zip(
        sorted(captures, key=lambda d: int(d.InstanceNumber)), expected, strict=True
    ):
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == uid
        assert ds.SourceImageSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert ds.BurnedInAnnotation == "YES"
        assert ds.PhotometricInterpretation == "RGB"
        pixels = ds.pixel_array
        assert pixels.shape[2] == 3 and pixels.std() > 20  # a real picture


def test_kos_references_every_source_key_slice(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    found = _by_class(export_dicom(reviewed_inputs, tmp_path).files)
    kos = hd.ko.KeyObjectSelectionDocument.from_dataset(found[KOS][0])
    referenced = {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for item in kos.ContentSequence
        if "ReferencedSOPSequence" in item
    }
    assert set(_key_uids(reviewed_inputs)) <= referenced
    assert {str(ds.SOPInstanceUID) for ds in found[SC]} <= referenced
    assert kos.ConceptNameCodeSequence[0].CodeValue == codes.DCM.OfInterest.value


def test_sr_holds_findings_levels_grades_and_provenance(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    path = next(p for p in export_dicom(reviewed_inputs, tmp_path).files if p.name.startswith("SR"))
    sr = hd.sr.srread(path)
    assert sr.SOPClassUID == COMPREHENSIVE_SR
    assert sr.VerificationFlag == "VERIFIED"  # signed off by the reader
    assert str(sr.VerifyingObserverSequence[0].VerifyingObserverName) == "Dr Reader^"
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 3
    first = groups[0]
    assert first.finding_sites[0].value == codes.SCT.T7Vertebra
    key_uid = reviewed_inputs.volume.sop_instance_uids[
        reviewed_inputs.findings.lesions[0].key_slice
    ]
    region = first.roi
    assert region is not None
    source = region.ContentSequence[0].ReferencedSOPSequence[0]
    assert source.ReferencedSOPInstanceUID == key_uid  # the box is drawn on the source slice
    box = reviewed_inputs.findings.slices[reviewed_inputs.findings.lesions[0].key_slice].box
    assert box is not None
    assert list(region.GraphicData[:2]) == pytest.approx([box.x0, box.y0], abs=1e-3)
    probability = first.get_measurements(name=codes.DCM.Probability)[0]
    assert probability.value == pytest.approx(
        reviewed_inputs.findings.lesions[0].peak_probability, abs=1e-3
    )
    third = groups[2]
    sites = [s.value for s in third.finding_sites]
    assert sites == [codes.SCT.L2Vertebra, codes.SCT.L3Vertebra]
    meanings = {str(e.value.meaning) for e in third.get_qualitative_evaluations()}
    assert "High grade (Bilsky 1c/2/3)" in meanings and "Regraded by reader" in meanings
    assert "Low grade (Bilsky 1a/1b)" in meanings
    text = " ".join(str(e.value) for e in sr.iterall() if e.VR not in ("SQ", "OB", "OW"))
    prov = reviewed_inputs.result.provenance
    assert prov.model_id in text and prov.model_version in text and prov.model_sha256 in text


def test_sr_is_unverified_until_signed_off(unreviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    path = next(
        p for p in export_dicom(unreviewed_inputs, tmp_path).files if p.name.startswith("SR")
    )
    sr = pydicom.dcmread(path)
    assert sr.VerificationFlag == "UNVERIFIED"
    assert "VerifyingObserverSequence" not in sr
    assert sr.PreliminaryFlag == "PRELIMINARY"


def test_sr_uses_standard_codes_and_declares_its_private_scheme(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    path = next(p for p in export_dicom(reviewed_inputs, tmp_path).files if p.name.startswith("SR"))
    sr = hd.sr.srread(path)
    first = sr.content.get_planar_roi_measurement_groups()[0]
    assert first.finding_type == hd.sr.CodedConcept("71286001", "SCT", "Spinal cord compression")
    (study_group,) = sr.content.get_image_measurement_groups()
    (impression,) = study_group.get_qualitative_evaluations(name=codes.DCM.Impression)
    assert impression.value.meaning == "High grade (Bilsky 1c/2/3)"
    used = {str(e.value) for e in sr.iterall() if e.keyword == "CodingSchemeDesignator"}
    assert used == {"DCM", "SCT", "LN", "UCUM", "RFC5646", "99MSCC"}
    (declared,) = sr.CodingSchemeIdentificationSequence  # the private scheme, described
    assert declared.CodingSchemeDesignator == "99MSCC" and declared.CodingSchemeName


def test_text_is_plain_ascii_without_a_character_set(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    """The middle dots of the on-screen texts are not written: DICOM's default repertoire."""
    comments = []
    for path in export_dicom(reviewed_inputs, tmp_path).files:
        ds = pydicom.dcmread(path)
        assert "SpecificCharacterSet" not in ds, path.name
        for element in ds.iterall():
            if element.VR in ("SH", "LO", "ST", "LT", "UT", "PN", "UC"):
                assert str(element.value).isascii(), (path.name, element)
        comments.append(str(ds.get("ImageComments", "")))
    assert "Finding 1; Slice 12; High grade, P(high) 0.90 (called high from 0.50)" in comments


def test_non_latin_names_are_written_as_utf8(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    name = "Zielińska^Anna=ジェリンスカ^アンナ"
    info = replace(reviewed_inputs.volume.info, patient_name=name, institution_name="Łódź")
    inputs = replace(reviewed_inputs, volume=replace(reviewed_inputs.volume, info=info))
    for path in export_dicom(inputs, tmp_path).files:
        ds = pydicom.dcmread(path)
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        assert str(ds.PatientName) == name and ds.InstitutionName == "Łódź"


def test_encapsulated_pdf_holds_the_pdf_summary(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    files = export_dicom(reviewed_inputs, tmp_path).files
    (doc,) = _by_class(files)[ENCAPSULATED_PDF]
    assert doc.Modality == "DOC" and doc.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert doc.BurnedInAnnotation == "YES"  # the pages name the patient
    assert doc.ConceptNameCodeSequence[0].CodeValue == codes.LN.DiagnosticImagingReport.value
    pdf = bytes(doc.EncapsulatedDocument)[: int(doc.EncapsulatedDocumentLength)]
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    path = tmp_path / "summary.pdf"
    path.write_bytes(pdf)
    first_page = pdf_pages_text(path)[0]
    assert "High-grade MSCC suspected" in first_page and "Zielinska" in first_page
    shown = [s.ReferencedSOPInstanceUID for s in doc.SourceInstanceSequence]
    assert shown == _key_uids(reviewed_inputs)  # the key images printed in the PDF


def test_encapsulated_pdf_takes_the_paper_size(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    files = export_dicom(reviewed_inputs, tmp_path, paper=Paper.LETTER).files
    (doc,) = _by_class(files)[ENCAPSULATED_PDF]
    pdf = pdfium.PdfDocument(bytes(doc.EncapsulatedDocument)[: int(doc.EncapsulatedDocumentLength)])
    try:
        width, height = pdf[0].get_size()
    finally:
        pdf.close()
    assert (round(width), round(height)) == (612, 792)  # US Letter in points
