"""Deflated Explicit VR Little Endian files, inflated no further than their header allows.

pydicom inflates a deflated dataset in one ``zlib.decompress`` call, so a small crafted file
(a "deflate bomb") can expand a thousandfold in memory before anything is checked. Here the
stream is inflated in steps: first enough to read the header, which declares how large the
image is (rows × columns × frames × samples × bytes), then at most that much more plus a
margin for the other elements. A file that inflates beyond it is refused with a message that
says so. Objects without an image get a fixed allowance.

Only the transfer syntax's own deflate is handled here; decoders of compressed pixel data are
bounded by the loader's declared-size caps (``load.MAX_SIDE_PIXELS``).
"""

from __future__ import annotations

import zlib
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset, FileDataset
from pydicom.filereader import read_dataset, read_file_meta_info
from pydicom.tag import BaseTag

DEFLATED = "1.2.840.10008.1.2.1.99"
_DEFLATED_BYTES = DEFLATED.encode("ascii")

HEADER_PROBE_BYTES = 256 * 1024
"""Inflated first, to read the header (CT headers are a few kB; private groups can be more)."""
HEADER_PROBE_MAX_BYTES = 8 * 1024 * 1024
"""The most inflated to find a readable header before the file is refused."""
MARGIN_BYTES = 8 * 1024 * 1024
"""Allowed beyond the declared image: other elements (overlays, private data, icons)."""
NO_IMAGE_LIMIT_BYTES = 64 * 1024 * 1024
"""Allowance for a deflated object that declares no image."""
_CHUNK = 64 * 1024
_PIXEL_DATA = 0x7FE00010


class InflationRefusedError(ValueError):
    """The deflated dataset inflates to more than its header declares (message for people)."""


def looks_deflated(head: bytes) -> bool:
    """Whether a file's first bytes (preamble and file meta) name the deflated syntax."""
    return _DEFLATED_BYTES in head[:4096]


class _Inflater:
    """Raw-deflate stream from ``handle``, inflated into ``out`` up to a limit at a time."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.engine = zlib.decompressobj(-zlib.MAX_WBITS)
        self.out = bytearray()
        self.pending = b""
        self.finished = False

    def fill(self, limit: int) -> None:
        """Inflate until ``out`` holds ``limit`` bytes or the stream ends."""
        while len(self.out) < limit and not self.finished:
            if not self.pending:
                self.pending = self.handle.read(_CHUNK)
                if not self.pending:
                    self.finished = True  # input ends (a truncated stream ends here too)
                    break
            self.out += self.engine.decompress(self.pending, limit - len(self.out))
            self.pending = self.engine.unconsumed_tail
            if self.engine.eof:
                self.finished = True


def _stop_at_pixels(tag: BaseTag, vr: str | None, length: int) -> bool:
    return int(tag) >= _PIXEL_DATA


def _header(data: bytearray) -> Dataset | None:
    """The elements before the pixel data, or ``None`` when ``data`` is cut inside them."""
    try:
        ds = read_dataset(BytesIO(bytes(data)), False, True, stop_when=_stop_at_pixels)
        for name in ("Rows", "Columns", "NumberOfFrames", "BitsAllocated", "SamplesPerPixel"):
            ds.get(name)  # values are parsed lazily: a cut value shows up here
    except Exception:  # noqa: BLE001 - a partial buffer fails in many ways; inflate more
        return None
    return ds


def declared_limit(header: Dataset) -> int:
    """The most a dataset with this header may inflate to (image plus margin)."""
    try:
        rows, columns = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
        frames = int(str(header.get("NumberOfFrames", 1) or 1))
        samples = int(header.get("SamplesPerPixel", 1) or 1)
        bits = int(header.get("BitsAllocated", 16) or 16)
    except (TypeError, ValueError):
        return NO_IMAGE_LIMIT_BYTES
    if rows <= 0 or columns <= 0:
        return NO_IMAGE_LIMIT_BYTES
    image = rows * columns * max(frames, 1) * max(samples, 1) * max(bits, 8) // 8
    return image + MARGIN_BYTES


def read_deflated(path: Path, *, stop_before_pixels: bool = False) -> FileDataset:
    """Read a deflated file as ``dcmread`` would, never inflating more than its header allows.

    Raises
    ------
    InflationRefusedError
        The dataset inflates beyond its declared image size plus a margin, or no header can
        be read in the first :data:`HEADER_PROBE_MAX_BYTES`.
    Exception
        Whatever pydicom raises on a damaged file (callers treat the file as unreadable).
    """
    meta = read_file_meta_info(path)
    if str(meta.get("TransferSyntaxUID", "")) != DEFLATED:
        raise ValueError("not a deflated file")
    group_length = int(meta.get("FileMetaInformationGroupLength", 0) or 0)
    if group_length <= 0:
        raise ValueError("file meta information without its group length")
    with path.open("rb") as handle:
        preamble = handle.read(128)
        handle.seek(132 + 12 + group_length)  # preamble, "DICM", (0002,0000), the group
        inflater = _Inflater(handle)
        probe = HEADER_PROBE_BYTES
        while True:
            inflater.fill(probe)
            # The header is complete once the pixel data's tag is in sight (or all is read).
            complete = inflater.finished or _reaches_pixel_data(inflater.out)
            header = _header(inflater.out) if complete else None
            if header is not None:
                break
            if inflater.finished:
                raise ValueError("deflated data damaged or cut short before the image")
            if probe >= HEADER_PROBE_MAX_BYTES:
                raise InflationRefusedError(
                    "deflated data without a readable header in their first "
                    f"{HEADER_PROBE_MAX_BYTES // (1024 * 1024)} MiB, not read further"
                )
            probe *= 4
        limit = declared_limit(header)
        if not stop_before_pixels:
            inflater.fill(limit + 1)
            if len(inflater.out) > limit:
                raise InflationRefusedError(
                    "deflated data that inflate to more than the header declares "
                    f"({limit // (1024 * 1024)} MiB with margin), not read further"
                )
    buffer = BytesIO(bytes(inflater.out))
    dataset = read_dataset(
        buffer, False, True, stop_when=_stop_at_pixels if stop_before_pixels else None
    )
    return FileDataset(str(path), dataset, preamble, meta, False, True)


def _reaches_pixel_data(data: bytearray) -> bool:
    """Whether the inflated bytes reach the Pixel Data element's tag (explicit VR LE)."""
    return b"\xe0\x7f\x10\x00" in data


__all__ = [
    "DEFLATED",
    "InflationRefusedError",
    "declared_limit",
    "looks_deflated",
    "read_deflated",
]
