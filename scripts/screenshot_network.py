"""Screenshots of the DICOM network in the workstation: its settings and a study's send log.

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshot_network.py [--out docs/images]

Starts a stand-in PACS on a free local port (a pynetdicom Storage SCP called PACS_MAIN that,
like many PACS, does not take Encapsulated PDF: it answers 0x0122 "SOP class not supported"),
configures it as a destination and saves:

* ``gui_network_settings.png`` — PACS › Network settings: the Listener tab beside the
  Destinations tab, after Echo of the PACS;
* ``gui_send_log.png`` — the demo study analysed and sent to the PACS, with the study's send
  log open over the window: the key images, KOS and SR sent, the PDF failed after its retries.

The demo study is analysed by the ground truth of the synthetic generator on the real
pipeline (``screenshot_gui.GroundTruthServices``), so no trained model is needed. Qt renders
offscreen when ``DISPLAY`` is not set; the dialogs are drawn over the window with QPainter, so
the pictures are the same with or without a window manager.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402
from screenshot_gui import GroundTruthServices, wait_for  # noqa: E402

from mscc_desktop.core.config import AppConfig  # noqa: E402
from mscc_desktop.gui import pacs_send  # noqa: E402
from mscc_desktop.gui.app import application, create_main_window  # noqa: E402
from mscc_desktop.gui.main_window import MainWindow  # noqa: E402
from mscc_desktop.gui.network_settings import BUTTON_COLUMN  # noqa: E402
from mscc_desktop.network import (  # noqa: E402
    ListenerSettings,
    NetworkSettings,
    RemoteNode,
    save_network_settings,
)

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SOP_CLASS_NOT_SUPPORTED = 0x0122


def start_pacs() -> tuple[Any, int]:
    """A Storage SCP as PACS_MAIN on a free local port that refuses Encapsulated PDF."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title="PACS_MAIN")
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)

    def on_store(event: Any) -> int:
        if str(event.request.AffectedSOPClassUID) == ENCAPSULATED_PDF:
            return SOP_CLASS_NOT_SUPPORTED
        return 0x0000

    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    return server, int(server.server_address[1])


def listener_port() -> int:
    """11112 (the usual DICOM port) when it is free here, else any free port."""
    for port in (11112, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port")


def settle(app: QtWidgets.QApplication, rounds: int = 20) -> None:
    for _ in range(rounds):
        app.processEvents()


TITLE_HEIGHT = 26


def framed(dialog: QtGui.QPixmap, title: str) -> QtGui.QPixmap:
    """``dialog`` with a title bar and a frame, as a window manager would show it."""
    canvas = QtGui.QPixmap(dialog.width() + 2, dialog.height() + TITLE_HEIGHT + 2)
    canvas.fill(QtGui.QColor("#5A5D63"))
    painter = QtGui.QPainter(canvas)
    bar = QtCore.QRect(1, 1, dialog.width(), TITLE_HEIGHT)
    painter.fillRect(bar, QtGui.QColor("#2B2D31"))
    painter.setPen(QtGui.QColor("#E6E6E6"))
    painter.drawText(bar.adjusted(10, 0, 0, 0), QtCore.Qt.AlignmentFlag.AlignVCenter, title)
    painter.drawPixmap(1, TITLE_HEIGHT + 1, dialog)
    painter.end()
    return canvas


def side_by_side(images: list[QtGui.QPixmap], gap: int = 24) -> QtGui.QPixmap:
    width = sum(i.width() for i in images) + gap * (len(images) + 1)
    height = max(i.height() for i in images) + 2 * gap
    canvas = QtGui.QPixmap(width, height)
    canvas.fill(QtGui.QColor("#101113"))
    painter = QtGui.QPainter(canvas)
    x = gap
    for image in images:
        painter.drawPixmap(x, gap, image)
        x += image.width() + gap
    painter.end()
    return canvas


def over_window(window: QtGui.QPixmap, dialog: QtGui.QPixmap, at: QtCore.QPoint) -> QtGui.QPixmap:
    """``dialog`` (framed) drawn over ``window`` at ``at`` with a shadow."""
    canvas = QtGui.QPixmap(window)
    painter = QtGui.QPainter(canvas)
    painter.fillRect(QtCore.QRect(at, dialog.size()).translated(8, 8), QtGui.QColor(0, 0, 0, 150))
    painter.drawPixmap(at, dialog)
    painter.end()
    return canvas


def network_settings_shot(app: QtWidgets.QApplication, window: MainWindow, out: Path) -> bool:
    network = window.network
    network.edit_settings()
    dialog = network.settings_dialog
    assert dialog is not None
    dialog.resize(820, 470)
    settle(app)
    listener = framed(dialog.grab(), dialog.windowTitle())
    dialog.tabs.setCurrentIndex(1)
    button = dialog.table.cellWidget(0, BUTTON_COLUMN)
    assert isinstance(button, QtWidgets.QPushButton)
    runner = dialog.echo_runner("PACS")
    wait_for(runner.finished, 30, button.click)
    dialog.table.selectRow(0)
    settle(app)
    destinations = framed(dialog.grab(), dialog.windowTitle())
    side_by_side([listener, destinations]).save(str(out / "gui_network_settings.png"))
    echoed = dialog.table.item(0, 5).text()
    print(f"echo of the PACS: {echoed}")
    dialog.reject()
    return echoed.startswith("OK")


def send_log_shot(app: QtWidgets.QApplication, window: MainWindow, out: Path) -> bool:
    controller = window.controller
    wait_for(controller.series_opened, 600, controller.open_demo, error=controller.error)
    if window.state.volume is None:
        print("could not open the demo study", file=sys.stderr)
        return False
    if controller.analysis.busy or window.state.findings is None:
        wait_for(controller.analysis.finished, 900, controller.analyse, error=controller.error)
    if window.state.findings is None:
        print("the demo study was not analysed", file=sys.stderr)
        return False
    table = window.findings.table
    if table.topLevelItemCount():
        table.setCurrentItem(table.topLevelItem(0))  # high grade first: its key slice
    network = window.network
    node = network.settings.destinations[0]
    wait_for(
        network.sending.sent,
        120,
        lambda: network.sending.start(pacs_send.SendRequest(node), network.settings),
        error=controller.error,
    )
    box = network.result_box
    if box is not None:
        print(box.text())
        print(box.informativeText())
        box.done(0)
    network.show_send_log()
    log = network.send_log_dialog
    assert log is not None
    log.resize(1180, 290)
    settle(app)
    rows = log.table.topLevelItemCount()
    shot = over_window(window.grab(), framed(log.grab(), log.windowTitle()), QtCore.QPoint(60, 565))
    shot.save(str(out / "gui_send_log.png"))
    statuses = [log.table.topLevelItem(r).text(4) for r in range(rows)]
    print(
        f"send log: {rows} rows, {statuses.count('sent')} sent, {statuses.count('failed')} failed"
    )
    return statuses.count("failed") == 1 and statuses.count("sent") >= 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="mscc-shots-"))
    os.environ["MSCC_DATA_DIR"] = str(data)
    pacs_send.SEND_BACKOFF_S = 0.5  # the refused PDF is retried as in the app, just sooner
    server, pacs_port = start_pacs()
    settings = NetworkSettings(
        listener=ListenerSettings(
            enabled=True,
            ae_title="MSCC_READING1",
            port=listener_port(),
            allowed_ae_titles=("PACS_MAIN", "CT_SOMATOM_2"),
            allowed_addresses=("127.0.0.1", "10.20.0.0/16"),
            quiet_seconds=10.0,
            analyse_when_complete=True,
            reserve_free_mb=2048,
        ),
        destinations=(
            RemoteNode("PACS", "PACS_MAIN", "127.0.0.1", pacs_port),
            RemoteNode("Research archive", "RESEARCH_ARC", "10.20.4.31", 11112),
        ),
    )
    save_network_settings(settings, data)
    config = AppConfig.default().with_changes(data_dir=data, db_path=data / "store.sqlite")
    app = application()
    qsettings = QtCore.QSettings(str(data / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    qsettings.setValue("reader/user_name", "Dr Demo")
    window: MainWindow = create_main_window(
        config, services=GroundTruthServices(config), qsettings=qsettings
    )
    window.resize(1600, 950)
    window.show()
    window.controller.error.connect(
        lambda title, e: print(f"{title}: {getattr(e, 'message', e)!r}", file=sys.stderr)
    )
    settle(app)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        settings_ok = network_settings_shot(app, window, args.out)
        log_ok = send_log_shot(app, window, args.out)
    finally:
        window.close()
        QtWidgets.QApplication.processEvents()
        server.shutdown()
    print(f"saved gui_network_settings.png and gui_send_log.png in {args.out}")
    return 0 if settings_ok and log_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
