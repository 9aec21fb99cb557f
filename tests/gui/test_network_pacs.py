"""Send to PACS, the send log and Search PACS, driven as a reader would."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from PySide6 import QtCore

from mscc_desktop import storage
from mscc_desktop.gui import pacs_send
from mscc_desktop.gui.export_ui import reporting_available
from mscc_desktop.gui.main_window import MainWindow
from mscc_desktop.gui.network_ui import SEND_NEEDS_ANALYSIS
from mscc_desktop.gui.pacs_query import name_query, study_date_query
from mscc_desktop.network import NetworkSettings, RemoteNode
from tests.gui.conftest import WindowFactory
from tests.gui.fakes import write_phantom_study
from tests.gui.network_helpers import closed_port, pacs, save_settings, stored_instances

Button = QtCore.Qt.MouseButton
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

needs_reporting = pytest.mark.skipif(
    not reporting_available(), reason="the reporting layer makes what is sent"
)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_phantom_study(tmp_path / "study", n_slices=40, size=128)


@pytest.fixture
def quick_retries(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pacs_send, "SEND_BACKOFF_S", 0.05)


def open_and_analyse(window: MainWindow, qtbot, folder: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
        window.controller.open_path(folder)
    with qtbot.waitSignal(window.controller.analysis.finished, timeout=30_000):
        window.analyse_action.trigger()


def send_with_the_dialog(window: MainWindow, qtbot, destination: str) -> None:  # type: ignore[no-untyped-def]
    window.network.send_action.trigger()
    dialog = window.network.send_dialog
    assert dialog is not None and dialog.isVisible()
    index = dialog.destination_combo.findText(destination, QtCore.Qt.MatchFlag.MatchStartsWith)
    assert index >= 0
    dialog.destination_combo.setCurrentIndex(index)
    with qtbot.waitSignal(window.network.sending.sent, timeout=60_000):
        qtbot.mouseClick(dialog.send_button, Button.LeftButton)


def send_log_rows(window: MainWindow) -> list[list[str]]:
    window.network.send_log_action.trigger()
    log = window.network.send_log_dialog
    assert log is not None and log.isVisible()
    table = log.table
    return [
        [table.topLevelItem(r).text(c) for c in range(table.columnCount())]
        for r in range(table.topLevelItemCount())
    ]


@needs_reporting
def test_send_to_pacs_sends_the_results_and_logs_each_instance(
    windows: WindowFactory, qtbot, study: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with pacs(tmp_path / "pacs") as (receiver, node):
        save_settings(windows, NetworkSettings(destinations=(node,)))
        window = windows.open()
        with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
            window.controller.open_path(study)
        assert not window.network.send_action.isEnabled()
        assert window.network.send_action.statusTip() == SEND_NEEDS_ANALYSIS
        assert window.network.send_log_action.isEnabled()
        assert send_log_rows(window) == []
        assert window.network.send_log_dialog.empty.isVisible()  # type: ignore[union-attr]
        with qtbot.waitSignal(window.controller.analysis.finished, timeout=30_000):
            window.analyse_action.trigger()
        assert window.network.send_action.isEnabled()

        send_with_the_dialog(window, qtbot, "PACS")
        received = stored_instances(receiver)
    box = window.network.result_box
    assert box is not None and box.isVisible()
    n = len(received)
    assert n >= 4  # key images, KOS, SR, PDF
    assert box.text() == f"Sent {n} of {n} result objects to {node.label}."
    assert box.informativeText() == ""
    rows = send_log_rows(window)  # refreshed on the open log
    assert len(rows) == n
    assert {r[4] for r in rows} == {"sent"} and {r[5] for r in rows} == {"1"}
    assert {r[2] for r in rows} == {f"PACS ({node.ae_title}@127.0.0.1:{node.port})"}
    kinds = {r[3] for r in rows}
    assert {"Structured report", "Key object selection", "PDF summary (Encapsulated PDF)"} <= kinds
    db = window.controller.db
    assert db is not None
    sent = [e for e in storage.audit_entries(db) if e.action is storage.AuditAction.SENT]
    assert len(sent) == 1
    # Only results go to the PACS, never the CT images they were made from.
    assert CT_IMAGE_STORAGE not in {e.sop_class_uid for e in received}


@needs_reporting
def test_a_failed_send_names_each_error_and_is_logged(
    windows: WindowFactory, qtbot, study: Path, quick_retries: None
) -> None:  # type: ignore[no-untyped-def]
    gone = RemoteNode("Old PACS", "OLD_PACS", "127.0.0.1", closed_port())
    save_settings(windows, NetworkSettings(destinations=(gone,)))
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    send_with_the_dialog(window, qtbot, "Old PACS")
    box = window.network.result_box
    assert box is not None and box.isVisible()
    assert box.text().startswith("Sent 0 of ")
    lines = box.informativeText().splitlines()
    assert lines[0].startswith("Not sent (")
    failures = [line for line in lines if line.startswith("• ")]
    assert failures and all(
        f"{gone.label} cannot be reached: check the host, port" in line for line in failures
    )
    assert "Echo tests the connection" in box.informativeText()
    rows = send_log_rows(window)
    assert len(rows) == len(failures)
    assert {r[4] for r in rows} == {"failed"}
    assert {r[5] for r in rows} == {str(pacs_send.SEND_RETRIES + 1)}
    assert all("cannot be reached" in r[6] for r in rows)
    window.close()
    assert not box.isVisible(), "the result goes with the window"


@needs_reporting
def test_cancelling_a_send_while_it_waits_to_retry_still_logs_it(
    windows: WindowFactory, qtbot, study: Path
) -> None:  # type: ignore[no-untyped-def]
    gone = RemoteNode("Old PACS", "OLD_PACS", "127.0.0.1", closed_port())
    save_settings(windows, NetworkSettings(destinations=(gone,)))
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    runner = window.network.sending.runner
    window.network.send_action.trigger()
    dialog = window.network.send_dialog
    assert dialog is not None
    with qtbot.waitSignal(
        runner.progress, timeout=30_000, check_params_cb=lambda _f, text: "Retrying" in text
    ):
        qtbot.mouseClick(dialog.send_button, Button.LeftButton)
    assert not window.network.send_action.isEnabled()  # one send at a time
    assert window.tasks.isVisible() and window.tasks.label.text().startswith("Retrying in 2 s")
    with qtbot.waitSignal(window.network.sending.sent, timeout=10_000):
        qtbot.mouseClick(window.tasks.cancel_button, Button.LeftButton)
    box = window.network.result_box
    assert box is not None and box.text().endswith("The send was cancelled.")
    rows = send_log_rows(window)
    assert rows and {r[4] for r in rows} == {"failed"} and {r[5] for r in rows} == {"1"}
    assert window.network.send_action.isEnabled()


def test_send_without_a_destination_points_to_the_settings(
    windows: WindowFactory, qtbot, study: Path
) -> None:  # type: ignore[no-untyped-def]
    if not reporting_available():
        pytest.skip("the reporting layer makes what is sent")
    window = windows.open()
    open_and_analyse(window, qtbot, study)
    window.network.send_action.trigger()
    box = window.network.result_box
    assert box is not None and box.isVisible()
    assert "No PACS is configured" in box.text()
    button = next(b for b in box.buttons() if b.text() == "Network settings…")
    qtbot.mouseClick(button, Button.LeftButton)
    qtbot.waitUntil(
        lambda: (
            window.network.settings_dialog is not None
            and window.network.settings_dialog.isVisible()
        )
    )
    window.network.settings_dialog.reject()  # type: ignore[union-attr]


def test_study_date_and_name_queries() -> None:
    today = dt.date(2024, 3, 10)
    assert study_date_query("Any date", today, today, today) == ""
    assert study_date_query("Today", today, today, today) == "20240310"
    assert study_date_query("Yesterday", today, today, today) == "20240309"
    assert study_date_query("Last 7 days", today, today, today) == "20240304-20240310"
    assert (
        study_date_query("Between", today, dt.date(2024, 2, 1), dt.date(2024, 1, 1))
        == "20240101-20240201"
    )
    assert name_query("smith") == "smith*"
    assert name_query("Smith, John") == "Smith^John*"
    assert name_query("SM?TH") == "SM?TH"
    assert name_query("  ") == ""


def test_search_of_an_unreachable_pacs_says_why(windows: WindowFactory, qtbot) -> None:  # type: ignore[no-untyped-def]
    gone = RemoteNode("Old PACS", "OLD_PACS", "127.0.0.1", closed_port())
    save_settings(windows, NetworkSettings(destinations=(gone,)))
    window = windows.open()
    window.network.search_action.trigger()
    dialog = window.network.query_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(dialog.search_runner.finished, timeout=20_000):
        qtbot.mouseClick(dialog.search_button, Button.LeftButton)
    assert dialog.message.text().startswith(f"Search failed: {gone.label} cannot be reached")
    assert dialog.table.topLevelItemCount() == 0
    assert not dialog.retrieve_button.isEnabled()


def test_search_and_retrieve_from_orthanc(windows: WindowFactory, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.network.orthanc import APP_AE, ORTHANC_AE, start_orthanc

    orthanc = start_orthanc(tmp_path / "orthanc")
    if isinstance(orthanc, str):
        pytest.skip(orthanc)
    try:
        study = write_phantom_study(tmp_path / "on_pacs", n_slices=16, size=64, seed="orthanc")
        orthanc.upload(sorted(study.iterdir()))
        orthanc.add_modality("mscc", APP_AE, 11112)  # Orthanc answers known callers only
        node = RemoteNode("Orthanc", ORTHANC_AE, "127.0.0.1", orthanc.dicom_port)
        save_settings(windows, NetworkSettings(destinations=(node,)))
        window = windows.open()
        window.network.search_action.trigger()
        dialog = window.network.query_dialog
        assert dialog is not None
        dialog.patient_id_edit.setText("SYN-0001")
        dialog.modality_combo.setCurrentText("CT")
        with qtbot.waitSignal(dialog.search_runner.finished, timeout=30_000):
            qtbot.mouseClick(dialog.search_button, Button.LeftButton)
        assert dialog.message.text() == "1 study found. Select one to retrieve it."
        row = [dialog.table.topLevelItem(0).text(c) for c in range(dialog.table.columnCount())]
        assert row == [
            "PHANTOM, ALICE",
            "SYN-0001",
            "2024-01-01",
            "CT CHEST ABDOMEN C+",
            "",
            "CT",
            "16",
        ]
        assert window.browser.entries == []
        with qtbot.waitSignal(dialog.retrieved, timeout=60_000):
            qtbot.mouseClick(dialog.retrieve_button, Button.LeftButton)
        assert dialog.message.text().startswith("Retrieved 16 images in 1 series from Orthanc.")
        assert [e.patient_id for e in window.browser.entries] == ["SYN-0001"]
        with qtbot.waitSignal(window.controller.series_opened, timeout=20_000):
            qtbot.mouseClick(dialog.open_button, Button.LeftButton)
        assert window.state.n_slices == 16
        db = window.controller.db
        assert db is not None
        actions = [e.action for e in storage.audit_entries(db)]
        assert storage.AuditAction.RETRIEVED in actions
    finally:
        orthanc.stop()
