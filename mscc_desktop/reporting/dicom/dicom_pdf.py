"""The PDF summary as an Encapsulated PDF instance (highdicom), for archives that take DICOM only.

The PDF bytes are wrapped unchanged in (0042,0011) Encapsulated Document of an Encapsulated
PDF Storage instance in a new series (Modality DOC) of the source study, with the same patient
and study identity as the other DICOM outputs (de-identified when the export is). Its
(0042,0013) Source Instance Sequence lists the source slices whose pictures the PDF shows
(PS3.3 C.24.2: required when the document shows referenced instances).
"""

from __future__ import annotations

from collections.abc import Iterable

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian

from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.dicom.dicom_common import (
    DOC_SERIES_NUMBER,
    MANUFACTURER,
    SourceImage,
    finish_dataset,
    identity_arguments,
    new_uid,
    written_info,
)

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
DOC_DESCRIPTION = "MSCC AI report (not for clinical use)"
DOCUMENT_TITLE = "MSCC CT summary"


def encapsulated_pdf(
    pdf: bytes,
    sources: Iterable[SourceImage],
    identity: ExportIdentity,
    *,
    instance_number: int = 1,
) -> hd.base.SOPClass:
    """An Encapsulated PDF Storage instance holding ``pdf``.

    Parameters
    ----------
    pdf
        The PDF summary as written by :func:`~.pdf_report.build_pdf` with the same
        ``identity`` (its pages carry that identity, so (0028,0301) Burned In Annotation is
        YES unless de-identified).
    sources
        The source slices the PDF shows (key images), for the Source Instance Sequence.
    identity
        Patient and study identity of the export (:func:`~.deid.export_identity`).
    instance_number
        (0020,0013) Instance Number in the new series.

    Raises
    ------
    ValueError
        ``pdf`` is not a PDF document.
    """
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("The report to encapsulate is not a PDF document.")
    info = written_info(identity.info)
    doc = hd.base.SOPClass(
        study_instance_uid=info.study_instance_uid,
        series_instance_uid=new_uid(),
        series_number=DOC_SERIES_NUMBER,
        sop_instance_uid=new_uid(),
        sop_class_uid=ENCAPSULATED_PDF_STORAGE,
        instance_number=instance_number,
        modality="DOC",
        manufacturer=MANUFACTURER,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        **identity_arguments(info),  # type: ignore[arg-type]
        institution_name=None if identity.deidentified else info.institution_name or None,
    )
    doc.ConversionType = "WSD"  # SC Equipment: made on a workstation
    doc.AcquisitionDateTime = ""  # Type 2: a report has no acquisition
    doc.BurnedInAnnotation = "NO" if identity.deidentified else "YES"
    doc.DocumentTitle = DOCUMENT_TITLE
    title = Dataset()
    code = codes.LN.DiagnosticImagingReport
    title.CodeValue, title.CodingSchemeDesignator = code.value, code.scheme_designator
    title.CodeMeaning = code.meaning
    doc.ConceptNameCodeSequence = DicomSequence([title])
    references = []
    for source in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = source.sop_class_uid
        item.ReferencedSOPInstanceUID = source.sop_instance_uid
        references.append(item)
    if references:
        doc.SourceInstanceSequence = DicomSequence(references)
    doc.MIMETypeOfEncapsulatedDocument = "application/pdf"
    doc.EncapsulatedDocument = pdf
    doc.EncapsulatedDocumentLength = len(pdf)  # before the pad byte of an odd length
    return finish_dataset(doc, identity, series_description=DOC_DESCRIPTION)


__all__ = ["ENCAPSULATED_PDF_STORAGE", "encapsulated_pdf"]
