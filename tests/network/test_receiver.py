"""The listener: who may call, where files land, what a refusal or an abort leaves behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]
from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.errors import NetworkError
from mscc_desktop.network import (
    ReceiverEventKind,
    RemoteNode,
    StorageReceiver,
    echo,
    send_files,
)
from mscc_desktop.network.managed_folder import INCOMING_FOLDER, instance_place, write_instance
from mscc_desktop.workflow import ReceiveSession
from tests.factories.dicom_factory import write_series
from tests.network.conftest import listener_settings


def _node(receiver: StorageReceiver) -> RemoteNode:
    return RemoteNode("local", receiver.settings.ae_title, "127.0.0.1", receiver.port)


def _ct_files(folder: Path, n: int = 4) -> list[Path]:
    return list(write_series(folder, n_slices=n).paths)


def test_echo_is_answered_and_audited(receiver: StorageReceiver, db: Database) -> None:
    assert echo(_node(receiver), calling_ae="PACS") > 0
    session = ReceiveSession(db, quiet_seconds=0.3)
    session.poll(receiver.events())
    actions = [e.action for e in storage.audit_entries(db)]
    assert storage.AuditAction.ASSOCIATION_ACCEPTED in actions
    ended = [
        e for e in storage.audit_entries(db) if e.action is storage.AuditAction.ASSOCIATION_ENDED
    ]
    assert ended and ended[0].details["calling_ae"] == "PACS"


def test_unknown_calling_ae_title_is_rejected_and_audited(tmp_path: Path, db: Database) -> None:
    settings = listener_settings(allowed_ae_titles=("ORTHANC",))
    with StorageReceiver(settings, tmp_path / "rx") as receiver:
        with pytest.raises(NetworkError, match="rejected the association"):
            echo(_node(receiver), calling_ae="INTRUDER")
        assert echo(_node(receiver), calling_ae="ORTHANC") > 0
        session = ReceiveSession(db, quiet_seconds=0.3)
        session.poll(receiver.events())
    rejected = [
        e for e in storage.audit_entries(db) if e.action is storage.AuditAction.ASSOCIATION_REJECTED
    ]
    assert [e.details["calling_ae"] for e in rejected] == ["INTRUDER"]
    assert rejected[0].details["reason"] == "calling AE title not allowed"


def test_caller_from_an_address_not_allowed_is_refused(tmp_path: Path, db: Database) -> None:
    settings = listener_settings(allowed_addresses=("10.0.0.0/8",))
    with StorageReceiver(settings, tmp_path / "rx") as receiver:
        with pytest.raises(NetworkError):
            echo(_node(receiver), calling_ae="PACS", timeout_s=5)
        events = receiver.events()
    assert [e.kind for e in events] == [ReceiverEventKind.ASSOCIATION_REJECTED]
    assert events[0].address == "127.0.0.1" and events[0].reason == "address not allowed"
    ReceiveSession(db, quiet_seconds=0.3).poll(events)
    assert storage.audit_entries(db)[-1].details["reason"] == "address not allowed"


def test_received_series_is_stored_byte_for_byte_and_registered_when_quiet(
    receiver: StorageReceiver, db: Database, tmp_path: Path
) -> None:
    from tests.network.dicom_bytes import dataset_bytes

    files = _ct_files(tmp_path / "src", 5)
    report = send_files(files, _node(receiver), calling_ae="PACS")
    assert report.n_sent == 5 and report.n_failed == 0
    session = ReceiveSession(db, quiet_seconds=0.3)
    first = session.poll(receiver.events(), now_s=0.0)
    assert first.registered == [] and storage.list_studies(db) == []  # not yet quiet
    assert [a.n_instances for a in session.arriving()] == [5]
    done = session.poll([], flush=True)
    assert len(done.registered) == 1 and done.registered[0].analysable
    record = done.registered[0].records[0]
    assert record.n_files == 5
    received = sorted(record.source_path.glob("*.dcm"))
    by_uid = {dcmread(f, stop_before_pixels=True).SOPInstanceUID: f for f in files}
    for path in received:
        source = by_uid[dcmread(path, stop_before_pixels=True).SOPInstanceUID]
        assert dataset_bytes(path) == dataset_bytes(source)
    assert len(storage.list_studies(db)) == 1
    audit = storage.audit_entries(db)
    series_rows = [e for e in audit if e.action is storage.AuditAction.SERIES_RECEIVED]
    assert series_rows[0].details["instances"] == 5 and not series_rows[0].details["interrupted"]


def _hostile_dataset(study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = "Traversal^Test"
    ds.Modality = "CT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


@pytest.mark.parametrize(
    ("study", "series", "sop"),
    [
        ("../../../../tmp/evil", "..", "../../x"),
        ("/etc", "./.", "/etc/passwd"),
        ("..", "../..", "../" * 21),  # 63 characters: as long as a UID may be
        ("1.2.3", "C:\\Windows\\System32", "."),
    ],
)
def test_identifiers_never_decide_a_path_outside_the_managed_folder(
    receiver: StorageReceiver, study: str, series: str, sop: str
) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="MSCC_DESKTOP")
    assert assoc.is_established
    # The request's SOP Instance UID is the data set's: pynetdicom takes it from there.
    status = assoc.send_c_store(_hostile_dataset(study, series, sop))
    assoc.release()
    assert status.Status == 0x0000
    stored = [e for e in receiver.events() if e.kind is ReceiverEventKind.INSTANCE_STORED]
    root = receiver.root.resolve()
    assert len(stored) == 1 and stored[0].file is not None
    assert stored[0].file.resolve().is_relative_to(root)
    assert stored[0].file.exists()
    assert all(p.resolve().is_relative_to(root) for p in receiver.root.rglob("*"))


def test_full_disk_refuses_the_instance_with_a_clear_reason(tmp_path: Path, db: Database) -> None:
    settings = listener_settings(reserve_free_mb=10**9)  # a petabyte reserve: always "full"
    with StorageReceiver(settings, tmp_path / "rx") as receiver:
        report = send_files(
            _ct_files(tmp_path / "src", 2), _node(receiver), calling_ae="PACS", retries=0
        )
        events = receiver.events()
    assert report.n_failed == 2
    assert "0xA700" in report.outcomes[0].error and "refused" in report.outcomes[0].error
    refused = [e for e in events if e.kind is ReceiverEventKind.INSTANCE_REFUSED]
    assert len(refused) == 2 and "Free some space" in refused[0].reason
    assert not list((tmp_path / "rx").rglob("*.dcm"))
    ReceiveSession(db, quiet_seconds=0.3).poll(events)
    rows = [
        e for e in storage.audit_entries(db) if e.action is storage.AuditAction.INSTANCE_REFUSED
    ]
    assert len(rows) == 2


def test_sender_that_stops_mid_series_leaves_whole_files_and_an_interrupted_series(
    receiver: StorageReceiver, db: Database, tmp_path: Path
) -> None:
    files = _ct_files(tmp_path / "src", 6)
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage, dcmread(files[0]).file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="MSCC_DESKTOP")
    for path in files[:3]:
        assert assoc.send_c_store(path).Status == 0
    assoc.abort()  # the sender goes away mid-series
    session = ReceiveSession(db, quiet_seconds=0.3)
    session.poll(receiver.events())
    done = session.poll(receiver.events(), flush=True)
    assert len(done.registered) == 1 and done.registered[0].arrival.interrupted
    assert done.registered[0].records[0].n_files == 3
    assert not list((receiver.root / INCOMING_FOLDER).glob("*.part"))
    for path in receiver.root.rglob("*.dcm"):
        dcmread(path)  # every kept file is whole
    row = [e for e in storage.audit_entries(db) if e.action is storage.AuditAction.SERIES_RECEIVED]
    assert row[0].details["interrupted"] is True
    ended = [
        e for e in storage.audit_entries(db) if e.action is storage.AuditAction.ASSOCIATION_ENDED
    ]
    assert ended[-1].details["how"] == "aborted" and ended[-1].details["instances_stored"] == 3


def test_a_write_that_fails_half_way_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "rx"
    place = instance_place(root, "1.2", "1.2.3", "1.2.3.4")

    def power_cut(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(OSError):
        write_instance(b"x" * 10_000, place, root, reserve_bytes=0)
    assert not place.file.exists()
    assert not list((root / INCOMING_FOLDER).iterdir())


def test_port_in_use_is_a_clear_error(receiver: StorageReceiver, tmp_path: Path) -> None:
    clash = StorageReceiver(listener_settings(port=receiver.port), tmp_path / "other")
    with pytest.raises(NetworkError, match="choose another port"):
        clash.start()


def test_verification_context_is_offered(receiver: StorageReceiver) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="ANY_CALLED_AE")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0
    assoc.release()


def test_a_series_the_store_cannot_take_yet_is_registered_at_the_next_poll(
    receiver: StorageReceiver, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mscc_desktop.core.errors import StoreError
    from mscc_desktop.workflow import received

    send_files(_ct_files(tmp_path / "src", 3), _node(receiver), calling_ae="PACS")
    session = ReceiveSession(db, quiet_seconds=0.3)
    real = received.register_received_series

    def locked(*_args: object, **_kwargs: object) -> object:
        raise StoreError("The results store is locked by another program.")

    monkeypatch.setattr(received, "register_received_series", locked)
    first = session.poll(receiver.events(), flush=True)
    assert first.registered == [] and len(session.unregistered) == 1
    monkeypatch.setattr(received, "register_received_series", real)
    second = session.poll([])
    assert len(second.registered) == 1 and session.unregistered == []
    assert second.registered[0].records[0].n_files == 3


def test_refusals_read_as_sentences() -> None:
    from mscc_desktop.network.sender import status_text

    assert "does not accept this kind of object" in status_text(0x0122)
    assert "out of resources" in status_text(0xA700)
    assert "cannot understand" in status_text(0xC000)


def test_a_complete_series_can_be_scanned_off_the_store_thread_then_registered(
    receiver: StorageReceiver, db: Database, tmp_path: Path
) -> None:
    import threading

    from mscc_desktop.workflow import scan_arrival

    send_files(_ct_files(tmp_path / "src", 4), _node(receiver), calling_ae="PACS")
    session = ReceiveSession(db, quiet_seconds=0.3)
    result = session.poll(receiver.events(), flush=True, register=False)
    assert result.registered == [] and len(result.complete) == 1
    assert storage.list_studies(db) == []  # nothing registered yet
    scanned = []
    worker = threading.Thread(target=lambda: scanned.append(scan_arrival(result.complete[0])))
    worker.start()
    worker.join()
    registered = session.register(scanned[0])
    assert registered is not None and registered.records[0].n_files == 4
    assert len(storage.list_studies(db)) == 1


def test_series_received_before_a_crash_are_registered_at_the_next_start(
    tmp_path: Path, db: Database
) -> None:
    root = tmp_path / "received"
    with StorageReceiver(listener_settings(), root) as receiver:
        send_files(_ct_files(tmp_path / "src", 3), _node(receiver), calling_ae="PACS")
        receiver.events()  # the app died here: nothing was registered
    assert storage.list_studies(db) == []
    session = ReceiveSession(db, quiet_seconds=0.3)
    assert session.recover(root) == 1
    result = session.poll([])
    assert len(result.registered) == 1 and result.registered[0].arrival.interrupted
    assert result.registered[0].records[0].n_files == 3
    assert ReceiveSession(db, quiet_seconds=0.3).recover(root) == 0  # known now
    row = [e for e in storage.audit_entries(db) if e.action is storage.AuditAction.SERIES_RECEIVED]
    assert row[-1].details["interrupted"] is True
