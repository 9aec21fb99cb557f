"""Ask a PACS: C-ECHO, find studies (C-FIND, study root) and retrieve one (C-GET).

C-GET brings the instances back on the same association, so retrieval works without the
listener running and without the PACS knowing this workstation's port (C-MOVE needs both).
Retrieved instances go into the same managed folder as received ones, through the same atomic
writer, and are returned as :class:`~mscc_desktop.network.arrivals.SeriesArrival` values for the
store to register.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscc_desktop.core.errors import NetworkError
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report
from mscc_desktop.network.arrivals import ArrivalTracker, SeriesArrival
from mscc_desktop.network.association import associate, calling_entity
from mscc_desktop.network.managed_folder import NotEnoughSpaceError, instance_place, write_instance
from mscc_desktop.network.nodes import RemoteNode, TlsSettings
from mscc_desktop.network.receiver import ReceiverEvent, ReceiverEventKind

logger = logging.getLogger(__name__)

# What a C-GET offers to take back. Images get one presentation context per compressed
# transfer syntax, so the PACS can send each file as it stores it (a JPEG 2000 CT arrives as
# JPEG 2000, never transcoded: many PACS cannot transcode at all); the other objects are
# offered uncompressed. 4 x 12 + 10 + 1 contexts stay below the 128 a request may hold.
_IMAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.128",  # PET Image
)
_OTHER_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography (scouts from older PACS)
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
)
_UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")
_COMPRESSED = (
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still stored by some)
)


def echo(
    node: RemoteNode, *, calling_ae: str, tls: TlsSettings | None = None, timeout_s: float = 10.0
) -> float:
    """C-ECHO ``node``; the round trip in seconds, or :class:`NetworkError`."""
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = calling_entity(calling_ae, timeout_s)
    ae.add_requested_context(Verification)
    started = time.perf_counter()
    assoc = associate(ae, node, tls)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or int(getattr(status, "Status", -1)) != 0:
        raise NetworkError(f"{node.label} answered the echo with an error status.")
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class StudyQuery:
    """What to search for. Empty fields match anything; ``*`` and ``?`` are wildcards."""

    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""  # YYYYMMDD, or a range YYYYMMDD-YYYYMMDD
    modality: str = ""  # e.g. CT


@dataclass(frozen=True, slots=True)
class RemoteStudy:
    """One study the PACS holds. Patient data: show it, never log it."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    study_description: str
    accession_number: str
    modalities: tuple[str, ...]
    n_series: int | None
    n_instances: int | None


def find_studies(
    node: RemoteNode,
    query: StudyQuery,
    *,
    calling_ae: str,
    tls: TlsSettings | None = None,
    limit: int = 500,
    timeout_s: float = 30.0,
) -> list[RemoteStudy]:
    """C-FIND at study level (Study Root); at most ``limit`` studies."""
    from pydicom.dataset import Dataset
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelFind,
    )

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = query.patient_id
    identifier.PatientName = query.patient_name
    identifier.StudyDate = query.study_date
    identifier.ModalitiesInStudy = query.modality
    identifier.StudyInstanceUID = ""
    identifier.StudyDescription = ""
    identifier.AccessionNumber = ""
    identifier.NumberOfStudyRelatedSeries = ""
    identifier.NumberOfStudyRelatedInstances = ""
    ae = calling_entity(calling_ae, timeout_s)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = associate(ae, node, tls)
    studies: list[RemoteStudy] = []
    try:
        for status, found in assoc.send_c_find(
            identifier, StudyRootQueryRetrieveInformationModelFind
        ):
            code = int(getattr(status, "Status", -1)) if status else -1
            if code in (0xFF00, 0xFF01) and found is not None:
                studies.append(_remote_study(found))
                if len(studies) >= limit:
                    break
            elif code == -1:
                raise NetworkError(
                    f"{node.label} refused or dropped the search without an answer: check that "
                    "it knows this workstation's AE title and address (many PACS answer only "
                    "callers they know)."
                )
            elif code != 0x0000:
                raise NetworkError(
                    f"{node.label} could not answer the search (status 0x{code:04X})."
                )
    finally:
        if assoc.is_established:
            assoc.release()
    return studies


def _remote_study(ds: Any) -> RemoteStudy:
    def number(name: str) -> int | None:
        value = ds.get(name, None)
        try:
            return int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None

    modalities = ds.get("ModalitiesInStudy", "")
    if isinstance(modalities, str):
        modalities = [m for m in modalities.split("\\") if m]
    return RemoteStudy(
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        study_date=str(ds.get("StudyDate", "")),
        study_description=str(ds.get("StudyDescription", "")),
        accession_number=str(ds.get("AccessionNumber", "")),
        modalities=tuple(str(m) for m in modalities),
        n_series=number("NumberOfStudyRelatedSeries"),
        n_instances=number("NumberOfStudyRelatedInstances"),
    )


@dataclass(frozen=True, slots=True)
class RetrieveReport:
    series: tuple[SeriesArrival, ...]
    n_received: int
    n_refused: int
    errors: tuple[str, ...]
    cancelled: bool = False


def retrieve_study(
    node: RemoteNode,
    study_instance_uid: str,
    root: Path,
    *,
    calling_ae: str,
    tls: TlsSettings | None = None,
    reserve_free_mb: int = 1024,
    expected_instances: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    timeout_s: float = 60.0,
) -> RetrieveReport:
    """C-GET one study into the managed folder ``root``.

    Cancel aborts the association: instances already written stay (each is whole), the rest
    never arrive, and the report says ``cancelled``.
    """
    from pydicom.dataset import Dataset
    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelGet,
    )

    ae = calling_entity(calling_ae, timeout_s)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for sop_class in _IMAGE_CLASSES + _OTHER_CLASSES:
        ae.add_requested_context(sop_class, list(_UNCOMPRESSED))
        if sop_class in _IMAGE_CLASSES:
            for syntax in _COMPRESSED:
                ae.add_requested_context(sop_class, syntax)
        roles.append(build_role(sop_class, scp_role=True))
    events: list[ReceiverEvent] = []
    errors: list[str] = []
    counts = {"received": 0, "refused": 0}
    reserve = max(0, int(reserve_free_mb)) << 20

    def on_store(event: Any) -> int:
        if cancel is not None and cancel.cancelled:
            return 0xA700
        ds = event.dataset
        place = instance_place(
            root,
            str(ds.get("StudyInstanceUID", "")),
            str(ds.get("SeriesInstanceUID", "")),
            str(event.request.AffectedSOPInstanceUID),
        )
        data = event.encoded_dataset(include_meta=True)
        try:
            write_instance(data, place, root, reserve_bytes=reserve)
        except (NotEnoughSpaceError, OSError) as error:
            counts["refused"] += 1
            message = getattr(error, "message", None) or f"could not be written ({error})"
            if message not in errors:
                errors.append(message)
            return 0xA700
        counts["received"] += 1
        events.append(
            ReceiverEvent(
                kind=ReceiverEventKind.INSTANCE_STORED,
                association=1,
                calling_ae=node.ae_title,
                address=node.host,
                monotonic_s=time.monotonic(),
                study_folder=place.study_folder,
                series_folder=place.series_folder,
                file=place.file,
                sop_class_uid=str(event.request.AffectedSOPClassUID),
                n_bytes=len(data),
            )
        )
        done = counts["received"]
        total = expected_instances or 0
        fraction = done / total if total else 0.0
        report(
            progress, min(0.99, fraction), f"Received {done}" + (f" of {total}" if total else "")
        )
        return 0x0000

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_instance_uid
    Path(root).mkdir(parents=True, exist_ok=True)
    assoc = associate(ae, node, tls, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    cancelled = False
    try:
        for status, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
            if cancel is not None and cancel.cancelled:
                cancelled = True
                assoc.abort()
                break
            code = int(getattr(status, "Status", -1)) if status else -1
            if code not in (0x0000, 0xFF00, 0xFF01, 0xB000, -1):
                errors.append(f"{node.label} ended the retrieve with status 0x{code:04X}.")
            if code == -1 and not assoc.is_established:
                errors.append(f"{node.label} closed the connection during the retrieve.")
    finally:
        if assoc.is_established:
            assoc.release()
    tracker = ArrivalTracker(quiet_seconds=1.0)
    tracker.add(events)
    if cancelled:
        tracker.add(
            [ReceiverEvent(ReceiverEventKind.ASSOCIATION_ABORTED, 1, node.ae_title, node.host, 0.0)]
        )
    report(progress, 1.0, f"Received {counts['received']} instance(s)")
    return RetrieveReport(
        series=tuple(tracker.complete(flush=True)),
        n_received=counts["received"],
        n_refused=counts["refused"],
        errors=tuple(errors),
        cancelled=cancelled,
    )
