"""DICOM peers for the network GUI tests: a PACS (a second listener), a closed port, an SCU."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6 import QtWidgets

from mscc_desktop.network import (
    ListenerSettings,
    NetworkSettings,
    ReceiverEvent,
    ReceiverEventKind,
    RemoteNode,
    SendReport,
    StorageReceiver,
    save_network_settings,
    send_files,
)
from tests.gui.conftest import WindowFactory

SCU_AE = "TEST_SCU"


def listener_settings(**changes: object) -> ListenerSettings:
    """The workstation's listener on any free local port, quick to call a series complete."""
    values: dict[str, object] = dict(
        enabled=True, port=0, bind_address="127.0.0.1", quiet_seconds=0.2, reserve_free_mb=0
    )
    values.update(changes)
    return ListenerSettings(**values)  # type: ignore[arg-type]


def save_settings(windows: WindowFactory, settings: NetworkSettings) -> None:
    save_network_settings(settings, windows.data_dir)


@contextmanager
def pacs(root: Path, *, ae_title: str = "PACS") -> Iterator[tuple[StorageReceiver, RemoteNode]]:
    """A second Storage SCP standing in for the hospital PACS, and its destination entry."""
    receiver = StorageReceiver(listener_settings(ae_title=ae_title), root)
    receiver.start()
    try:
        yield receiver, RemoteNode("PACS", ae_title, "127.0.0.1", receiver.port)
    finally:
        receiver.stop()


def stored_instances(receiver: StorageReceiver) -> list[ReceiverEvent]:
    """What ``receiver`` stored since last asked."""
    return [e for e in receiver.events() if e.kind is ReceiverEventKind.INSTANCE_STORED]


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_study(folder: Path, port: int, *, calling_ae: str = SCU_AE) -> SendReport:
    """C-STORE every file of ``folder`` to the workstation (as a scanner or PACS would)."""
    workstation = RemoteNode("workstation", "MSCC_DESKTOP", "127.0.0.1", port)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return send_files(files, workstation, calling_ae=calling_ae, retries=0)


def visible_message_boxes(window: QtWidgets.QWidget) -> list[QtWidgets.QMessageBox]:
    return [b for b in window.findChildren(QtWidgets.QMessageBox) if b.isVisible()]
