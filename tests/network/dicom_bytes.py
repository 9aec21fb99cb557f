"""Compare what was received with what was sent: the data set's bytes after the file meta."""

from __future__ import annotations

import struct
from pathlib import Path


def dataset_bytes(data: bytes | Path) -> bytes:
    """The encoded data set of a Part 10 file, without preamble and file meta information.

    The meta group starts at byte 132 with (0002,0000) File Meta Information Group Length
    (explicit VR little endian, UL), which gives where the data set begins.
    """
    raw = data.read_bytes() if isinstance(data, Path) else data
    assert raw[128:132] == b"DICM", "not a Part 10 file"
    tag, vr = raw[132:136], raw[136:138]
    assert tag == b"\x02\x00\x00\x00" and vr == b"UL", "no File Meta Information Group Length"
    (group_length,) = struct.unpack("<I", raw[140:144])
    return raw[144 + group_length :]
