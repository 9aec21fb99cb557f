"""Sending: one outcome per instance, retries with back-off, cancel, and a clear error."""

from __future__ import annotations

from pathlib import Path

from mscc_desktop.core.tasks import CancelToken
from mscc_desktop.network import RemoteNode, StorageReceiver, send_files
from tests.factories.dicom_factory import write_series
from tests.network.conftest import listener_settings
from tests.network.orthanc import free_port


def test_unreachable_destination_is_retried_with_back_off_then_reported(tmp_path: Path) -> None:
    files = list(write_series(tmp_path / "src", n_slices=2).paths)
    waits: list[float] = []
    node = RemoteNode("PACS", "PACS", "127.0.0.1", free_port())
    report = send_files(
        files, node, calling_ae="MSCC", retries=3, backoff_s=1.5, sleep=waits.append, timeout_s=5
    )
    assert waits == [1.5, 3.0, 6.0]
    assert report.n_sent == 0 and report.n_failed == 2
    assert all(o.attempts == 4 for o in report.outcomes)
    assert "cannot be reached" in report.outcomes[0].error
    assert "Echo" in report.outcomes[0].error  # the remedy is named


def test_a_pacs_that_comes_back_gets_the_rest_on_the_retry(tmp_path: Path) -> None:
    files = list(write_series(tmp_path / "src", n_slices=3).paths)
    port = free_port()
    pacs = StorageReceiver(listener_settings(port=port, ae_title="PACS"), tmp_path / "pacs")

    def pacs_starts(_seconds: float) -> None:
        pacs.start()

    try:
        report = send_files(
            files,
            RemoteNode("PACS", "PACS", "127.0.0.1", port),
            calling_ae="MSCC",
            sleep=pacs_starts,
        )
    finally:
        pacs.stop()
    assert report.n_sent == 3
    assert [o.attempts for o in report.outcomes] == [2, 2, 2]
    assert len(list((tmp_path / "pacs").rglob("*.dcm"))) == 3


def test_a_file_that_is_not_dicom_fails_alone(tmp_path: Path, receiver: StorageReceiver) -> None:
    files = list(write_series(tmp_path / "src", n_slices=2).paths)
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    node = RemoteNode("local", "MSCC_DESKTOP", "127.0.0.1", receiver.port)
    report = send_files([files[0], junk, files[1]], node, calling_ae="PACS")
    assert [o.sent for o in report.outcomes] == [True, False, True]
    assert "not a DICOM file" in report.outcomes[1].error


def test_cancel_stops_between_instances_and_says_which_were_not_sent(
    tmp_path: Path, receiver: StorageReceiver
) -> None:
    files = list(write_series(tmp_path / "src", n_slices=5).paths)
    cancel = CancelToken()

    def progress(fraction: float, _text: str) -> None:
        if fraction >= 0.4:
            cancel.cancel()

    node = RemoteNode("local", "MSCC_DESKTOP", "127.0.0.1", receiver.port)
    report = send_files(files, node, calling_ae="PACS", progress=progress, cancel=cancel)
    assert report.cancelled
    assert report.n_sent == 2 and report.n_failed == 3
    assert {o.error for o in report.outcomes if not o.sent} == {"cancelled before it was sent"}
