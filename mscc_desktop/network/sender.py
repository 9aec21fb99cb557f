"""Send DICOM files to a peer (C-STORE SCU), with retries, back-off, progress and cancel.

Files are streamed as they are on disk (pynetdicom reads the file, never re-encodes it), in
the transfer syntax they were written in. Each instance gets its own outcome: a PACS that
refuses one instance (a full disk, an unknown SOP class) does not stop the others, and only
the instances that failed are tried again, after ``backoff_s``, then twice that, and so on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydicom import dcmread

from mscc_desktop.core.errors import NetworkError
from mscc_desktop.core.tasks import CancelToken, ProgressFn, report
from mscc_desktop.network.association import associate, calling_entity
from mscc_desktop.network.nodes import RemoteNode, TlsSettings

logger = logging.getLogger(__name__)

# C-STORE statuses that mean "stored": success and the warnings of PS3.4 B.2.3.
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}


@dataclass(frozen=True, slots=True)
class InstanceOutcome:
    """What happened to one file. ``error`` is a sentence for the reader ("" when sent)."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    sent: bool
    status: int | None
    attempts: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class SendReport:
    destination: RemoteNode
    outcomes: tuple[InstanceOutcome, ...]
    cancelled: bool = False

    @property
    def n_sent(self) -> int:
        return sum(o.sent for o in self.outcomes)

    @property
    def n_failed(self) -> int:
        return sum(not o.sent for o in self.outcomes)


def status_text(status: int) -> str:
    """A C-STORE refusal as a sentence a reader can act on, with the DICOM status."""
    code = f"0x{status:04X}"
    if status == 0x0122:
        return f"the PACS does not accept this kind of object ({code}: SOP class not supported)"
    if status == 0x0124:
        return f"the PACS does not allow this workstation to store ({code}: not authorized)"
    if status & 0xFF00 == 0xA700:
        return f"the PACS is out of resources, e.g. its disk is full ({code})"
    if status & 0xFF00 == 0xA900:
        return f"the PACS says the object does not match its SOP class ({code})"
    if status & 0xF000 == 0xC000:
        return f"the PACS cannot understand the object ({code})"
    from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

    known = STORAGE_SERVICE_CLASS_STATUS.get(status)
    if known is not None:
        return f"the PACS refused it: {known[1].lower()} ({code})"
    return f"the PACS refused it: {code_to_category(status).lower()} ({code})"


def send_files(
    paths: Sequence[Path],
    node: RemoteNode,
    *,
    calling_ae: str,
    tls: TlsSettings | None = None,
    retries: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 30.0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Send every file in ``paths`` to ``node``; never raises for a peer's refusal.

    Parameters
    ----------
    paths
        DICOM files (Part 10). A file that is not DICOM gets a failed outcome.
    node
        The destination.
    calling_ae
        Our AE title, as the destination knows us.
    tls
        TLS settings, used when ``node.tls`` is set.
    retries
        How many more times a failed instance is tried.
    backoff_s
        Wait before the first retry; doubled before each next one.
    timeout_s
        Connection, ACSE and DIMSE time limit.

    Returns
    -------
    SendReport
        One outcome per file, in the order given.
    """
    node = node.checked()
    outcomes: dict[Path, InstanceOutcome] = {}
    pending: list[tuple[Path, str, str, str]] = []
    for path in paths:
        try:
            header = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            meta = header.file_meta
            pending.append(
                (
                    Path(path),
                    str(meta.MediaStorageSOPClassUID),
                    str(meta.MediaStorageSOPInstanceUID),
                    str(meta.TransferSyntaxUID),
                )
            )
        except Exception as error:  # noqa: BLE001 - unreadable input: a failed outcome, not a crash
            outcomes[Path(path)] = InstanceOutcome(
                Path(path), "", "", False, None, 0, f"not a DICOM file ({error.__class__.__name__})"
            )
    total = max(1, len(pending))
    attempts: dict[Path, int] = {}
    cancelled = False
    for round_number in range(retries + 1):
        if not pending:
            break
        if round_number:
            wait = backoff_s * 2 ** (round_number - 1)
            report(progress, (total - len(pending)) / total, f"Retrying in {wait:.0f} s")
            sleep(wait)
        if cancel is not None and cancel.cancelled:
            cancelled = True
            break
        still: list[tuple[Path, str, str, str]] = []
        try:
            assoc = _associate(node, calling_ae, tls, pending, timeout_s)
        except NetworkError as error:
            for item in pending:
                attempts[item[0]] = attempts.get(item[0], 0) + 1
                outcomes[item[0]] = InstanceOutcome(
                    item[0], item[1], item[2], False, None, attempts[item[0]], error.message
                )
            continue
        try:
            for index, item in enumerate(pending):
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    still.extend(pending[index:])
                    break
                path = item[0]
                attempts[path] = attempts.get(path, 0) + 1
                outcome = _send_one(assoc, item, attempts[path])
                outcomes[path] = outcome
                if not outcome.sent:
                    still.append(item)
                done = len(paths) - len(pending) + index + 1
                report(progress, min(1.0, done / total), f"Sent {done} of {len(paths)}")
        finally:
            if assoc.is_established:
                assoc.release()
        pending = still
        if cancelled:
            break
    ordered = tuple(outcomes[Path(p)] for p in paths if Path(p) in outcomes)
    if cancelled:
        ordered = tuple(
            o if o.sent or o.error else replace(o, error="cancelled before it was sent")
            for o in ordered
        )
        sent_or_tried = {o.path for o in ordered}
        ordered += tuple(
            InstanceOutcome(p, c, s, False, None, 0, "cancelled before it was sent")
            for p, c, s, _ in pending
            if p not in sent_or_tried
        )
    report(progress, 1.0, "Sent")
    return SendReport(node, ordered, cancelled)


def _associate(
    node: RemoteNode,
    calling_ae: str,
    tls: TlsSettings | None,
    items: Sequence[tuple[Path, str, str, str]],
    timeout_s: float,
) -> Any:
    ae = calling_entity(calling_ae, timeout_s)
    wanted: dict[str, list[str]] = {}
    for _, sop_class, _, syntax in items:
        syntaxes = wanted.setdefault(sop_class, [])
        if syntax not in syntaxes:
            syntaxes.append(syntax)
    if len(wanted) > 128:
        raise NetworkError("More than 128 kinds of DICOM object in one send; send fewer.")
    for sop_class, syntaxes in wanted.items():
        ae.add_requested_context(sop_class, syntaxes)
    return associate(ae, node, tls)


def _send_one(assoc: Any, item: tuple[Path, str, str, str], attempt: int) -> InstanceOutcome:
    path, sop_class, sop_uid, _ = item
    try:
        response = assoc.send_c_store(path)
    except (OSError, ValueError, AttributeError) as error:
        return InstanceOutcome(
            path,
            sop_class,
            sop_uid,
            False,
            None,
            attempt,
            f"could not be sent ({error.__class__.__name__}: no accepted presentation context?)",
        )
    status = int(getattr(response, "Status", -1)) if response else None
    if status is None or status < 0:
        reason = "the connection closed before an answer" if not response else "no status"
        return InstanceOutcome(path, sop_class, sop_uid, False, None, attempt, reason)
    if status in _STORED:
        return InstanceOutcome(path, sop_class, sop_uid, True, status, attempt)
    return InstanceOutcome(
        path, sop_class, sop_uid, False, status, attempt, f"refused: {status_text(status)}"
    )
