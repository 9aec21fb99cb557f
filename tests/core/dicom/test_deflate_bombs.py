"""Deflated files are inflated no further than their header allows (issue 25, item 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from mscc_desktop.core.dicom.deflate import (
    MARGIN_BYTES,
    InflationRefusedError,
    declared_limit,
    looks_deflated,
    read_deflated,
)
from mscc_desktop.core.dicom.load import load_series
from mscc_desktop.core.dicom.scan import read_header, scan_folder
from mscc_desktop.core.dicom.write import FileNaming, TransferSyntax
from mscc_desktop.core.errors import DicomReadError
from tests.factories import dicom_factory as factory

BOMB_BYTES = 48 * 1024 * 1024  # inflates from about 50 kB


def _deflated_slice(folder: Path) -> Path:
    made = factory.write_series(
        folder, n_slices=1, transfer_syntax=TransferSyntax.DEFLATED_LE,
        naming=FileNaming.SEQUENTIAL,
    )  # fmt: skip
    return made.paths[0]


def _rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    ds = dcmread(path)
    change(ds)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def test_a_genuine_deflated_series_reads_as_before(tmp_path: Path) -> None:
    path = _deflated_slice(tmp_path)
    assert looks_deflated(path.read_bytes()[:1024])
    expected = dcmread(path).pixel_array
    assert np.array_equal(read_deflated(path).pixel_array, expected)
    header = read_deflated(path, stop_before_pixels=True)
    assert "PixelData" not in header and int(header.Rows) == expected.shape[0]


def test_pixel_data_larger_than_declared_is_refused_when_loading(tmp_path: Path) -> None:
    path = _deflated_slice(tmp_path)

    def bomb(ds):  # type: ignore[no-untyped-def]
        ds.PixelData = bytes(BOMB_BYTES)  # the header still declares one small slice

    _rewrite(path, bomb)
    assert path.stat().st_size < 1024 * 1024
    (entry,) = scan_folder(tmp_path).series  # the header is fine: the scan keeps it
    with pytest.raises(DicomReadError) as caught:
        load_series(entry, workers=1)
    message = caught.value.message
    assert "inflate to more than the header declares" in message and path.name in message
    with pytest.raises(InflationRefusedError):
        read_deflated(path)


def test_a_header_that_inflates_without_end_is_refused_by_the_scan(tmp_path: Path) -> None:
    path = _deflated_slice(tmp_path)

    def bomb(ds):  # type: ignore[no-untyped-def]
        ds.add_new(0x00091010, "OB", bytes(BOMB_BYTES))  # a private element before the image
        ds.add_new(0x00090010, "LO", "BOMB")

    _rewrite(path, bomb)
    skipped = read_header(path)
    assert getattr(skipped, "reason", "").startswith("refused: deflated data without a readable")


def test_the_allowance_follows_the_declared_image(tmp_path: Path) -> None:
    """A deflated multi-frame image as large as it declares reads; the margin is fixed."""
    header = Dataset()
    header.Rows, header.Columns, header.BitsAllocated, header.NumberOfFrames = 512, 512, 16, 40
    assert declared_limit(header) == 512 * 512 * 2 * 40 + MARGIN_BYTES
    assert declared_limit(Dataset()) > MARGIN_BYTES  # no image: the fixed allowance
