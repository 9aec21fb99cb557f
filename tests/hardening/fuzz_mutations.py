"""Structure-aware mutations of DICOM files, for the importer fuzzer.

Two layers, mixed at random in every case:

* **Element mutations** parse the file with pydicom and put a hostile raw value into a chosen
  attribute (absurd Rows/Columns/NumberOfFrames/BitsAllocated, NaN/inf/overflowing DS and IS
  strings, wrong-count multi-values, path separators and NULs in identifiers, colour
  photometrics, swapped SOP classes), delete an attribute, or re-declare the file's transfer
  syntax without re-encoding it; the file is then written back by pydicom as raw bytes.
* **Byte mutations** work on the serialised file at element boundaries found by pydicom:
  element lengths (zero, odd, off by one, undefined, huge) and VRs, encapsulated fragments
  (lengths, Basic Offset Table, delimiters, corrupted codestream bytes), deeply nested
  undefined-length sequences, and plain flips, truncations, insertions and splices.

Every mutation is a pure function of the input bytes and a :class:`random.Random`, so a case
is reproduced exactly from ``(seeds, case id, master seed)``.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from tests.hardening.fuzz_seeds import Seed

pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE

NUMBER_TEXTS = (
    "NaN", "nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e-320", "0", "-0", "-1",
    "1e30", "-1e30", "3.5e38", "abc", "", " ", "0x10", "+5", "1,5", "\x00", "9" * 40, "1.5",
    "100", "-100", "0.5",
)  # fmt: skip
INTEGER_TEXTS = (
    "0", "-1", "1", "2", "3", "4", "1.5", "-2147483649", "2147483648", "99999999999", "1e9",
    "NaN", "inf", "abc", "", "20001", "19999", "65536",
)  # fmt: skip
US_VALUES = {
    "Rows": (0, 1, 2, 3, 31, 33, 4097, 16384, 16385, 32768, 65535),
    "Columns": (0, 1, 2, 3, 31, 33, 4097, 16384, 16385, 32768, 65535),
    "BitsAllocated": (0, 1, 7, 8, 12, 15, 16, 17, 24, 32, 33, 64, 255, 65535),
    "BitsStored": (0, 1, 7, 8, 12, 15, 16, 17, 32, 65535),
    "HighBit": (0, 7, 11, 15, 16, 31, 65535),
    "PixelRepresentation": (0, 1, 2, 65535),
    "SamplesPerPixel": (0, 1, 2, 3, 4, 65535),
    "PlanarConfiguration": (0, 1, 2),
    "PixelPaddingValue": (0, 1, 32767, 32768, 65535),
    "PixelPaddingRangeLimit": (0, 32768, 65535),
}
TEXT_VALUES = {
    "PhotometricInterpretation": (
        "MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422",
        "YBR_RCT", "", "\x00\x01", "MONOCHROME2\\RGB",
    ),
    "Modality": ("", "MR", "CT\\MR", "\x00", "OT", "ct"),
    "ImageType": ("LOCALIZER", "ORIGINAL\\PRIMARY\\AXIAL", "", "\\\\\\", "DERIVED\\SECONDARY\\MPR"),
    "SOPClassUID": (
        "", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.1.3.10",
        "1.2.840.10008.5.1.4.1.1.88.11", "../../etc/passwd", "1" * 200, "\x00",
    ),
    "StudyInstanceUID": ("", "../../etc", "1" * 200, "\x00", "1.2.3", "a/b\\c"),
    "SeriesInstanceUID": ("", "../../etc", "1" * 200, "\x00", "1.2.3", "a/b\\c"),
    "SOPInstanceUID": ("", "../x", "\x00", "1.2.3"),
    "FrameOfReferenceUID": ("", "\x00", "1.2.3"),
    "PatientName": ("../../x", "a/b\\c", "C:\\x", "\x00", "A" * 10000, "=^=", "CON", ""),
    "PatientID": ("../../x", "", "\x00", "nul", "B" * 5000),
    "SeriesDescription": ("../../x", "a/b\\c", "\x00\x1f", "", "D" * 10000),
    "StudyDate": ("", "99999999", "abc", "2024"),
    "SpecificCharacterSet": ("ISO_IR 192", "GB18030", "ISO 2022 IR 87", "nonsense", "\x00"),
}  # fmt: skip
DS_SINGLE = (
    "SliceThickness", "RescaleSlope", "RescaleIntercept", "GantryDetectorTilt", "KVP",
    "WindowCenter", "WindowWidth", "SliceLocation", "SpacingBetweenSlices",
)  # fmt: skip
DS_MULTI = {"PixelSpacing": 2, "ImagePositionPatient": 3, "ImageOrientationPatient": 6}
IS_KEYWORDS = ("NumberOfFrames", "InstanceNumber", "SeriesNumber", "AcquisitionNumber")
SYNTAXES = (
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.201", "1.2.3", "",
)  # fmt: skip
VR_CODES = (b"US", b"SS", b"UL", b"DS", b"IS", b"OB", b"OW", b"UN", b"SQ", b"UT", b"ZZ", b"\0\0")
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
ITEM = b"\xfe\xff\x00\xe0"
SEQ_DELIMITER = b"\xfe\xff\xdd\xe0"


class NotApplicable(Exception):  # noqa: N818 - a signal to pick another mutation
    """This mutation cannot apply to these bytes (e.g. pydicom cannot parse them)."""


@dataclass
class Case:
    """One fuzz case: the files of a (mutated) series and what was done to them."""

    case_id: int
    seed_name: str
    synthetic: bool
    files: list[tuple[str, bytes]]
    mutations: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------- parsing
def _parse(data: bytes) -> Dataset:
    try:
        return dcmread(io.BytesIO(data), force=True)
    except Exception as error:
        raise NotApplicable(type(error).__name__) from error


def _serialise(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=False)
    except Exception as error:
        raise NotApplicable(f"write: {type(error).__name__}") from error
    return buffer.getvalue()


def _encoding(ds: Dataset) -> tuple[bool, bool]:
    implicit, little = getattr(ds, "original_encoding", (False, True))
    return bool(implicit if implicit is not None else False), bool(
        little if little is not None else True
    )


def _text_bytes(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw + b" " if len(raw) % 2 else raw


def _set_raw(ds: Dataset, keyword: str, vr: str, value: bytes) -> None:
    implicit, little = _encoding(ds)
    tag = Tag(tag_for_keyword(keyword) or 0)
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, implicit, little)


# -------------------------------------------------------------------- element mutations
def hostile_value(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Put a hostile raw value into one attribute (keeping or breaking its VR's rules)."""
    ds = _parse(data)
    _, little = _encoding(ds)
    kind = rng.choice(("us", "text", "ds", "ds_multi", "is"))
    if kind == "us":
        keyword = rng.choice(sorted(US_VALUES))
        value = rng.choice(US_VALUES[keyword])
        _set_raw(ds, keyword, "US", struct.pack("<H" if little else ">H", value))
        text = f"{keyword}={value}"
    elif kind == "text":
        keyword = rng.choice(sorted(TEXT_VALUES))
        value_text = rng.choice(TEXT_VALUES[keyword])
        _set_raw(ds, keyword, dictionary_VR(keyword), _text_bytes(value_text))
        text = f"{keyword}={value_text[:40]!r}"
    elif kind == "ds":
        keyword = rng.choice(DS_SINGLE)
        value_text = rng.choice(NUMBER_TEXTS)
        _set_raw(ds, keyword, "DS", _text_bytes(value_text[:64]))
        text = f"{keyword}={value_text[:40]!r}"
    elif kind == "ds_multi":
        keyword = rng.choice(sorted(DS_MULTI))
        count = rng.choice((DS_MULTI[keyword],) * 4 + (0, 1, 2, 3, 5, 7))
        values = [rng.choice(NUMBER_TEXTS) for _ in range(count)]
        _set_raw(ds, keyword, "DS", _text_bytes("\\".join(values)))
        text = f"{keyword}={values!r}"
    else:
        keyword = rng.choice(IS_KEYWORDS)
        value_text = rng.choice(INTEGER_TEXTS)
        _set_raw(ds, keyword, "IS", _text_bytes(value_text))
        text = f"{keyword}={value_text!r}"
    return _serialise(ds), text


def absurd_dimensions(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Rows, Columns, Number of Frames and Bits Allocated declared huge together."""
    ds = _parse(data)
    _, little = _encoding(ds)
    rows, columns = rng.choice(((16384, 16384), (65535, 65535), (16385, 2), (4096, 4096)))
    frames = rng.choice(("1", "3", "5", "20000", "100000", "2147483647"))
    bits = rng.choice((16, 32, 64))
    pack = struct.Struct("<H" if little else ">H").pack
    _set_raw(ds, "Rows", "US", pack(rows))
    _set_raw(ds, "Columns", "US", pack(columns))
    _set_raw(ds, "BitsAllocated", "US", pack(bits))
    _set_raw(ds, "NumberOfFrames", "IS", _text_bytes(frames))
    return _serialise(ds), f"{rows}x{columns}x{frames} frames of {bits} bits"


def delete_element(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Remove one top-level attribute (Pixel Data included)."""
    ds = _parse(data)
    tags = list(ds.keys())
    if not tags:
        raise NotApplicable("empty dataset")
    tag = rng.choice(tags)
    del ds[tag]
    return _serialise(ds), f"delete {Tag(tag)}"


def wrong_vr(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Re-declare an image attribute with another VR and matching raw bytes."""
    ds = _parse(data)
    keyword = rng.choice((*US_VALUES, *DS_SINGLE, *DS_MULTI, *IS_KEYWORDS))
    vr = rng.choice(("DS", "IS", "US", "SS", "UL", "OB", "UN", "FD", "LO", "SQ"))
    payload = rng.choice((b"", b"\x00\x00", b"512 ", b"\xff" * 8, b"1\\2\\3\\4", bytes(7)))
    if vr == "SQ":
        payload = b""
    _set_raw(ds, keyword, vr, payload)
    return _serialise(ds), f"{keyword} as VR {vr} {payload[:8]!r}"


def pixel_data_length(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Native pixel data shortened, lengthened, emptied or made odd (header unchanged)."""
    ds = _parse(data)
    if "PixelData" not in ds or ds.file_meta.get("TransferSyntaxUID", "") not in SYNTAXES[:4]:
        raise NotApplicable("no native pixel data")
    pixels = bytes(ds.PixelData)
    choice = rng.choice(("half", "empty", "one_less", "double", "odd"))
    new = {
        "half": pixels[: len(pixels) // 2],
        "empty": b"",
        "one_less": pixels[:-2],
        "double": pixels * 2,
        "odd": pixels + b"\x00",
    }[choice]
    ds.PixelData = new
    return _serialise(ds), f"pixel data {choice} ({len(pixels)} -> {len(new)} bytes)"


def functional_groups(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Per-frame/shared functional groups with wrong counts, empty items or NaN positions."""
    ds = _parse(data)
    choice = rng.choice(("drop_items", "empty_items", "nan_position", "extra_items"))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None or len(per_frame) == 0:
        per_frame_items: list[Dataset] = [Dataset() for _ in range(rng.choice((1, 2, 50)))]
    else:
        per_frame_items = list(per_frame)
    if choice == "drop_items":
        per_frame_items = per_frame_items[: rng.randrange(len(per_frame_items))]
    elif choice == "empty_items":
        per_frame_items = [Dataset() for _ in per_frame_items]
    elif choice == "extra_items":
        per_frame_items = per_frame_items + [Dataset() for _ in range(rng.choice((1, 100)))]
    else:
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = ["NaN", "inf", "1e308"]
        item.PlanePositionSequence = [position]
        per_frame_items = [item for _ in per_frame_items]
    ds.PerFrameFunctionalGroupsSequence = per_frame_items
    return _serialise(ds), f"functional groups {choice} ({len(per_frame_items)} items)"


def declared_syntax(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Re-declare (0002,0010) Transfer Syntax UID without re-encoding the dataset."""
    if data[128:132] != b"DICM":
        raise NotApplicable("no file meta")
    position, elements = 132, []
    while position + 8 <= len(data) and data[position : position + 2] == b"\x02\x00":
        vr = data[position + 4 : position + 6]
        if vr in LONG_VRS:
            (length,) = struct.unpack("<I", data[position + 8 : position + 12])
            start = position + 12
        else:
            (length,) = struct.unpack("<H", data[position + 6 : position + 8])
            start = position + 8
        elements.append((data[position : position + 4], vr, data[start : start + length]))
        position = start + length
    syntax = rng.choice(SYNTAXES)
    value = syntax.encode() + (b"\x00" if len(syntax) % 2 else b"")
    out = b""
    for tag, vr, body in elements:
        if tag == b"\x02\x00\x10\x00":
            body = value
        if tag == b"\x02\x00\x00\x00":
            continue
        header = tag + vr + (b"\0\0" + struct.pack("<I", len(body)) if vr in LONG_VRS else b"")
        if vr not in LONG_VRS:
            header = tag + vr + struct.pack("<H", len(body))
        out += header + body
    group_length = b"\x02\x00\x00\x00UL" + struct.pack("<HI", 4, len(out))
    return data[:132] + group_length + out + data[position:], f"declared syntax {syntax!r}"


# ------------------------------------------------------------------------ byte mutations
@dataclass(frozen=True)
class _Element:
    tag: int
    vr_at: int | None  # offset of the VR bytes (explicit VR only)
    length_at: int
    length_size: int
    value_at: int
    length: int


def _elements(data: bytes) -> list[_Element]:
    """Top-level elements of a non-deflated file with their byte offsets."""
    ds = _parse(data)
    if ds.file_meta.get("TransferSyntaxUID", "") == "1.2.840.10008.1.2.1.99":
        raise NotApplicable("deflated: offsets are inside the zlib stream")
    found = []
    for tag in list(ds.keys()):
        raw = ds._dict.get(tag)  # the raw element, never converted (conversion may fail)
        if not isinstance(raw, RawDataElement) or raw.value_tell is None:
            continue
        at = raw.value_tell
        if raw.is_implicit_VR:
            found.append(_Element(int(tag), None, at - 4, 4, at, raw.length))
        elif data[at - 8 : at - 6] in LONG_VRS:
            found.append(_Element(int(tag), at - 8, at - 4, 4, at, raw.length))
        else:
            found.append(_Element(int(tag), at - 4, at - 2, 2, at, raw.length))
    if not found:
        raise NotApplicable("no elements found")
    return found


def element_length(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Rewrite one element's length field (zero, odd, off by one, undefined, huge)."""
    element = rng.choice(_elements(data))
    size = element.length_size
    little = data[element.length_at : element.length_at + size] == element.length.to_bytes(
        size, "little"
    )
    limit = (1 << (8 * size)) - 1
    new = rng.choice(
        (0, 1, 3, element.length + 1, max(0, element.length - 1), element.length * 2 + 2,
         limit, limit - 1, 0x7FFFFFFF & limit, rng.randrange(limit + 1))
    )  # fmt: skip
    field = min(new, limit).to_bytes(size, "little" if little else "big")
    out = data[: element.length_at] + field + data[element.length_at + size :]
    return out, f"length of {Tag(element.tag)} {element.length} -> {new}"


def element_vr(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Overwrite one element's VR code (explicit VR files)."""
    candidates = [e for e in _elements(data) if e.vr_at is not None]
    if not candidates:
        raise NotApplicable("implicit VR")
    element = rng.choice(candidates)
    assert element.vr_at is not None
    vr = rng.choice(VR_CODES)
    out = data[: element.vr_at] + vr + data[element.vr_at + 2 :]
    return out, f"VR of {Tag(element.tag)} -> {vr!r}"


def _pixel_element(data: bytes) -> _Element:
    for element in _elements(data):
        if element.tag == 0x7FE00010:
            return element
    raise NotApplicable("no pixel data")


def fragments(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Damage encapsulated pixel data: item lengths, offset table, delimiter, codestream."""
    pixel = _pixel_element(data)
    if pixel.length != 0xFFFFFFFF:
        raise NotApplicable("native pixel data")
    items: list[tuple[int, int]] = []  # (offset of item tag, length)
    position = pixel.value_at
    while position + 8 <= len(data) and data[position : position + 4] == ITEM:
        (length,) = struct.unpack("<I", data[position + 4 : position + 8])
        items.append((position, length))
        position += 8 + length
    if not items:
        raise NotApplicable("no items")
    choice = rng.choice(("item_length", "bot", "delimiter", "codestream", "drop", "zero"))
    at, length = rng.choice(items)
    if choice == "item_length":
        new = rng.choice((0, 1, length + 2, max(0, length - 2), 0xFFFFFFFF, 0x7FFFFFF0))
        return (
            data[: at + 4] + struct.pack("<I", new) + data[at + 8 :],
            f"fragment length {length} -> {new}",
        )
    if choice == "bot":
        first_at, first_length = items[0]
        table = struct.pack("<4I", 0, 0xFFFFFFF0, 7, 1 << 30)
        return (
            data[: first_at + 4] + struct.pack("<I", len(table)) + table
            + data[first_at + 8 + first_length :],
            "garbage basic offset table",
        )  # fmt: skip
    if choice == "delimiter":
        return data[:position], "sequence delimiter removed"
    if choice == "drop":
        return data[:at] + data[at + 8 + length :], f"fragment at {at} removed"
    start, end = at + 8, at + 8 + length
    if end <= start:
        raise NotApplicable("empty fragment")
    body = bytearray(data[start:end])
    if choice == "zero":
        body[:] = bytes(len(body))
    else:
        for _ in range(rng.randint(1, 12)):
            index = rng.randrange(len(body))
            body[index] = rng.choice((0x00, 0xFF, rng.randrange(256)))
    return data[:start] + bytes(body) + data[end:], f"fragment {choice} at {at}"


def nested_sequences(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Insert a private undefined-length sequence nested ``depth`` items deep."""
    elements = _elements(data)
    after = [e for e in elements if (e.tag >> 16) > 0x0009]
    if not after:
        raise NotApplicable("nowhere to insert")
    first = after[0]
    explicit = first.vr_at is not None
    little = data[first.length_at : first.length_at + first.length_size] == first.length.to_bytes(
        first.length_size, "little"
    )
    if not little:
        raise NotApplicable("big endian")
    start = first.vr_at - 4 if first.vr_at is not None else first.length_at - 4
    depth = rng.choice((2, 50, 300, 1000, 3000))
    tag = b"\x09\x00\x10\x10"
    creator = b"\x09\x00\x10\x00" + (b"LO\x04\x00" if explicit else b"\x04\x00\x00\x00") + b"FUZZ"
    opening = tag + (b"SQ\x00\x00\xff\xff\xff\xff" if explicit else b"\xff\xff\xff\xff")
    item_open = ITEM + b"\xff\xff\xff\xff"
    item_close = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    closing = SEQ_DELIMITER + b"\x00\x00\x00\x00"
    nested = (opening + item_open) * depth + (item_close + closing) * depth
    return data[:start] + creator + nested + data[start:], f"sequences nested {depth} deep"


def flip_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Flip, zero or saturate 1-16 bytes, in the header or in the pixel data."""
    if len(data) <= 132:
        raise NotApplicable("too short")
    out = bytearray(data)
    try:
        pixel_at = _pixel_element(data).value_at
    except NotApplicable:
        pixel_at = len(data)
    region = rng.choice(("header", "pixels", "anywhere"))
    low, high = {
        "header": (128, max(129, pixel_at)),
        "pixels": (min(pixel_at, len(data) - 1), len(data)),
        "anywhere": (0, len(data)),
    }[region]
    count = rng.randint(1, 16)
    for _ in range(count):
        index = rng.randrange(low, high)
        out[index] = rng.choice((out[index] ^ (1 << rng.randrange(8)), 0x00, 0xFF))
    return bytes(out), f"{count} byte(s) flipped in {region}"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Cut the file anywhere (or just its last bytes)."""
    cut = rng.choice((rng.randrange(len(data) + 1), max(0, len(data) - rng.randint(1, 64))))
    return data[:cut], f"truncated at {cut} of {len(data)}"


def insert_or_delete(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Insert random bytes at, or delete a chunk from, a random offset."""
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        chunk = rng.randbytes(rng.choice((1, 2, 4, 8, 64, 512)))
        return data[:at] + chunk + data[at:], f"{len(chunk)} bytes inserted at {at}"
    size = rng.choice((1, 2, 4, 8, 64, 512))
    return data[:at] + data[at + size :], f"{size} bytes deleted at {at}"


ELEMENT_MUTATIONS: tuple[Callable[[bytes, random.Random], tuple[bytes, str]], ...] = (
    hostile_value,
    hostile_value,
    absurd_dimensions,
    delete_element,
    wrong_vr,
    pixel_data_length,
    functional_groups,
    declared_syntax,
)
BYTE_MUTATIONS: tuple[Callable[[bytes, random.Random], tuple[bytes, str]], ...] = (
    element_length,
    element_length,
    element_vr,
    fragments,
    fragments,
    nested_sequences,
    flip_bytes,
    flip_bytes,
    truncate,
    insert_or_delete,
)
ODD_NAMES = (
    "IM 0001 ü", "-rf", ".hidden", "x.dcm", "DICOMDIR", "a\\b", "名前", "con", "space ",
    "\u202e\u0644", "very" + "long" * 40,
)  # fmt: skip


def mutate(data: bytes, rng: random.Random, donor: bytes) -> tuple[bytes, list[str]]:
    """Apply one to three mutations; element mutations first, byte mutations after."""
    done: list[str] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        if rng.random() < 0.05 and donor:
            cut, take = rng.randrange(len(data) + 1), rng.randrange(len(donor) + 1)
            data = data[:cut] + donor[take:]
            done.append(f"spliced at {cut} with a donor from {take}")
            continue
        pool = ELEMENT_MUTATIONS if rng.random() < 0.5 else BYTE_MUTATIONS
        for _attempt in range(4):
            mutation = rng.choice(pool)
            try:
                data, text = mutation(data, rng)
            # pydicom refuses or fails on some already-damaged inputs: try another mutation.
            except Exception:
                pool = BYTE_MUTATIONS
                continue
            done.append(f"{mutation.__name__}: {text}")
            break
    return data, done


def make_case(seeds: list[Seed], case_id: int, master_seed: int) -> Case:
    """The case ``case_id``: a seed series with one (sometimes two) files mutated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _make_case(seeds, case_id, master_seed)


def _make_case(seeds: list[Seed], case_id: int, master_seed: int) -> Case:
    rng = random.Random(f"{master_seed}/{case_id}")
    seed = rng.choice(seeds)
    files = list(seed.files)
    donor = rng.choice(rng.choice(seeds).files)
    targets = {rng.randrange(len(files))}
    if len(files) > 1 and rng.random() < 0.1:
        targets.add(rng.randrange(len(files)))
    mutations: list[str] = []
    for target in sorted(targets):
        files[target], done = mutate(files[target], rng, donor)
        mutations += [f"file {target}: {text}" for text in done]
    names = [f"{index:02d}" for index in range(len(files))]
    if rng.random() < 0.08:
        names[rng.randrange(len(names))] = rng.choice(ODD_NAMES)
        names = [n if names.count(n) == 1 else f"{n}-{i}" for i, n in enumerate(names)]
    return Case(case_id, seed.name, seed.synthetic, list(zip(names, files, strict=True)), mutations)
