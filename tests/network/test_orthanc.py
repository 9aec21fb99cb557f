"""Against a real PACS: Orthanc pushes real CT to the app, the app sends its results back,
and a query/retrieve round trip; the CLI's ``listen``, ``send`` and ``pacs`` on the way."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.errors import NetworkError
from mscc_desktop.network import (
    RemoteNode,
    StorageReceiver,
    StudyQuery,
    echo,
    find_studies,
    retrieve_study,
    send_files,
)
from mscc_desktop.workflow import (
    ReceiveSession,
    export_for_sending,
    record_sent,
    register_retrieved,
)
from mscc_desktop.workflow.report_inputs import load_report_inputs
from tests.network.conftest import listener_settings
from tests.network.dicom_bytes import dataset_bytes
from tests.network.orthanc import APP_AE, ORTHANC_AE, Orthanc, dcmtk_tool
from tests.reporting.study import analysed_study, review

REAL_SERIES = "thorax_philips_j2k"  # JPEG 2000: stored as sent, never transcoded


def _orthanc_node(orthanc: Orthanc) -> RemoteNode:
    return RemoteNode("Orthanc", ORTHANC_AE, "127.0.0.1", orthanc.dicom_port)


def _real_files(real_data_dir: Path) -> list[Path]:
    files = sorted(p for p in (real_data_dir / REAL_SERIES).rglob("*") if p.is_file())
    return [p for p in files if p.suffix.lower() in (".dcm", "")]


def test_orthanc_answers_our_echo(orthanc: Orthanc) -> None:
    assert echo(_orthanc_node(orthanc), calling_ae=APP_AE) < 5


def _dcmtk_bit_preserving_copy(orthanc: Orthanc, ids: list[str], folder: Path) -> dict[str, bytes]:
    """What Orthanc puts on the wire, as DCMTK's ``storescp --bit-preserving`` keeps it."""
    from tests.network.orthanc import free_port

    storescp = dcmtk_tool("storescp")
    if storescp is None:
        pytest.skip("DCMTK's storescp is not installed (Debian package dcmtk)")
    port = free_port()
    folder.mkdir(parents=True)
    scp = subprocess.Popen(
        [storescp, "--bit-preserving", "+xa", "-aet", "DCMTKSCP", "-od", str(folder), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # wait until it answers
            try:
                echo(RemoteNode("dcmtk", "DCMTKSCP", "127.0.0.1", port), calling_ae=APP_AE)
                break
            except NetworkError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        orthanc.add_modality("dcmtk", "DCMTKSCP", port)
        orthanc.push("dcmtk", ids)
    finally:
        scp.terminate()
        scp.wait(timeout=10)
    copies = {}
    for path in folder.iterdir():
        copies[str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = dataset_bytes(path)
    return copies


def test_orthanc_pushes_a_real_ct_series_and_the_app_holds_it_byte_identical(
    orthanc: Orthanc, real_data_dir: Path, tmp_path: Path, db: Database
) -> None:
    orthanc.clear()
    files = _real_files(real_data_dir)
    ids = orthanc.upload(files)
    with StorageReceiver(listener_settings(ae_title=APP_AE), tmp_path / "received") as receiver:
        orthanc.add_modality("mscc", APP_AE, receiver.port)
        orthanc.push("mscc", ids)
        session = ReceiveSession(db, quiet_seconds=0.3)
        registered = []
        deadline = time.monotonic() + 60
        while not registered and time.monotonic() < deadline:
            time.sleep(0.4)
            registered = session.poll(receiver.events()).registered
    assert len(registered) == 1
    record = registered[0].records[0]
    assert record.n_files == len(files)
    received = sorted(record.source_path.glob("*.dcm"))
    assert len(received) == len(files)
    # Orthanc (DCMTK) re-encodes sequences with explicit lengths when it sends, so the bytes
    # on the wire are not the uploaded file's. The app must keep exactly the wire bytes (the
    # same as DCMTK's bit-preserving receiver), every value of the source, and its JPEG 2000
    # code stream untouched (no transcoding).
    wire = _dcmtk_bit_preserving_copy(orthanc, ids, tmp_path / "dcmtk")
    sources = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID): f for f in files}
    for path in received:
        ours = dcmread(path)
        uid = str(ours.SOPInstanceUID)
        assert dataset_bytes(path) == wire[uid]
        source = dcmread(sources[uid])
        assert list(ours.keys()) == list(source.keys())  # no element added or dropped
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "ImagePositionPatient"):
            assert ours.get(keyword) == source.get(keyword)
        assert ours.PixelData == source.PixelData
        assert ours.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
    assert [s.study_id for s in storage.list_studies(db)] == [record.study_id]
    actions = [e.action for e in storage.audit_entries(db)]
    assert storage.AuditAction.ASSOCIATION_ACCEPTED in actions
    assert storage.AuditAction.SERIES_RECEIVED in actions


def _dciodvfy_errors(data: bytes, folder: Path, name: str) -> list[str]:
    path = folder / name
    path.write_bytes(data)
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def test_the_app_sends_sr_kos_sc_and_pdf_which_orthanc_stores_and_dciodvfy_passes(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    orthanc.clear()
    study = analysed_study(tmp_path / "study")
    review(study)
    inputs = load_report_inputs(study.db, study.volume, series_id=study.series.id)
    files = export_for_sending(inputs, tmp_path / "outbox", protected=[study.folder])
    report = send_files(files, _orthanc_node(orthanc), calling_ae=APP_AE)
    assert report.n_failed == 0, [o.error for o in report.outcomes]
    record_sent(study.db, report, inputs=inputs, user="reader")
    log = storage.send_log(study.db, study.series.study_id)
    assert {e.kind for e in log} == {"sc", "kos", "sr", "pdf"}
    assert {e.status for e in log} == {storage.SendStatus.SENT}
    sent = [e for e in storage.audit_entries(study.db) if e.action is storage.AuditAction.SENT]
    assert sent[-1].details["sent"] == len(files) and sent[-1].details["failed"] == 0
    stored = orthanc.instances()
    assert len(stored) == len(files)
    modalities = {orthanc.instance_tags(i).get("Modality") for i in stored}
    assert {"SR", "KO", "DOC"} <= modalities and len(modalities) == 4  # and the SC images
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy is not installed (Debian package dicom3tools)")
    for number, instance in enumerate(stored):
        errors = _dciodvfy_errors(orthanc.instance_file(instance), tmp_path, f"o{number}.dcm")
        assert errors == [], errors


def test_query_and_retrieve_round_trip(
    orthanc: Orthanc, real_data_dir: Path, tmp_path: Path, db: Database
) -> None:
    orthanc.clear()
    files = _real_files(real_data_dir)
    orthanc.upload(files)
    first = dcmread(files[0], stop_before_pixels=True)
    node = _orthanc_node(orthanc)
    orthanc.add_modality("mscc", APP_AE, 1)  # Orthanc answers C-FIND/C-GET only to known AEs
    found = find_studies(
        node, StudyQuery(patient_id=str(first.PatientID), modality="CT"), calling_ae=APP_AE
    )
    assert [s.study_instance_uid for s in found] == [first.StudyInstanceUID]
    assert found[0].n_instances == len(files)
    assert find_studies(node, StudyQuery(patient_id="NO-SUCH-PATIENT"), calling_ae=APP_AE) == []
    steps: list[float] = []
    report = retrieve_study(
        node,
        first.StudyInstanceUID,
        tmp_path / "received",
        calling_ae=APP_AE,
        reserve_free_mb=0,
        expected_instances=found[0].n_instances,
        progress=lambda f, _t: steps.append(f),
    )
    assert report.n_received == len(files) and report.errors == ()
    assert steps and steps[-1] == 1.0
    registered = register_retrieved(db, report, source=node, user="reader")
    assert sum(r.records[0].n_files for r in registered) == len(files)
    retrieved = [e for e in storage.audit_entries(db) if e.action is storage.AuditAction.RETRIEVED]
    assert retrieved[0].details["instances"] == len(files)


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"MSCC_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "mscc_desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_send_then_pacs_find_and_retrieve(orthanc: Orthanc, tmp_path: Path) -> None:
    orthanc.clear()
    data_dir = tmp_path / "appdata"
    store_file = tmp_path / "store.sqlite"
    study = analysed_study(tmp_path / "study", db=storage.open_store(store_file))
    study.db.close()
    dest = f"{ORTHANC_AE}@127.0.0.1:{orthanc.dicom_port}"
    sent = _cli(
        "send", str(study.folder), "--to", dest, "--db", str(store_file), "-q", data_dir=data_dir
    )
    assert sent.returncode == 0, sent.stderr
    assert "instance(s) sent to" in sent.stdout
    orthanc.add_modality("mscc", "MSCC_DESKTOP", 1)
    found = _cli("pacs", "find", dest, "--modality", "SR", data_dir=data_dir)
    assert found.returncode == 0, found.stderr
    study_uid = found.stdout.strip().split("\t")[-1]
    got = _cli(
        "pacs", "retrieve", dest, study_uid, "--db", str(store_file), "-q", data_dir=data_dir
    )
    assert got.returncode == 0, got.stderr
    assert (data_dir / "received").is_dir()
    db = storage.open_store(store_file)
    try:
        log = storage.send_log(db, study.series.study_id)
        assert log and all(e.status is storage.SendStatus.SENT for e in log)
    finally:
        db.close()


def test_cli_listen_receives_from_orthanc(orthanc: Orthanc, tmp_path: Path) -> None:
    from tests.factories.dicom_factory import write_series
    from tests.network.orthanc import free_port

    orthanc.clear()
    files = list(write_series(tmp_path / "src", n_slices=4).paths)
    ids = orthanc.upload(files)
    port = free_port()
    data_dir = tmp_path / "appdata"
    listen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mscc_desktop",
            "listen",
            "--port",
            str(port),
            "--quiet-time",
            "0.5",
            "--allow-ae",
            ORTHANC_AE,
            "--for-seconds",
            "60",
            "--db",
            str(tmp_path / "s.sqlite"),
        ],
        env={"MSCC_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert listen.stderr is not None
        assert "Listening as MSCC_DESKTOP" in listen.stderr.readline()
        orthanc.add_modality("mscc", APP_AE, port)
        orthanc.push("mscc", ids)
        assert listen.stdout is not None
        line = listen.stdout.readline()
        assert line.startswith("complete: 4 instance(s), 1 series registered"), line
    finally:
        listen.terminate()
        listen.wait(timeout=30)
    assert len(list((data_dir / "received").rglob("*.dcm"))) == 4
