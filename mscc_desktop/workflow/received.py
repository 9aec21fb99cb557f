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
from mscc_desktop.core.volume import SeriesInfo
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
    # Complete but not registered (``poll(register=False)``): scan them off the store's
    # thread (:func:`scan_arrival`), then :meth:`ReceiveSession.register` each on it.
    complete: list[SeriesArrival] = field(default_factory=list)
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
        self,
        events: list[ReceiverEvent],
        *,
        now_s: float | None = None,
        flush: bool = False,
        register: bool = True,
    ) -> PollResult:
        """Record ``events`` and register the series complete by ``now_s`` (all if ``flush``).

        With ``register=False`` the complete series are returned in ``complete`` instead, for
        the caller to scan in a worker and hand back to :meth:`register`.
        """
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
        complete = pending + self.tracker.complete(now_s, flush=flush)
        if not register:
            result.complete = complete
            return result
        for arrival in complete:
            try:
                registered = register_received_series(self.db, arrival, user=self.user)
            except StoreError as error:
                logger.warning("a received series could not be registered yet: %s", error)
                self._unregistered.append(arrival)
                continue
            result.registered.append(registered)
        return result

    def register(self, scanned: ScannedArrival) -> RegisteredSeries | None:
        """Register a scanned arrival; ``None`` (kept for the next poll) when the store
        cannot take it yet."""
        try:
            return register_scanned(self.db, scanned, user=self.user)
        except StoreError as error:
            logger.warning("a received series could not be registered yet: %s", error)
            self._unregistered.append(scanned.arrival)
            return None

    def recover(self, root: Path) -> int:
        """Queue the series folders in the managed folder ``root`` that the store does not
        know (the app stopped after receiving them and before they went quiet); the next
        poll registers them, flagged as possibly incomplete (so never analysed automatically).
        Returns how many were found."""
        found = unregistered_series(self.db, root)
        self._unregistered.extend(found)
        if found:
            logger.warning(
                "found %d received series never registered; registering them", len(found)
            )
        return len(found)

    def requeue(self, arrivals: list[SeriesArrival]) -> None:
        """Complete series handed out by ``poll(register=False)`` and not registered (their
        scan was abandoned): the next poll returns or registers them again."""
        self._unregistered.extend(arrivals)

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


@dataclass(frozen=True, slots=True)
class ScannedVolume:
    """One volume a header scan found in a received series folder, ready to register."""

    info: SeriesInfo
    source_path: Path
    fingerprint: str
    n_files: int
    part: str
    analysable: bool


@dataclass(frozen=True, slots=True)
class ScannedArrival:
    """A complete series folder after its header scan: no store was touched to make it."""

    arrival: SeriesArrival
    volumes: tuple[ScannedVolume, ...]
    n_skipped: int


def unregistered_series(db: Database, root: Path) -> list[SeriesArrival]:
    """Series folders under the managed folder ``root`` holding received files that the store
    has not registered, as arrivals marked ``interrupted`` (nobody knows whether they were
    complete)."""
    from mscc_desktop.network.managed_folder import INCOMING_FOLDER

    root = Path(root)
    if not root.is_dir():
        return []
    known = {p.resolve() for p in storage.known_source_folders(db)}
    found: list[SeriesArrival] = []
    for study in sorted(p for p in root.iterdir() if p.is_dir() and p.name != INCOMING_FOLDER):
        for series in sorted(p for p in study.iterdir() if p.is_dir()):
            files = list(series.glob("*.dcm"))
            if not files or series.resolve() in known:
                continue
            found.append(
                SeriesArrival(
                    study_folder=study,
                    series_folder=series,
                    n_instances=len(files),
                    n_bytes=sum(f.stat().st_size for f in files),
                    calling_ae="",
                    first_s=0.0,
                    last_s=0.0,
                    interrupted=True,
                )
            )
    return found


def scan_arrival(arrival: SeriesArrival) -> ScannedArrival:
    """Scan a complete series folder's headers and fingerprint its volumes.

    The slow half of registering (it reads every file's header), kept apart so that the
    workstation runs it in a worker while its GUI thread, which owns the store, stays free.
    """
    from mscc_desktop.core.dicom import scan_folder

    scan = scan_folder(arrival.series_folder, workers=1)
    volumes = []
    for entry in scan.series:
        files = sorted(set(entry.files))
        if files:
            volumes.append(
                ScannedVolume(
                    entry.info,
                    storage.source_folder(files),
                    storage.fingerprint_files(files),
                    len(files),
                    entry.split_note,
                    entry.analysable,
                )
            )
    return ScannedArrival(arrival, tuple(volumes), len(scan.skipped))


def register_scanned(db: Database, scanned: ScannedArrival, *, user: str = "") -> RegisteredSeries:
    """Register every volume of a scanned arrival (a split series gives several rows, as when
    the folder is opened), with one ``SERIES_RECEIVED`` audit row saying how many instances
    came, from whom, and whether the association was aborted while they came."""
    arrival = scanned.arrival
    records: list[storage.SeriesRecord] = []
    analysable: list[Path] = []
    for volume in scanned.volumes:
        record = storage.upsert_series(
            db,
            volume.info,
            source_path=volume.source_path,
            fingerprint=volume.fingerprint,
            n_files=volume.n_files,
            part=volume.part,
            user=user,
        )
        records.append(record)
        if volume.analysable and record.source_path not in analysable:
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
            "skipped_files": scanned.n_skipped,
        },
    )
    if arrival.interrupted:
        logger.warning(
            "a series was received over an association that was aborted; it may be incomplete"
        )
    return RegisteredSeries(arrival, tuple(records), tuple(analysable))


def register_received_series(
    db: Database, arrival: SeriesArrival, *, user: str = ""
) -> RegisteredSeries:
    """:func:`scan_arrival` then :func:`register_scanned`, on the thread that owns ``db``."""
    return register_scanned(db, scan_arrival(arrival), user=user)


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
