"""Secondary Capture key images and the Key Object Selection document (highdicom).

* One Secondary Capture image per key image: the annotated three-window strip of
  :mod:`.raster` (RGB, burned-in annotation), in a new series of the source study, with a
  Source Image Sequence pointing at the slice it shows. (0018,0015) Body Part Examined is
  "SPINE" (what the image shows, whatever the scan covered): an unpaired part, so
  (0020,0060) Laterality is left out as the General Series module asks.
* One Key Object Selection document ("Of Interest") listing the source key slices and the
  captures, so PACS can flag the original slices as key images.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import edge_letters
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.dicom.dicom_common import (
    KO_SERIES_NUMBER,
    MANUFACTURER,
    SC_SERIES_NUMBER,
    SourceImage,
    dicom_text,
    evidence_dataset,
    finish_dataset,
    identity_arguments,
    new_uid,
    written_info,
)
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.layout import display_windows
from mscc_desktop.reporting.raster import key_image
from mscc_desktop.reporting.summary import KeyView, ReportContent

SC_DESCRIPTION = "MSCC AI key images (not for clinical use)"
BODY_PART = "SPINE"  # PS3.16 Annex L defined term; unpaired, so no Laterality
KO_DESCRIPTION = "MSCC AI key images"


def secondary_captures(
    inputs: ReportInputs,
    content: ReportContent,
    sources: dict[int, SourceImage],
    identity: ExportIdentity,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[hd.sc.SCImage]:
    """One annotated Secondary Capture per key image, in a new series of the source study."""
    info = written_info(identity.info)
    letters = edge_letters(inputs.volume)
    series_uid = new_uid()
    images: list[hd.sc.SCImage] = []
    views = content.key_views
    for number, view in enumerate(views, start=1):
        check_cancel(cancel)
        report(progress, (number - 1) / max(len(views), 1), f"Key image {number} of {len(views)}")
        picture = key_image(
            inputs.volume,
            view,
            identity,
            status=content.verdict.status_line,
            verified=content.verdict.verified,
            windows=display_windows(),
        )
        pixels = np.asarray(picture.convert("RGB"), dtype=np.uint8)
        sc = hd.sc.SCImage(
            pixel_array=pixels,
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            study_instance_uid=info.study_instance_uid,
            series_instance_uid=series_uid,
            series_number=SC_SERIES_NUMBER,
            sop_instance_uid=new_uid(),
            instance_number=number,
            manufacturer=MANUFACTURER,
            **identity_arguments(info),  # type: ignore[arg-type]
            patient_orientation=(letters.right[:1], letters.bottom[:1]),
        )
        sc.BodyPartExamined = BODY_PART
        sc.BurnedInAnnotation = "YES"
        sc.ImageType = ["DERIVED", "SECONDARY", "KEY_IMAGE"]
        sc.DerivationDescription = (
            "Slice rendered in the bone, abdomen and spine windows with the AI canal box and "
            "Bilsky grade group burned in"
        )
        source = sources[view.slice_index]
        reference = Dataset()
        reference.ReferencedSOPClassUID = source.sop_class_uid
        reference.ReferencedSOPInstanceUID = source.sop_instance_uid
        if source.frame_number is not None:
            reference.ReferencedFrameNumber = source.frame_number
        sc.SourceImageSequence = DicomSequence([reference])
        sc.ImageComments = _comment(view)
        images.append(finish_dataset(sc, identity, series_description=SC_DESCRIPTION))
    report(progress, 1.0, "Key images rendered")
    return images


def _comment(view: KeyView) -> str:
    parts = [f"Slice {view.slice_index + 1}", view.grade_text]
    if view.lesion_number is not None:
        parts.insert(0, f"Finding {view.lesion_number}")
    return dicom_text("; ".join(parts))[:10240]


def key_object_selection(
    inputs: ReportInputs,
    content: ReportContent,
    sources: dict[int, SourceImage],
    captures: Sequence[Dataset],
    identity: ExportIdentity,
) -> hd.ko.KeyObjectSelectionDocument:
    """A KOS ("Of Interest") referencing the source key slices, then the captures."""
    references = [evidence_dataset(sources[v.slice_index], identity) for v in content.key_views]
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=new_uid(),
            name="mscc-desktop",
            manufacturer_name=MANUFACTURER,
            model_name=dicom_text(inputs.result.provenance.model_id),
        ),
    )
    selection = hd.ko.KeyObjectSelection(
        document_title=codes.DCM.OfInterest,
        referenced_objects=[*references, *captures],
        observer_device_context=observer,
        description=dicom_text(
            f"{KO_DESCRIPTION}: {content.verdict.headline}; {content.verdict.status_line}"
        ),
    )
    document = hd.ko.KeyObjectSelectionDocument(
        evidence=[*references, *captures],
        content=selection,
        series_instance_uid=new_uid(),
        series_number=KO_SERIES_NUMBER,
        sop_instance_uid=new_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        institution_name=None if identity.deidentified else identity.info.institution_name or None,
    )
    return finish_dataset(document, identity, series_description=KO_DESCRIPTION)


__all__ = ["key_object_selection", "secondary_captures"]
