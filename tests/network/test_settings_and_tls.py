"""Network settings (validation, file round trip) and associations over TLS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mscc_desktop.core.errors import NetworkError
from mscc_desktop.network import (
    ArrivalTracker,
    ListenerSettings,
    NetworkSettings,
    ReceiverEvent,
    ReceiverEventKind,
    RemoteNode,
    StorageReceiver,
    TlsSettings,
    echo,
    load_network_settings,
    save_network_settings,
    send_files,
)
from mscc_desktop.network.nodes import settings_path
from tests.factories.dicom_factory import write_series
from tests.network.conftest import listener_settings


def test_the_listener_is_off_until_a_user_turns_it_on(tmp_path: Path) -> None:
    settings = load_network_settings(tmp_path)
    assert settings == NetworkSettings() and not settings.listener.enabled
    assert settings.destinations == ()


def test_settings_round_trip_through_the_file(tmp_path: Path) -> None:
    settings = NetworkSettings(
        listener=ListenerSettings(
            enabled=True,
            ae_title="READING1",
            port=11113,
            allowed_ae_titles=("PACS",),
            allowed_addresses=("10.1.2.0/24",),
            quiet_seconds=20,
        ),
        destinations=(RemoteNode("PACS", "PACSAE", "10.1.2.3", 104),),
    )
    save_network_settings(settings, tmp_path)
    assert load_network_settings(tmp_path) == settings
    assert load_network_settings(tmp_path).destination("pacs").ae_title == "PACSAE"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (NetworkSettings(listener=ListenerSettings(ae_title="A\\B")), "not valid"),
        (NetworkSettings(listener=ListenerSettings(ae_title="X" * 17)), "1 to 16"),
        (NetworkSettings(listener=ListenerSettings(port=70000)), "not a TCP port"),
        (NetworkSettings(listener=ListenerSettings(allowed_addresses=("pacs.local",))), "network"),
        (NetworkSettings(listener=ListenerSettings(quiet_seconds=0)), "quiet time"),
        (NetworkSettings(destinations=(RemoteNode("P", "PACS", "", 104),)), "no host"),
        (
            NetworkSettings(
                destinations=(RemoteNode("P", "A", "h", 1), RemoteNode("p", "B", "h", 2))
            ),
            "same name",
        ),
    ],
)
def test_invalid_settings_are_refused_with_the_reason_and_nothing_is_written(
    tmp_path: Path, settings: NetworkSettings, message: str
) -> None:
    with pytest.raises(NetworkError, match=message):
        save_network_settings(settings, tmp_path)
    assert not settings_path(tmp_path).exists()


def test_a_damaged_settings_file_is_reported_not_replaced(tmp_path: Path) -> None:
    settings_path(tmp_path).write_text("{ not json")
    with pytest.raises(NetworkError, match="Fix or delete the file"):
        load_network_settings(tmp_path)
    assert settings_path(tmp_path).read_text() == "{ not json"


def test_an_ad_hoc_destination_and_an_unknown_name(tmp_path: Path) -> None:
    settings = NetworkSettings(destinations=(RemoteNode("PACS", "PACSAE", "10.0.0.1"),))
    node = settings.destination("ORTHANC@127.0.0.1:4242")
    assert (node.ae_title, node.host, node.port) == ("ORTHANC", "127.0.0.1", 4242)
    with pytest.raises(NetworkError, match="No destination called 'archive' \\(PACS\\)"):
        settings.destination("archive")


def _event(kind: ReceiverEventKind, at: float, folder: str = "s1", assoc: int = 1) -> ReceiverEvent:
    return ReceiverEvent(
        kind, assoc, "PACS", "127.0.0.1", at, series_folder=Path(folder), study_folder=Path("st")
    )


def test_a_series_is_complete_after_its_quiet_time_and_a_late_instance_starts_again() -> None:
    tracker = ArrivalTracker(quiet_seconds=10)
    stored = ReceiverEventKind.INSTANCE_STORED
    tracker.add([_event(stored, 0.0), _event(stored, 4.0), _event(stored, 5.0, "s2")])
    assert tracker.complete(now_s=13.9) == []
    done = tracker.complete(now_s=14.0)
    assert [(d.series_folder.name, d.n_instances) for d in done] == [("s1", 2)]
    assert [a.series_folder.name for a in tracker.arriving()] == ["s2"]
    tracker.add([_event(stored, 20.0)])  # the PACS sends one more of s1 later
    assert {a.series_folder.name: a.n_instances for a in tracker.arriving()} == {"s1": 1, "s2": 1}


def test_an_abort_marks_only_the_series_that_association_was_delivering() -> None:
    tracker = ArrivalTracker(quiet_seconds=1)
    stored = ReceiverEventKind.INSTANCE_STORED
    tracker.add([_event(stored, 0.0, "a", assoc=1), _event(stored, 0.0, "b", assoc=2)])
    tracker.add([_event(ReceiverEventKind.ASSOCIATION_ABORTED, 0.5, assoc=2)])
    done = {d.series_folder.name: d.interrupted for d in tracker.complete(flush=True)}
    assert done == {"a": False, "b": True}


def _certificates(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make test certificates")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


def test_associations_over_tls_and_a_plain_caller_is_not_served(tmp_path: Path) -> None:
    key, cert = _certificates(tmp_path)
    tls = TlsSettings(certificate=str(cert), private_key=str(key), ca_certificates=str(cert))
    with StorageReceiver(listener_settings(), tmp_path / "rx", tls=tls) as receiver:
        secure = RemoteNode("secure", "MSCC_DESKTOP", "127.0.0.1", receiver.port, tls=True)
        assert echo(secure, calling_ae="PACS", tls=tls) > 0
        files = list(write_series(tmp_path / "src", n_slices=2).paths)
        assert send_files(files, secure, calling_ae="PACS", tls=tls).n_sent == 2
        plain = RemoteNode("plain", "MSCC_DESKTOP", "127.0.0.1", receiver.port)
        with pytest.raises(NetworkError):
            echo(plain, calling_ae="PACS", timeout_s=3)
    assert len(list((tmp_path / "rx").rglob("*.dcm"))) == 2


def test_a_tls_destination_without_certificates_is_a_clear_error() -> None:
    node = RemoteNode("secure", "PACS", "127.0.0.1", 1, tls=True)
    with pytest.raises(NetworkError, match="no CA certificates"):
        echo(node, calling_ae="PACS", tls=TlsSettings())


def test_tls_settings_are_checked_when_saved(tmp_path: Path) -> None:
    secure = RemoteNode("PACS", "PACS", "10.0.0.1", 2762, tls=True)
    with pytest.raises(NetworkError, match="no CA certificates"):
        save_network_settings(NetworkSettings(destinations=(secure,)), tmp_path)
    key, cert = _certificates(tmp_path)
    listening = ListenerSettings(enabled=True)
    only_ca = TlsSettings(ca_certificates=str(cert))
    with pytest.raises(NetworkError, match="certificate and its private key"):
        save_network_settings(NetworkSettings(listener=listening, tls=only_ca), tmp_path)
    missing = TlsSettings(str(tmp_path / "none.pem"), str(key), str(cert))
    with pytest.raises(NetworkError, match="could not be read"):
        save_network_settings(NetworkSettings(listener=listening, tls=missing), tmp_path)
    good = TlsSettings(str(cert), str(key), str(cert))
    save_network_settings(
        NetworkSettings(listener=listening, destinations=(secure,), tls=good), tmp_path
    )
    assert not settings_path(tmp_path).with_suffix(".json.partial").exists()
