"""Send a study's results to a PACS: export the DICOM outputs, C-STORE them, log the send.

Three steps, so that the slow one runs off the thread that owns the store::

    inputs = load_report_inputs(db, volume, series_id=record.id)            # store thread
    files = export_for_sending(inputs, outbox_root(config.data_dir), ...)   # worker
    report = send_files(files, node, calling_ae=..., progress=p, cancel=c)  # worker
    record_sent(db, report, inputs=inputs, kinds=..., user=...)             # store thread

The exports are the same ones ``report --dicom`` writes (Secondary Capture key images, KOS,
SR TID 1500, the PDF as Encapsulated PDF), kept in the app's outbox so a failed send can be
repeated without exporting again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.network import SendReport
from mscc_desktop.reporting import ExportKind, ExportOptions, ReportInputs, export_all

logger = logging.getLogger(__name__)

OUTBOX_FOLDER = "outbox"

_KIND_BY_SOP_CLASS = {
    "1.2.840.10008.5.1.4.1.1.7": "sc",
    "1.2.840.10008.5.1.4.1.1.88.59": "kos",
    "1.2.840.10008.5.1.4.1.1.88.11": "sr",
    "1.2.840.10008.5.1.4.1.1.88.22": "sr",
    "1.2.840.10008.5.1.4.1.1.88.33": "sr",
    "1.2.840.10008.5.1.4.1.1.88.34": "sr",
    "1.2.840.10008.5.1.4.1.1.104.1": "pdf",
}


def sent_kind(sop_class_uid: str) -> str:
    """sc, kos, sr, pdf or other: what the send log calls an instance."""
    return _KIND_BY_SOP_CLASS.get(sop_class_uid, "other")


def outbox_root(data_dir: Path) -> Path:
    return Path(data_dir) / OUTBOX_FOLDER


def export_for_sending(
    inputs: ReportInputs,
    outbox: Path,
    *,
    deidentify: bool = False,
    protected: Iterable[Path] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[Path]:
    """Write the DICOM outputs into a new folder of ``outbox``; the files to send."""
    folder = Path(outbox) / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True, exist_ok=True)
    options = ExportOptions(kinds=frozenset({ExportKind.DICOM}), deidentify=deidentify)
    results = export_all(
        inputs, folder, options, protected=protected, progress=progress, cancel=cancel
    )
    return [f for result in results for f in result.files if f.suffix.lower() == ".dcm"]


def record_sent(
    db: Database, report: SendReport, *, inputs: ReportInputs | None = None, user: str = ""
) -> int:
    """The send's rows in the send log and its ``SENT`` audit row; returns the audit row id."""
    rows = [
        storage.SentInstance(
            kind=sent_kind(o.sop_class_uid),
            sop_class_uid=o.sop_class_uid,
            sop_instance_uid=o.sop_instance_uid,
            status=(
                storage.SendStatus.SENT
                if o.sent
                else storage.SendStatus.CANCELLED
                if report.cancelled and o.attempts == 0
                else storage.SendStatus.FAILED
            ),
            dimse_status=o.status,
            attempts=o.attempts,
            error=o.error,
        )
        for o in report.outcomes
    ]
    node = report.destination
    return storage.record_send(
        db,
        rows,
        destination=f"{node.name} ({node.ae_title}@{node.host}:{node.port})",
        study_id=inputs.study_id if inputs else None,
        series_id=inputs.series_id if inputs else None,
        analysis_id=inputs.analysis_id if inputs else None,
        user=user,
    )
