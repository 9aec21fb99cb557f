"""The listener in the running workstation: a scanner or PACS sends, the reader sees it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from mscc_desktop import storage
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.network import NetworkSettings
from tests.gui.conftest import WindowFactory
from tests.gui.fakes import write_phantom_study
from tests.gui.network_helpers import (
    SCU_AE,
    listener_settings,
    save_settings,
    send_study,
    visible_message_boxes,
)

Button = QtCore.Qt.MouseButton


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_phantom_study(tmp_path / "study", n_slices=24, size=64, seed="received")


def listening(windows: WindowFactory, qtbot, **changes: object) -> tuple[MainWindow, int]:  # type: ignore[no-untyped-def]
    save_settings(windows, NetworkSettings(listener=listener_settings(**changes)))
    window = windows.open()
    qtbot.waitUntil(lambda: window.network.listener.port is not None)
    port = window.network.listener.port
    assert port
    return window, port


def audit_actions(window: MainWindow) -> list[str]:
    db = window.controller.db
    assert db is not None
    return [e.action.value for e in storage.audit_entries(db)]


def test_a_received_series_appears_in_the_study_browser(
    windows: WindowFactory, qtbot, study: Path
) -> None:  # type: ignore[no-untyped-def]
    window, port = listening(windows, qtbot)
    assert window.network.listener_label.text() == f"DICOM: port {port}"
    assert window.browser.entries == []
    report = send_study(study, port)
    assert report.n_sent == 24 and report.n_failed == 0
    qtbot.waitUntil(lambda: len(window.browser.entries) == 1, timeout=10_000)
    entry = window.browser.entries[0]
    assert entry.patient_id == "SYN-0001"
    assert entry.source_paths and Path(entry.source_paths[0]).is_relative_to(
        windows.data_dir / "received"
    )
    assert window.browser.table.topLevelItem(0).text(5) == "not analysed"
    assert window.state.volume is None, "not opened: 'analyse when complete' is off"
    actions = audit_actions(window)
    assert "association_accepted" in actions and "series_received" in actions
    qtbot.waitUntil(lambda: not window.network.receiving_label.isVisible())


def test_a_series_still_arriving_is_shown_and_kept_when_the_app_closes(
    windows: WindowFactory, qtbot, study: Path
) -> None:  # type: ignore[no-untyped-def]
    window, port = listening(windows, qtbot, quiet_seconds=600)
    send_study(study, port)
    label = window.network.receiving_label
    qtbot.waitUntil(label.isVisible, timeout=5_000)
    assert label.text() == f"Receiving 24 instances from {SCU_AE}…"
    assert window.browser.entries == []  # not complete yet: not in the store
    window.close()  # stops the listener, registering what it received
    again = windows.open()
    assert [e.patient_id for e in again.browser.entries] == ["SYN-0001"]
    assert "series_received" in audit_actions(again)


def test_a_refused_caller_is_a_notice_not_a_dialog(
    windows: WindowFactory, qtbot, study: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    window, port = listening(windows, qtbot, allowed_ae_titles=("PACS_MAIN",))
    report = send_study(study, port, calling_ae="INTRUDER")
    assert report.n_sent == 0
    notice = window.network.notice_label
    qtbot.waitUntil(notice.isVisible, timeout=5_000)
    assert notice.text() == "⚠ DICOM listener: Refused a caller (calling AE title not allowed)"
    assert "allow-lists under PACS › Network settings" in notice.toolTip()
    assert [d for d in window.findChildren(QtWidgets.QDialog) if d.isVisible()] == []
    assert "listener refused" in caplog.text
    assert "SYN-0001" not in caplog.text and "PHANTOM" not in caplog.text
    assert "association_rejected" in audit_actions(window)
    assert window.browser.entries == []


def test_a_received_series_is_analysed_but_never_replaces_the_open_study(
    windows: WindowFactory, qtbot, study: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window, port = listening(windows, qtbot, analyse_when_complete=True)
    send_study(study, port)
    # Nothing was open: the received series opens and is analysed.
    qtbot.waitUntil(lambda: window.state.findings is not None, timeout=30_000)
    first = window.state.volume
    assert first is not None and first.n_slices == 24
    assert windows.analyser.calls == 1

    second = write_phantom_study(tmp_path / "second", n_slices=30, size=64, seed="second")
    send_study(second, port)
    button = window.network.open_received_button
    qtbot.waitUntil(button.isVisible, timeout=10_000)
    assert len(window.browser.entries) == 2
    assert window.state.volume is first, "what the reader has open is never replaced"
    assert windows.analyser.calls == 1
    with qtbot.waitSignal(window.controller.analysis.finished, timeout=30_000):
        qtbot.mouseClick(button, Button.LeftButton)
    assert window.state.n_slices == 30 and window.state.findings is not None
    assert not button.isVisible()


def test_a_port_in_use_is_reported_and_the_app_keeps_running(
    windows: WindowFactory, qtbot, study: Path
) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        save_settings(windows, NetworkSettings(listener=listener_settings(port=port)))
        window = windows.open()
        qtbot.waitUntil(lambda: bool(visible_message_boxes(window)), timeout=5_000)
        box = visible_message_boxes(window)[0]
        assert box.windowTitle() == "The DICOM listener could not start"
        assert f"cannot use port {port} on 127.0.0.1" in box.text()
        assert "choose another port in Settings > Network" in box.text()
        box.close()
        assert window.network.listener_label.text() == "DICOM listener not running"
        assert not window.network.listener.running
    # The workstation still opens studies.
    with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
        window.controller.open_path(study)
    assert window.state.n_slices == 24
