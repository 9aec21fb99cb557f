"""Builders of hostile DICOM inputs for the hardening tests (all in the test's tmp_path)."""

from __future__ import annotations

import struct
from pathlib import Path

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from mscc_desktop.core.dicom.write import FileNaming
from tests.factories.dicom_factory import series_info, write_series


def set_raw(path: Path, keyword: str, vr: str, value: str | bytes | int) -> None:
    """Rewrite ``path`` with ``keyword`` holding exactly these raw bytes (VR rules ignored).

    ``value`` is text (padded to even length), raw bytes, or an int packed as US/SS.
    """
    pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
    ds = dcmread(path, force=True)
    implicit, little = ds.original_encoding
    if isinstance(value, int):
        raw = struct.pack(("<" if little else ">") + ("h" if vr == "SS" else "H"), value)
    elif isinstance(value, str):
        raw = value.encode("latin-1", "replace")
        raw += b" " if len(raw) % 2 else b""
    else:
        raw = value
    tag = Tag(tag_for_keyword(keyword) or 0)
    ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, bool(implicit), bool(little))
    ds.save_as(path, enforce_file_format=False)


_Z_PLACEHOLDER = "-987654.321000"
_UID_PLACEHOLDER = "1.2.826.0.1.3680043.8.498.424242400000000000"


def many_slice_series(folder: Path, n_slices: int, *, size: int = 8) -> list[Path]:
    """``n_slices`` single-frame files of one axial series, 1 mm apart, built from one template.

    Writing through pydicom costs about a millisecond a file; patching fixed-width position
    and UID strings in one template's bytes keeps 10,000 files to a fraction of a second.
    """
    template_dir = folder.parent / f".{folder.name}-template"
    made = write_series(
        template_dir,
        n_slices=1,
        rows=size,
        cols=size,
        naming=FileNaming.SEQUENTIAL,
        info=series_info(series_description="Many slices"),
        positions_mm=((-25.0, -30.0, float(_Z_PLACEHOLDER)),),
    )
    path = made.paths[0]
    pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
    ds = dcmread(path)
    ds.ImagePositionPatient = ["-25", "-30", _Z_PLACEHOLDER]
    ds.SOPInstanceUID = _UID_PLACEHOLDER
    ds.file_meta.MediaStorageSOPInstanceUID = _UID_PLACEHOLDER
    ds.save_as(path, enforce_file_format=True)
    template = path.read_bytes()
    assert template.count(_Z_PLACEHOLDER.encode()) == 1
    assert template.count(_UID_PLACEHOLDER.encode()) == 2
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(n_slices):
        z = f"{-float(index):+014.6f}"  # same width as the placeholder
        uid = _UID_PLACEHOLDER[: -len(str(index))] + str(index)
        data = template.replace(_Z_PLACEHOLDER.encode(), z.encode()).replace(
            _UID_PLACEHOLDER.encode(), uid.encode()
        )
        target = folder / f"IM{index:05d}"
        target.write_bytes(data)
        paths.append(target)
    return paths


def nested_sequence_file(source: Path, target: Path, depth: int) -> Path:
    """``source`` with a private undefined-length sequence nested ``depth`` items deep."""
    data = source.read_bytes()
    ds = dcmread(source)
    assert not ds.original_encoding[0], "needs an explicit VR little endian file"
    # Insert before the first element of group 0010 (after group 0008): tag order is kept.
    raw = ds._dict[Tag(0x00100010)]
    start = raw.value_tell - 8
    creator = b"\x09\x00\x10\x00LO\x04\x00DEEP"
    opening = b"\x09\x00\x10\x10SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    target.write_bytes(data[:start] + creator + opening * depth + closing * depth + data[start:])
    return target
