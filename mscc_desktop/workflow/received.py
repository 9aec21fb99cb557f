"""From the listener to the store: audit every association, register every complete series.

:class:`ReceiveSession` is polled by whoever owns the store (the GUI's timer, or the loop of
``mscc-desktop listen``). Each :meth:`~ReceiveSession.poll` drains the receiver's events,
writes the audit rows, and registers the series that went quiet. A series is registered only
when complete, from a header scan of its folder (the same identity and fingerprint as opening
the folder in the viewer gives), so the store never holds half a series; the ones still
arriving are listed by :meth:`~ReceiveSession.arriving` for the study browser.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.errors import StoreError
from mscc_desktop.network import (
    ArrivalTracker,
    ReceiverEvent,
    ReceiverEventKind,
    RemoteNode,
    RetrieveReport,
    SeriesArrival,
)

logger = logging.getLogger(__name__)

_ENDED = {
    ReceiverEventKind.ASSOCIATION_RELEASED: "released",
    ReceiverEventKind.ASSOCIATION_ABORTED: "aborted",
}


@dataclass(frozen=True, slots=True)
class RegisteredSeries:
    """A received series now in the store (one per volume the scan found in its folder)."""

    arrival: SeriesArrival
    records: tuple[storage.SeriesRecord, ...]
    analysable: tuple[Path, ...]  # folders of its analysable axial CT volumes

    @property
    def study_ids(self) -> tuple[int, ...]:
        return tuple(sorted({r.study_id for r in self.records}))


@dataclass
class PollResult:
    registered: list[RegisteredSeries] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # reasons, for the status bar
    n_events: int = 0


class ReceiveSession:
    """Records what a :class:`~mscc_desktop.network.StorageReceiver` reports.

    Parameters
    ----------
    db
        The store, used only on the thread that calls :meth:`poll`.
    quiet_seconds
        Quiet time after which a series counts as complete.
    user
        Recorded in the audit rows (the operating-system login when empty).
    """

    def __init__(self, db: Database, *, quiet_seconds: float, user: str = "") -> None:
        self.db = db
        self.user = user
        self.tracker = ArrivalTracker(quiet_seconds)
        self._stored_in: Counter[int] = Counter()
        self._unregistered: list[SeriesArrival] = []

    def poll(
        self, events: list[ReceiverEvent], *, now_s: float | None = None, flush: bool = False
    ) -> PollResult:
        """Record ``events`` and register the series complete by ``now_s`` (all if ``flush``)."""
        result = PollResult(n_events=len(events))
        # Track first: the files are on disk whatever happens to the audit rows below, and
        # an arrival whose registration fails (a locked or full store) is kept for the next
        # poll rather than lost.
        self.tracker.add(events)
        for event in events:
            reason = self._audit(event)
            if reason:
                result.refused.append(reason)
        pending, self._unregistered = self._unregistered, []
        for arrival in pending + self.tracker.complete(now_s, flush=flush):
            try:
                registered = register_received_series(self.db, arrival, user=self.user)
            except StoreError as error:
                logger.warning("a received series could not be registered yet: %s", error)
                self._unregistered.append(arrival)
                continue
            result.registered.append(registered)
        return result

    @property
    def unregistered(self) -> list[SeriesArrival]:
        """Complete series the store could not take yet (tried again at the next poll)."""
        return list(self._unregistered)

    def arriving(self) -> list[SeriesArrival]:
        return self.tracker.arriving()

    def _audit(self, event: ReceiverEvent) -> str:
        """Write the event's audit row (if it has one); a refusal's reason, else ""."""
        peer = {"calling_ae": event.calling_ae, "address": event.address}
        kind = event.kind
        if kind is ReceiverEventKind.INSTANCE_STORED:
            self._stored_in[event.association] += 1
        elif kind is ReceiverEventKind.ASSOCIATION_ACCEPTED:
            storage.record_audit(
                self.db, storage.AuditAction.ASSOCIATION_ACCEPTED, user=self.user, details=peer
            )
        elif kind is ReceiverEventKind.ASSOCIATION_REJECTED:
            storage.record_audit(
                self.db,
                storage.AuditAction.ASSOCIATION_REJECTED,
                user=self.user,
                details={**peer, "reason": event.reason},
            )
            return f"Refused a caller ({event.reason})"
        elif kind in _ENDED:
            stored = self._stored_in.pop(event.association, 0)
            storage.record_audit(
                self.db,
                storage.AuditAction.ASSOCIATION_ENDED,
                user=self.user,
                details={**peer, "how": _ENDED[kind], "instances_stored": stored},
            )
        elif kind is ReceiverEventKind.INSTANCE_REFUSED:
            storage.record_audit(
                self.db,
                storage.AuditAction.INSTANCE_REFUSED,
                user=self.user,
                details={**peer, "reason": event.reason},
            )
            return event.reason
        return ""


def register_received_series(
    db: Database, arrival: SeriesArrival, *, user: str = ""
) -> RegisteredSeries:
    """Scan a complete series folder's headers and register what it holds.

    Registers every image series the scan finds there (a split series gives several rows, as
    when the folder is opened), with one ``SERIES_RECEIVED`` audit row saying how many
    instances came, from whom, and whether the association was aborted while they came.
    """
    from mscc_desktop.core.dicom import scan_folder

    scan = scan_folder(arrival.series_folder, workers=1)
    records: list[storage.SeriesRecord] = []
    analysable: list[Path] = []
    for entry in scan.series:
        files = sorted(set(entry.files))
        if not files:
            continue
        record = storage.upsert_series(
            db,
            entry.info,
            source_path=storage.source_folder(files),
            fingerprint=storage.fingerprint_files(files),
            n_files=len(files),
            part=entry.split_note,
            user=user,
        )
        records.append(record)
        if entry.analysable and record.source_path not in analysable:
            analysable.append(record.source_path)
    first = records[0] if records else None
    storage.record_audit(
        db,
        storage.AuditAction.SERIES_RECEIVED,
        user=user,
        study_id=first.study_id if first else None,
        series_id=first.id if first else None,
        details={
            "calling_ae": arrival.calling_ae,
            "instances": arrival.n_instances,
            "volumes_registered": len(records),
            "interrupted": arrival.interrupted,
            "skipped_files": len(scan.skipped),
        },
    )
    if arrival.interrupted:
        logger.warning(
            "a series was received over an association that was aborted; it may be incomplete"
        )
    return RegisteredSeries(arrival, tuple(records), tuple(analysable))


def register_retrieved(
    db: Database, report: RetrieveReport, *, source: RemoteNode, user: str = ""
) -> list[RegisteredSeries]:
    """Register a C-GET's series and write one ``RETRIEVED`` audit row with its counts."""
    registered = [register_received_series(db, arrival, user=user) for arrival in report.series]
    first = next((r.records[0] for r in registered if r.records), None)
    storage.record_audit(
        db,
        storage.AuditAction.RETRIEVED,
        user=user,
        study_id=first.study_id if first else None,
        details={
            "source": f"{source.ae_title}@{source.host}:{source.port}",
            "instances": report.n_received,
            "refused": report.n_refused,
            "series": len(report.series),
            "cancelled": report.cancelled,
        },
    )
    return registered
