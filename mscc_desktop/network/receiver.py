"""Receive studies: a Storage SCP and Verification SCP (C-ECHO) built on pynetdicom.

:class:`StorageReceiver` runs pynetdicom's threaded server. Its handlers never touch the
store or the GUI: they write each instance atomically into the managed folder
(:mod:`.managed_folder`) and put a :class:`ReceiverEvent` on a queue. The thread that owns the
store (the GUI thread, or ``mscc-desktop listen``'s loop) drains :meth:`StorageReceiver.events`
and records them (see :mod:`mscc_desktop.workflow.received`).

Callers are checked twice: by address before the association is read (a refused connection is
closed at once) and by calling AE title during negotiation (an A-ASSOCIATE-RJ, "calling AE
title not recognised"). Both go on the queue as ``ASSOCIATION_REJECTED`` for the audit trail.
Instances are stored exactly as the peer encoded them (every transfer syntax is accepted), so
a received file holds the sender's bytes.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from mscc_desktop.core.errors import NetworkError
from mscc_desktop.network.managed_folder import (
    NotEnoughSpaceError,
    clear_incoming,
    instance_place,
    write_instance,
)
from mscc_desktop.network.nodes import ListenerSettings, TlsSettings

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_PROCESSING_FAILURE = 0x0110


class ReceiverEventKind(StrEnum):
    ASSOCIATION_ACCEPTED = "association_accepted"
    ASSOCIATION_REJECTED = "association_rejected"
    ASSOCIATION_RELEASED = "association_released"
    ASSOCIATION_ABORTED = "association_aborted"
    ECHO = "echo"
    INSTANCE_STORED = "instance_stored"
    INSTANCE_REFUSED = "instance_refused"


@dataclass(frozen=True, slots=True)
class ReceiverEvent:
    """One thing that happened on the listener. Holds no patient data (UIDs are hashed
    into folder names only when they are not plain UIDs; names are never read)."""

    kind: ReceiverEventKind
    association: int  # a number per association, 0 for a connection refused by address
    calling_ae: str
    address: str
    monotonic_s: float
    reason: str = ""
    study_folder: Path | None = None
    series_folder: Path | None = None
    file: Path | None = None
    sop_class_uid: str = ""
    n_bytes: int = 0
    replaced: bool = False  # the instance was received before with different content


class StorageReceiver:
    """The workstation's listener. ``start()`` binds the port; ``stop()`` closes it.

    Parameters
    ----------
    settings
        AE title, port, allow-lists and the free-space reserve (checked here).
    root
        The managed folder received studies are written into.
    tls
        Optional TLS settings; plain TCP when they are not enabled.
    """

    def __init__(
        self, settings: ListenerSettings, root: Path, *, tls: TlsSettings | None = None
    ) -> None:
        self.settings = settings.checked()
        self.root = Path(root)
        self._tls = tls or TlsSettings()
        self._queue: queue.SimpleQueue[ReceiverEvent] = queue.SimpleQueue()
        self._numbers = itertools.count(1)
        self._assoc_numbers: dict[int, int] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (the real one when the settings asked for port 0)."""
        if self._server is None:
            return self.settings.port
        return int(self._server.server_address[1])

    def start(self) -> None:
        from pynetdicom import AE, evt
        from pynetdicom.transport import ThreadedAssociationServer

        if self._server is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        removed = clear_incoming(self.root)
        if removed:
            logger.info("removed %d partial file(s) left by an interrupted receive", removed)
        ae = AE(ae_title=self.settings.ae_title)
        _add_storage_contexts(ae)
        ae.require_calling_aet = list(self.settings.allowed_ae_titles)
        ae.maximum_pdu_size = 0  # no limit: fewer, larger PDUs for big images
        receiver = self

        class _CheckedServer(ThreadedAssociationServer):  # type: ignore[misc]
            def verify_request(self, request: Any, client_address: Any) -> bool:
                return receiver._address_allowed(str(client_address[0]))

        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_ACCEPTED, self._on_association(ReceiverEventKind.ASSOCIATION_ACCEPTED)),
            (evt.EVT_REJECTED, self._on_association(ReceiverEventKind.ASSOCIATION_REJECTED)),
            (evt.EVT_RELEASED, self._on_association(ReceiverEventKind.ASSOCIATION_RELEASED)),
            (evt.EVT_ABORTED, self._on_association(ReceiverEventKind.ASSOCIATION_ABORTED)),
        ]
        try:
            server = ae.make_server(
                (self.settings.bind_address, self.settings.port),
                ae_title=self.settings.ae_title,
                ssl_context=self._tls.context(server=True),
                evt_handlers=handlers,
                server_class=_CheckedServer,
            )
        except OSError as error:
            raise NetworkError(
                f"The listener cannot use port {self.settings.port} on "
                f"{self.settings.bind_address} ({error.strerror or error}). Another program may "
                "hold it: choose another port in Settings > Network."
            ) from error
        ae._servers.append(server)  # as start_server() does: its shutdown() expects it there
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="dicom-listener", daemon=True
        )
        self._thread.start()
        logger.info("listening as %s on port %d", self.settings.ae_title, self.port)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("listener stopped")

    def __enter__(self) -> StorageReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self) -> list[ReceiverEvent]:
        """Everything that happened since the last call (thread-safe, never blocks)."""
        drained: list[ReceiverEvent] = []
        while True:
            try:
                drained.append(self._queue.get_nowait())
            except queue.Empty:
                return drained

    # -- handlers (run on pynetdicom's threads) ---------------------------------------------

    def _number(self, assoc: Any) -> int:
        with self._lock:
            key = id(assoc)
            if key not in self._assoc_numbers:
                self._assoc_numbers[key] = next(self._numbers)
            return self._assoc_numbers[key]

    def _emit(self, kind: ReceiverEventKind, assoc: Any, **values: Any) -> None:
        requestor = assoc.requestor if assoc is not None else None
        self._queue.put(
            ReceiverEvent(
                kind=kind,
                association=self._number(assoc) if assoc is not None else 0,
                calling_ae=str(getattr(requestor, "ae_title", "") or "").strip(),
                address=str(getattr(requestor, "address", "") or ""),
                monotonic_s=time.monotonic(),
                **values,
            )
        )

    def _address_allowed(self, address: str) -> bool:
        if self.settings.address_allowed(address):
            return True
        self._queue.put(
            ReceiverEvent(
                kind=ReceiverEventKind.ASSOCIATION_REJECTED,
                association=0,
                calling_ae="",
                address=address,
                monotonic_s=time.monotonic(),
                reason="address not allowed",
            )
        )
        logger.warning("refused a connection from an address not on the allow-list")
        return False

    def _on_association(self, kind: ReceiverEventKind) -> Any:
        def handler(event: Any) -> None:
            reason = ""
            if kind is ReceiverEventKind.ASSOCIATION_REJECTED:
                reason = "calling AE title not allowed"
            self._emit(kind, event.assoc, reason=reason)
            if kind in (
                ReceiverEventKind.ASSOCIATION_RELEASED,
                ReceiverEventKind.ASSOCIATION_ABORTED,
                ReceiverEventKind.ASSOCIATION_REJECTED,
            ):
                with self._lock:
                    self._assoc_numbers.pop(id(event.assoc), None)

        return handler

    def _on_echo(self, event: Any) -> int:
        self._emit(ReceiverEventKind.ECHO, event.assoc)
        return STATUS_SUCCESS

    def _on_store(self, event: Any) -> int:
        try:
            ds = event.dataset
            study_uid = str(ds.get("StudyInstanceUID", ""))
            series_uid = str(ds.get("SeriesInstanceUID", ""))
            sop_uid = str(event.request.AffectedSOPInstanceUID or ds.get("SOPInstanceUID", ""))
            sop_class = str(event.request.AffectedSOPClassUID or "")
            data = event.encoded_dataset(include_meta=True)
        except Exception as error:  # noqa: BLE001 - the handler boundary: a bad dataset must not end the SCP
            self._emit(
                ReceiverEventKind.INSTANCE_REFUSED,
                event.assoc,
                reason=f"dataset could not be read ({error.__class__.__name__})",
            )
            return STATUS_CANNOT_UNDERSTAND
        place = instance_place(self.root, study_uid, series_uid, sop_uid)
        try:
            replaced = write_instance(
                data, place, self.root, reserve_bytes=self.settings.reserve_free_mb << 20
            )
        except NotEnoughSpaceError as error:
            self._emit(ReceiverEventKind.INSTANCE_REFUSED, event.assoc, reason=error.message)
            return STATUS_OUT_OF_RESOURCES
        except OSError as error:
            self._emit(
                ReceiverEventKind.INSTANCE_REFUSED,
                event.assoc,
                reason=f"could not be written ({error.strerror or error.__class__.__name__})",
            )
            return STATUS_OUT_OF_RESOURCES
        self._emit(
            ReceiverEventKind.INSTANCE_STORED,
            event.assoc,
            study_folder=place.study_folder,
            series_folder=place.series_folder,
            file=place.file,
            sop_class_uid=sop_class,
            n_bytes=len(data),
            replaced=replaced,
        )
        return STATUS_SUCCESS


def _add_storage_contexts(ae: Any) -> None:
    """Every storage SOP class in every transfer syntax, plus Verification."""
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
