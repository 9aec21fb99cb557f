"""PACS › Network settings, driven as an administrator would: listener, destinations, Echo."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from mscc_desktop.gui.network_settings import (
    BUTTON_COLUMN,
    ECHO_COLUMN,
    DestinationDialog,
    NetworkSettingsDialog,
)
from mscc_desktop.gui.settings import SettingsDialog, UiSettings
from mscc_desktop.network import (
    ListenerSettings,
    NetworkSettings,
    RemoteNode,
    load_network_settings,
)
from tests.gui.conftest import WindowFactory
from tests.gui.network_helpers import closed_port, pacs

Button = QtCore.Qt.MouseButton


def open_dialog(window, qtbot) -> NetworkSettingsDialog:  # type: ignore[no-untyped-def]
    window.network.settings_action.trigger()
    dialog = window.network.settings_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def click_save(qtbot, dialog: NetworkSettingsDialog) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(dialog.save_button, Button.LeftButton)


def fill_destination_when_shown(qtbot, **fields: object) -> None:  # type: ignore[no-untyped-def]
    """Fill and accept the destination dialog that the next click opens (it is modal)."""

    def fill() -> None:
        dialog = QtWidgets.QApplication.activeModalWidget()
        assert isinstance(dialog, DestinationDialog)
        dialog.name_edit.setText(str(fields["name"]))
        dialog.ae_edit.setText(str(fields["ae_title"]))
        dialog.host_edit.setText(str(fields["host"]))
        dialog.port_spin.setValue(int(fields["port"]))  # type: ignore[call-overload]
        dialog.accept()

    QtCore.QTimer.singleShot(0, fill)


def test_settings_round_trip_and_an_invalid_ae_title_is_refused(
    windows: WindowFactory, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = windows.open()
    assert not window.network.listener.running  # off by default
    dialog = open_dialog(window, qtbot)
    assert not dialog.enabled_check.isChecked()
    assert dialog.status_label.text() == "The listener is off."

    fill_destination_when_shown(qtbot, name="PACS", ae_title="PACS_MAIN", host="10.0.0.5", port=104)
    qtbot.mouseClick(dialog.add_button, Button.LeftButton)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1)
    assert [dialog.table.item(0, c).text() for c in range(4)] == [
        "PACS",
        "PACS_MAIN",
        "10.0.0.5",
        "104",
    ]

    port = closed_port()
    dialog.enabled_check.setChecked(True)
    dialog.ae_edit.setText("READING\\ROOM")  # a backslash is not allowed in an AE title
    dialog.port_spin.setValue(port)
    dialog.bind_edit.setText("127.0.0.1")
    dialog.allowed_ae_edit.setText("PACS_MAIN, CT 2")
    dialog.allowed_addresses_edit.setText("127.0.0.1, 10.1.2.0/24")
    dialog.quiet_spin.setValue(5.0)
    dialog.analyse_check.setChecked(True)
    dialog.reserve_spin.setValue(512)
    click_save(qtbot, dialog)
    assert dialog.isVisible(), "a refused value keeps the dialog open"
    assert dialog.error_label.isVisible()
    assert "'READING\\\\ROOM' is not valid" in dialog.error_label.text()
    assert "without a backslash" in dialog.error_label.text()
    assert not (windows.data_dir / "network.json").exists(), "nothing is half-saved"

    dialog.ae_edit.setText("READING_1")
    click_save(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    expected = NetworkSettings(
        listener=ListenerSettings(
            enabled=True,
            ae_title="READING_1",
            port=port,
            bind_address="127.0.0.1",
            allowed_ae_titles=("PACS_MAIN", "CT 2"),
            allowed_addresses=("127.0.0.1", "10.1.2.0/24"),
            quiet_seconds=5.0,
            analyse_when_complete=True,
            reserve_free_mb=512,
        ),
        destinations=(RemoteNode("PACS", "PACS_MAIN", "10.0.0.5", 104),),
    )
    assert load_network_settings(windows.data_dir) == expected
    # Saving applies them: the listener runs on the new port, and the status bar says so.
    qtbot.waitUntil(lambda: window.network.listener.port == port)
    assert window.network.listener_label.text() == f"DICOM: port {port}"
    assert "READING_1" in window.network.listener_label.toolTip()

    again = open_dialog(window, qtbot)
    assert again is not dialog
    assert again.settings() == expected
    assert again.status_label.text() == f"Listening as READING_1 on port {port}"
    again.reject()


def test_a_destination_needs_a_valid_unique_entry(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = DestinationDialog(None, {"PACS"})
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("pacs")
    dialog.ae_edit.setText("ARCHIVE")
    dialog.host_edit.setText("10.0.0.9")
    dialog.accept()
    assert dialog.node() is None
    assert "already a destination called 'pacs'" in dialog.error_label.text()
    dialog.name_edit.setText("Archive")
    dialog.host_edit.setText("  ")
    dialog.accept()
    assert "has no host name or address" in dialog.error_label.text()
    dialog.host_edit.setText("10.0.0.9")
    dialog.accept()
    assert dialog.node() == RemoteNode("Archive", "ARCHIVE", "10.0.0.9", 104)


def test_echo_shows_the_round_trip_or_the_error(
    windows: WindowFactory, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = windows.open()
    with pacs(tmp_path / "pacs") as (_receiver, node):
        closed = RemoteNode("Old PACS", "OLD", "127.0.0.1", closed_port())
        dialog = open_dialog(window, qtbot)
        dialog.set_destinations([node, closed])
        for row in (0, 1):
            button = dialog.table.cellWidget(row, BUTTON_COLUMN)
            assert isinstance(button, QtWidgets.QPushButton) and button.text() == "Echo"
            qtbot.mouseClick(button, Button.LeftButton)
        qtbot.waitUntil(
            lambda: not {dialog.table.item(r, ECHO_COLUMN).text() for r in (0, 1)} & {"Echoing…"},
            timeout=20_000,
        )
        assert dialog.table.item(0, ECHO_COLUMN).text().startswith("OK · ")
        assert dialog.table.item(0, ECHO_COLUMN).toolTip().startswith("PACS answered the echo in")
        failed = dialog.table.item(1, ECHO_COLUMN)
        assert failed.text() == "Failed"
        assert failed.toolTip().startswith("Echo of Old PACS failed: ")
        assert "cannot be reached: check the host, port" in failed.toolTip()
        # The line under the table repeats whichever answer came last.
        assert dialog.echo_label.text() in {failed.toolTip(), dialog.table.item(0, 5).toolTip()}
    dialog.reject()
    assert not (windows.data_dir / "network.json").exists()  # Echo does not save


def test_tls_for_a_destination_needs_ca_certificates(
    windows: WindowFactory, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = windows.open()
    dialog = open_dialog(window, qtbot)
    dialog.set_destinations([RemoteNode("PACS", "PACS", "10.0.0.5", 2762, tls=True)])
    click_save(qtbot, dialog)
    assert "no CA certificates are configured" in dialog.error_label.text()
    dialog.ca_edit.setText(str(tmp_path / "missing-ca.pem"))
    click_save(qtbot, dialog)
    assert "TLS certificate files could not be read" in dialog.error_label.text()
    assert dialog.isVisible() and not (windows.data_dir / "network.json").exists()
    dialog.reject()


def test_a_damaged_settings_file_is_reported_not_replaced(windows: WindowFactory, qtbot) -> None:  # type: ignore[no-untyped-def]
    path = windows.data_dir / "network.json"
    path.write_text("{ not json")
    window = windows.open()
    qtbot.waitUntil(lambda: any(b.isVisible() for b in window.findChildren(QtWidgets.QMessageBox)))
    box = next(b for b in window.findChildren(QtWidgets.QMessageBox) if b.isVisible())
    assert box.windowTitle() == "Network settings not read"
    assert "Fix or delete the file" in box.text()
    box.close()
    assert path.read_text() == "{ not json"
    dialog = open_dialog(window, qtbot)
    assert dialog.problem_label.isVisible()
    assert "saving replaces the damaged file" in dialog.problem_label.text()
    click_save(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert json.loads(path.read_text())["listener"]["enabled"] is False


def test_settings_dialog_opens_the_network_settings(qtbot) -> None:  # type: ignore[no-untyped-def]
    opened: list[QtWidgets.QWidget] = []
    dialog = SettingsDialog(UiSettings(), network=opened.append)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.network_button, Button.LeftButton)
    assert opened == [dialog]
    assert not hasattr(SettingsDialog(UiSettings()), "network_button")
