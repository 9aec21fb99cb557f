"""The DICOM listener inside the running workstation.

:class:`StorageReceiver` runs pynetdicom's server on its own threads and only writes files and
queues events. Here a 500 ms :class:`QtCore.QTimer` on the GUI thread (which owns the store)
drains those events into a :class:`~mscc_desktop.workflow.ReceiveSession`: it writes the audit
rows; each series that went quiet has its headers scanned in a worker on the network pool
(reading a thousand headers must not freeze the window), then is registered on the GUI thread.
The window is told what arrived, what is still arriving and what was refused, through signals;
it decides what to show and open.
The Qt-free twin of this loop is ``mscc-desktop listen``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore
from sqlite_utils import Database

from mscc_desktop.core.errors import MsccError, NetworkError
from mscc_desktop.gui.workers import TaskRunner, network_pool
from mscc_desktop.network import NetworkSettings, SeriesArrival, StorageReceiver

if TYPE_CHECKING:
    from mscc_desktop.workflow import ReceiveSession, RegisteredSeries, ScannedArrival

logger = logging.getLogger(__name__)

POLL_INTERVAL_MS = 500


def arriving_text(arriving: list[SeriesArrival]) -> str:
    """The status-bar line for series still arriving ("" when none)."""
    if not arriving:
        return ""
    n = sum(a.n_instances for a in arriving)
    callers = sorted({a.calling_ae or "an unnamed caller" for a in arriving})
    return f"Receiving {n} instance{'' if n == 1 else 's'} from {', '.join(callers)}…"


class ListenerController(QtCore.QObject):
    """Starts, polls and stops the listener for one main window.

    Parameters
    ----------
    store
        Gives the store connection (``None`` when the store is not available) and the user
        name for the audit rows; called on the GUI thread.
    root
        The managed folder received studies are written into.
    """

    registered = QtCore.Signal(object)  # list[RegisteredSeries], series now in the store
    arriving_changed = QtCore.Signal(str)  # arriving_text(), "" when nothing is arriving
    refused = QtCore.Signal(str)  # why a caller or an instance was refused (no patient data)
    state_changed = QtCore.Signal(str)  # "Listening as … on port …", "" when off
    failed = QtCore.Signal(str, object)  # title, error (for the error boundary)

    def __init__(
        self,
        store: Callable[[], tuple[Database | None, str]],
        root: Path,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self.root = Path(root)
        self.receiver: StorageReceiver | None = None
        self.session: ReceiveSession | None = None
        self.state = ""
        self._arriving = ""
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(POLL_INTERVAL_MS)
        self.timer.timeout.connect(self.poll)
        # Complete series waiting for their header scan, and the worker that scans them.
        self._ready: list[SeriesArrival] = []
        self._scanning: list[SeriesArrival] = []
        self.scanner = TaskRunner(network_pool(), self)
        self.scanner.succeeded.connect(self._on_scanned)
        self.scanner.failed.connect(lambda error: self.failed.emit("Receiving failed", error))

    @property
    def running(self) -> bool:
        return self.receiver is not None and self.receiver.running

    @property
    def port(self) -> int | None:
        """The bound port while running (the real one when the settings say 0)."""
        return self.receiver.port if self.running and self.receiver else None

    def apply(self, settings: NetworkSettings) -> None:
        """Stop the running listener (registering what it received) and start the new one."""
        self.stop()
        listener = settings.listener
        if not listener.enabled:
            self._set_state("")
            return
        db, user = self._store()
        if db is None:
            self._set_state("DICOM listener not running")
            self.failed.emit(
                "The DICOM listener could not start",
                MsccError(
                    "Received studies are registered in the results store, which is not "
                    "available. Fix the store problem shown at start-up, then restart."
                ),
            )
            return
        try:
            receiver = StorageReceiver(listener, self.root, tls=settings.tls)
            receiver.start()
        except (NetworkError, OSError) as error:
            self._set_state("DICOM listener not running")
            if isinstance(error, OSError):
                error = NetworkError(
                    f"The listener could not prepare its folder {self.root} "
                    f"({error.strerror or error.__class__.__name__}). Check that it is "
                    "writable, then save the network settings again."
                )
            self.failed.emit("The DICOM listener could not start", error)
            return
        # Imported here: the workflow package brings the reporting layer (reportlab,
        # highdicom), which start-up leaves out while the listener is off.
        from mscc_desktop.workflow import ReceiveSession

        self.receiver = receiver
        self.session = ReceiveSession(db, quiet_seconds=listener.quiet_seconds, user=user)
        # Series received before the app stopped, but never registered: the next poll scans
        # and registers them, marked possibly incomplete (never analysed automatically).
        self.session.recover(self.root)
        self.timer.start()
        tls = " (TLS)" if settings.tls.enabled else ""
        self._set_state(f"Listening as {receiver.settings.ae_title} on port {receiver.port}{tls}")

    def poll(self, *, flush: bool = False) -> None:
        """Record the listener's events; register complete series (all of them if ``flush``)."""
        if self.receiver is None or self.session is None:
            return
        self.session.user = self._store()[1]  # the reader may have changed their name
        try:
            # On stop (flush) everything is registered here and now: the window is closing.
            result = self.session.poll(self.receiver.events(), flush=flush, register=flush)
        except (MsccError, OSError) as error:
            logger.error("recording received instances failed: %s", type(error).__name__)
            self.failed.emit("Receiving failed", error)
            return
        for reason, count in Counter(result.refused).items():  # a full disk refuses many
            logger.warning("listener refused %d time(s): %s", count, reason)
            self.refused.emit(reason)
        self._report(list(result.registered))
        self._ready.extend(result.complete)
        if self._ready and not self.scanner.busy:
            batch, self._ready = self._ready, []
            self._scanning = batch
            from mscc_desktop.workflow import scan_arrival

            self.scanner.submit(lambda **_: [scan_arrival(arrival) for arrival in batch])
        text = arriving_text(self.session.arriving())
        if text != self._arriving:
            self._arriving = text
            self.arriving_changed.emit(text)

    def _on_scanned(self, scanned: list[ScannedArrival]) -> None:
        self._scanning = []
        if self.session is None:
            return
        registered = [r for r in (self.session.register(s) for s in scanned) if r is not None]
        self._report(registered)

    def _report(self, registered: list[RegisteredSeries]) -> None:
        if registered:
            n = sum(r.arrival.n_instances for r in registered)
            logger.info("registered %d received series (%d instances)", len(registered), n)
            self.registered.emit(registered)

    def stop(self) -> None:
        """Close the port and register what arrived, so no received file is left unlisted.

        A series cut off by the stop is registered too; its audit row says it was
        interrupted, and it is never analysed automatically.
        """
        self.timer.stop()
        receiver = self.receiver
        if receiver is None:
            return
        receiver.stop()
        # Whatever waits for its scan, or is being scanned, is registered by the flush below
        # (a scan that finishes later finds no session and is dropped).
        self.scanner.cancel_all()
        if self.session is not None:
            self.session.requeue(self._scanning + self._ready)
        self._scanning, self._ready = [], []
        self.poll(flush=True)
        self.receiver = None
        self.session = None
        self._set_state("")

    def _set_state(self, text: str) -> None:
        self.state = text
        self.state_changed.emit(text)
