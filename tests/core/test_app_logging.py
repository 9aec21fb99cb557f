"""Library log records: one line per problem on the console, the traceback in the log file."""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from mscc_desktop.core.app_logging import configure_logging, log_file_path
from mscc_desktop.core.dicom.load import load_series
from mscc_desktop.core.dicom.scan import scan_folder
from mscc_desktop.core.dicom.write import FileNaming, TransferSyntax
from mscc_desktop.core.errors import DicomReadError
from tests.factories import dicom_factory as factory


@pytest.fixture
def app_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Configure as the app does (log file under a fresh data folder), then put it back."""
    monkeypatch.setenv("MSCC_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    pydicom_level = logging.getLogger("pydicom").level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    logging.getLogger("pydicom").setLevel(pydicom_level)
    logging.captureWarnings(False)


def _damaged_jpeg_ls(folder: Path) -> Path:
    made = factory.write_series(
        folder, n_slices=1, transfer_syntax=TransferSyntax.JPEGLS_LOSSLESS,
        naming=FileNaming.SEQUENTIAL,
    )  # fmt: skip
    data = bytearray(made.paths[0].read_bytes())
    rng = random.Random(0)
    for _ in range(8):
        data[rng.randrange(len(data) - int(0.6 * len(data)), len(data) - 10)] = rng.randrange(256)
    made.paths[0].write_bytes(bytes(data))
    return folder


def test_a_decoder_traceback_goes_to_the_log_file_not_the_console(
    app_logging: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = configure_logging(verbose=False)
    assert path == log_file_path() and path.parent.parent == tmp_path / "data"
    (entry,) = scan_folder(_damaged_jpeg_ls(tmp_path / "study")).series
    with pytest.raises(DicomReadError):
        load_series(entry, workers=1)  # in this process, where pydicom logs the traceback
    err = capfd.readouterr().err
    assert "Traceback" not in err and "pydicom" not in err
    logged = path.read_text(encoding="utf-8")
    assert "ERROR pydicom" in logged and "Traceback" in logged  # the detail is kept


def test_verbose_shows_the_detail_on_the_console(
    app_logging: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(verbose=True)
    (entry,) = scan_folder(_damaged_jpeg_ls(tmp_path / "study")).series
    with pytest.raises(DicomReadError):
        load_series(entry, workers=1)
    assert "Traceback" in capfd.readouterr().err


def test_the_app_s_own_warnings_are_one_line_and_python_warnings_are_logged(
    app_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    path = configure_logging(verbose=False)
    logging.getLogger("mscc_desktop.test").warning("first line\nsecond line")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)  # catch_warnings restored showwarning; capture again
        warnings.warn("a developer's warning", UserWarning, stacklevel=1)
    err = capfd.readouterr().err
    assert "WARNING mscc_desktop.test: first line" in err and "second line" not in err
    assert "developer's warning" not in err
    assert path is not None and "developer's warning" in path.read_text(encoding="utf-8")


def test_configuring_twice_does_not_print_twice(
    app_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(verbose=False)
    configure_logging(verbose=False)
    logging.getLogger("mscc_desktop.test").warning("once")
    assert capfd.readouterr().err.count("once") == 1


def test_an_unwritable_data_folder_leaves_the_console_logging(
    app_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MSCC_DATA_DIR", str(blocker))
    assert configure_logging(verbose=False) is None
    logging.getLogger("mscc_desktop.test").warning("still shown")
    assert "still shown" in capfd.readouterr().err
