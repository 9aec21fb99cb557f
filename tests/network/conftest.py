"""Fixtures: a store, a listener on a free port, and a real Orthanc when it is installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.network import ListenerSettings, StorageReceiver
from tests.network.orthanc import Orthanc, start_orthanc


def listener_settings(**changes: object) -> ListenerSettings:
    values: dict[str, object] = {
        "enabled": True,
        "port": 0,
        "bind_address": "127.0.0.1",
        "quiet_seconds": 0.3,
        "reserve_free_mb": 0,
    }
    values.update(changes)
    return ListenerSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = storage.open_store(tmp_path / "store.sqlite")
    yield store
    store.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[StorageReceiver]:
    with StorageReceiver(listener_settings(), tmp_path / "received") as running:
        yield running


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    if isinstance(server, str):
        pytest.skip(server)
    yield server
    server.stop()
