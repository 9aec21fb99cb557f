"""Shared fixtures. Qt runs offscreen; nothing here touches the network or the real store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Must be set before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_user_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own app-data folder, so no test reads or writes the user's store."""
    monkeypatch.setenv("MSCC_DATA_DIR", str(tmp_path_factory.mktemp("mscc-data")))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """``$MSCC_REAL_DATA`` (the shared real CT files), or skip with the reason."""
    value = os.environ.get("MSCC_REAL_DATA")
    if not value:
        pytest.skip("MSCC_REAL_DATA is not set (point it at ../shared/data for real-CT tests)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"MSCC_REAL_DATA={value} is not a folder")
    return path
