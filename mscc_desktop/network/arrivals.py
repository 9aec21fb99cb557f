"""When is a received series complete? After a quiet time with no new instance of it.

DICOM has no "end of series" message: PACS and scanners send a series over one or several
associations, sometimes hours apart. :class:`ArrivalTracker` counts instances per series folder
and calls a series complete once ``quiet_seconds`` passed without a new one. A series whose
association was aborted while it was arriving is marked ``interrupted``: its whole instances are
kept (each was written atomically), but the reader is told it may be incomplete and it is never
analysed automatically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mscc_desktop.network.receiver import ReceiverEvent, ReceiverEventKind


@dataclass(frozen=True, slots=True)
class SeriesArrival:
    """A series that is arriving (``complete`` False) or has gone quiet (True)."""

    study_folder: Path
    series_folder: Path
    n_instances: int
    n_bytes: int
    calling_ae: str
    first_s: float  # monotonic
    last_s: float
    interrupted: bool = False


@dataclass
class _Arriving:
    study_folder: Path
    calling_ae: str
    first_s: float
    last_s: float
    n_instances: int = 0
    n_bytes: int = 0
    associations: set[int] = field(default_factory=set)
    interrupted: bool = False


class ArrivalTracker:
    """Feed it the receiver's events; ask it which series are complete."""

    def __init__(self, quiet_seconds: float) -> None:
        self.quiet_seconds = float(quiet_seconds)
        self._arriving: dict[Path, _Arriving] = {}

    def add(self, events: list[ReceiverEvent]) -> None:
        for event in events:
            if event.kind is ReceiverEventKind.INSTANCE_STORED and event.series_folder:
                entry = self._arriving.get(event.series_folder)
                if entry is None:
                    entry = _Arriving(
                        study_folder=event.study_folder or event.series_folder.parent,
                        calling_ae=event.calling_ae,
                        first_s=event.monotonic_s,
                        last_s=event.monotonic_s,
                    )
                    self._arriving[event.series_folder] = entry
                entry.n_instances += 1
                entry.n_bytes += event.n_bytes
                entry.last_s = max(entry.last_s, event.monotonic_s)
                entry.associations.add(event.association)
            elif event.kind is ReceiverEventKind.ASSOCIATION_ABORTED:
                for entry in self._arriving.values():
                    if event.association in entry.associations:
                        entry.interrupted = True

    def arriving(self) -> list[SeriesArrival]:
        """Series still arriving, oldest first."""
        return [self._arrival(folder, entry) for folder, entry in self._sorted()]

    def complete(self, now_s: float | None = None, *, flush: bool = False) -> list[SeriesArrival]:
        """Series quiet for ``quiet_seconds`` (every series when ``flush``), removed from the
        tracker; an instance arriving later starts a new arrival of the same folder."""
        now = time.monotonic() if now_s is None else now_s
        done: list[SeriesArrival] = []
        for folder, entry in self._sorted():
            if flush or now - entry.last_s >= self.quiet_seconds:
                done.append(self._arrival(folder, entry))
                del self._arriving[folder]
        return done

    def _sorted(self) -> list[tuple[Path, _Arriving]]:
        return sorted(self._arriving.items(), key=lambda item: item[1].first_s)

    @staticmethod
    def _arrival(folder: Path, entry: _Arriving) -> SeriesArrival:
        return SeriesArrival(
            study_folder=entry.study_folder,
            series_folder=folder,
            n_instances=entry.n_instances,
            n_bytes=entry.n_bytes,
            calling_ae=entry.calling_ae,
            first_s=entry.first_s,
            last_s=entry.last_s,
            interrupted=entry.interrupted,
        )
