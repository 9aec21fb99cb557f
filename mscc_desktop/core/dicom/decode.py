"""Decode frames to HU in display orientation; runs in threads or worker processes.

A :class:`DecodeTask` is small and picklable: one file, some of its frames, where each goes
in the output, and how to turn stored values into HU. Native (uncompressed) pixel data is
read straight from the file at the offset the scan recorded; everything else goes through
pydicom's decoders (pylibjpeg, openjpeg, libjpeg, RLE, pyjpegls).

Pixel padding: (0028,0120) Pixel Padding Value / (0028,0121) Pixel Padding Range Limit
mark fill outside the reconstruction circle; those voxels become air (-1000 HU). Vendors
that do not declare padding store fill as -2000 (Siemens, NEMA), -2048 (Toshiba) or -3024
HU (GE). Air is -1000 HU and scanners clip at -1024 HU, so any value below
:data:`PADDING_HU_LIMIT` can only be fill and becomes air as well.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import iter_pixels, pixel_array

from mscc_desktop.core.dicom.deflate import DEFLATED, InflationRefusedError, read_deflated
from mscc_desktop.core.dicom.geometry import DisplayTransform

AIR_HU = -1000
PADDING_HU_LIMIT = -1500.0
"""HU below this are fill (see module docstring), mapped to :data:`AIR_HU`."""

_INT16_MIN, _INT16_MAX = -32768, 32767
_NATIVE_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_NATIVE = _NATIVE_LE | {_BIG_ENDIAN}  # read straight from the file, no decoder needed
_JPEG_LS = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
_ENDS_WITH_EOI = _JPEG_LS | {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
}
_LONG_VRS = frozenset({b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC"})

_SYNTAX_NAMES = {
    "1.2.840.10008.1.2.4.51": "JPEG Extended (Process 2 and 4)",
    "1.2.840.10008.1.2.4.53": "JPEG Spectral Selection (Process 6 and 8)",
    "1.2.840.10008.1.2.4.55": "JPEG Full Progression (Process 10 and 12)",
}


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """How a file's pixels are laid out (from its header)."""

    rows: int
    columns: int
    n_frames: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int
    transfer_syntax_uid: str
    pixel_data_offset: int | None


@dataclass(frozen=True, slots=True)
class HuRule:
    """Stored value → output value for one frame."""

    slope: float
    intercept: float
    to_hu: bool  # False: keep stored values (no HU available)
    padding_value: int | None = None
    padding_limit: int | None = None
    map_padding: bool = True


@dataclass(frozen=True, slots=True)
class DecodeTask:
    """Frames of one file to decode: ``(frame index, output slot, rule)`` each."""

    path: Path
    fmt: PixelFormat
    frames: tuple[tuple[int, int, HuRule], ...]
    transform: DisplayTransform
    out_dtype: str  # "int16" or "float32"


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """Result for one slot; ``image`` is ``None`` when written in place or on error."""

    slot: int
    image: npt.NDArray[np.int16] | npt.NDArray[np.float32] | None
    error: str | None = None
    padded: int = 0
    clipped: int = 0
    cause: str | None = None  # with ``error``: UNSUPPORTED or DAMAGED


UNSUPPORTED = "unsupported"
"""Failure cause: no installed decoder handles the file's transfer syntax."""
DAMAGED = "damaged"
"""Failure cause: the syntax is supported, but the pixel data are damaged or cut short."""


def _native_frames(task: DecodeTask) -> dict[int, npt.NDArray[Any]] | None:
    """Read native pixel data straight from the file; ``None`` when this fast path cannot."""
    fmt = task.fmt
    if (
        fmt.pixel_data_offset is None
        or fmt.samples_per_pixel != 1
        or fmt.bits_allocated not in (8, 16, 32)
        or fmt.transfer_syntax_uid not in _NATIVE
    ):
        return None
    big = fmt.transfer_syntax_uid == _BIG_ENDIAN
    bytes_per = fmt.bits_allocated // 8
    frame_bytes = fmt.rows * fmt.columns * bytes_per
    kind = "i" if fmt.pixel_representation == 1 else "u"
    dtype = np.dtype(f"{'>' if big else '<'}{kind}{bytes_per}")
    with task.path.open("rb") as handle:
        handle.seek(fmt.pixel_data_offset)
        head = handle.read(12)
        tag = b"\x7f\xe0\x00\x10" if big else b"\xe0\x7f\x10\x00"
        if len(head) < 8 or head[:4] != tag:
            return None  # file changed since the scan, or odd layout: use pydicom
        order = ">" if big else "<"
        if fmt.transfer_syntax_uid == "1.2.840.10008.1.2":
            (length,) = struct.unpack(order + "I", head[4:8])
            start = 8
        elif head[4:6] in _LONG_VRS:
            (length,) = struct.unpack(order + "I", head[8:12])
            start = 12
        else:
            (length,) = struct.unpack(order + "H", head[6:8])
            start = 8
        if length == 0xFFFFFFFF or length < frame_bytes * fmt.n_frames:
            return None
        frames: dict[int, npt.NDArray[Any]] = {}
        for frame_index, _, _ in task.frames:
            handle.seek(fmt.pixel_data_offset + start + frame_index * frame_bytes)
            data = handle.read(frame_bytes)
            if len(data) != frame_bytes:
                return None
            array = np.frombuffer(data, dtype=dtype).reshape(fmt.rows, fmt.columns)
            frames[frame_index] = _mask_bits(array.astype(dtype.newbyteorder("=")), fmt)
    return frames


def _mask_bits(array: npt.NDArray[Any], fmt: PixelFormat) -> npt.NDArray[Any]:
    """Drop bits above (0028,0101) Bits Stored, sign-extending signed data (as pydicom)."""
    if fmt.bits_stored >= fmt.bits_allocated or fmt.bits_stored <= 0:
        return array
    shift = fmt.bits_allocated - fmt.bits_stored
    if fmt.pixel_representation == 1:
        return (array << shift) >> shift  # type: ignore[operator,no-any-return]
    mask = (1 << fmt.bits_stored) - 1
    return array & np.array(mask, dtype=array.dtype)  # type: ignore[operator,no-any-return]


@lru_cache(maxsize=1)
def _charls_available() -> bool:
    from pydicom.pixels.decoders.base import get_decoder

    return "pyjpegls" in get_decoder("1.2.840.10008.1.2.4.80").available_plugins


def _plugin(syntax: str) -> str:
    """The decoder plugin to insist on ("": pydicom tries each available one in turn).

    For JPEG-LS pydicom tries libjpeg (pylibjpeg) before CharLS (pyjpegls); on some damaged
    streams libjpeg never returns (found by the importer fuzzer; regression
    ``tests/hardening/regressions/jpegls-libjpeg-hang``), while CharLS refuses them at once
    and is the faster decoder anyway (PERF_NOTES: 1.9 vs 7.5 ms a slice).
    """
    return "pyjpegls" if syntax in _JPEG_LS and _charls_available() else ""


class UnusableFrameError(ValueError):
    """A compressed frame no decoder should be given; the message says why (for the user)."""


def _check_complete(path: Path, fmt: PixelFormat, indices: list[int]) -> None:
    """Refuse JPEG-family frames that are cut short or unreadable, before a decoder sees them.

    libjpeg silently decodes a truncated frame into a partial image (the lost part filled
    in, shown as if real), and CharLS takes seconds to refuse one, even a 32×32 one: a broken
    copy is reported as incomplete instead.
    """
    wanted = set(indices)
    try:
        ds = dcmread(path, force=True)
        if "PixelData" not in ds:  # pydicom drops encapsulated data that ends early
            raise UnusableFrameError("cut short (incomplete file)")
        if not isinstance(ds.PixelData, bytes | bytearray):  # e.g. a damaged VR
            raise UnusableFrameError("held in a damaged Pixel Data element")
        frames = generate_frames(bytes(ds.PixelData), number_of_frames=max(1, fmt.n_frames))
        for index, frame in enumerate(frames):
            if index in wanted and not frame.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise UnusableFrameError("cut short (incomplete file)")
            if index >= max(wanted):
                return
    except UnusableFrameError:
        raise
    except MemoryError:  # a damaged length asked for more than the machine has
        raise UnusableFrameError("held in a damaged file (an impossible element length)") from None
    # Only a check: data it cannot walk goes to the decoders, which report their own error.
    except Exception:  # noqa: BLE001
        return


def _pydicom_frames(task: DecodeTask) -> dict[int, npt.NDArray[Any]]:
    """Decode the task's frames with pydicom's decoders (one header parse per task)."""
    indices = [frame_index for frame_index, _, _ in task.frames]
    plugin = _plugin(task.fmt.transfer_syntax_uid)
    if task.fmt.transfer_syntax_uid in _ENDS_WITH_EOI:
        _check_complete(task.path, task.fmt, indices)
    if task.fmt.transfer_syntax_uid == DEFLATED:
        # Inflated no further than the header allows (pydicom would inflate it all at once).
        ds = read_deflated(task.path)
        if task.fmt.n_frames <= 1:
            return {indices[0]: pixel_array(ds, decoding_plugin=plugin)}
        return dict(zip(indices, iter_pixels(ds, indices=indices), strict=True))
    try:
        if task.fmt.n_frames <= 1:
            return {indices[0]: pixel_array(task.path, decoding_plugin=plugin)}
        frames = iter_pixels(task.path, indices=indices, decoding_plugin=plugin)
        return dict(zip(indices, frames, strict=True))
    except (AttributeError, KeyError, ValueError):
        # pixel_array(path) reads selectively and misses deflated or meta-less files:
        # read the whole dataset instead.
        ds = dcmread(task.path, force=True)
        if task.fmt.n_frames <= 1:
            return {indices[0]: pixel_array(ds, decoding_plugin=plugin)}
        frames = iter_pixels(ds, indices=indices, decoding_plugin=plugin)
        return dict(zip(indices, frames, strict=True))


def convert_into(stored: npt.NDArray[Any], rule: HuRule, dst: npt.NDArray[Any]) -> tuple[int, int]:
    """Write the output values of ``stored`` into ``dst``: (voxels made air, voxels clipped).

    ``dst`` has ``stored``'s shape (possibly a flipped or transposed view of the output
    slice) and dtype int16 or float32. The common case costs four passes over the pixels:
    min/max, cast, rescale; padding passes only run when padding can be present.
    """
    if stored.ndim != 2 or stored.shape != dst.shape:
        raise ValueError(f"expected a monochrome 2-D frame, got shape {stored.shape}")
    low, high = (float(stored.min()), float(stored.max())) if stored.size else (0.0, 0.0)
    slope, intercept = (rule.slope, rule.intercept) if rule.to_hu else (1.0, 0.0)
    ends = (low * slope + intercept, high * slope + intercept)
    lowest, highest = min(ends), max(ends)
    declared: npt.NDArray[np.bool_] | None = None
    if rule.to_hu and rule.map_padding and rule.padding_value is not None:
        pad_low = min(rule.padding_value, rule.padding_limit or rule.padding_value)
        pad_high = max(rule.padding_value, rule.padding_limit or rule.padding_value)
        if pad_low <= high and pad_high >= low:  # padding can only be present then
            declared = (stored >= pad_low) & (stored <= pad_high)
    clipped = 0
    if dst.dtype == np.int16:
        if lowest >= _INT16_MIN and highest <= _INT16_MAX:
            # Integer rescale in int16 with wrap-around: exact, because the true result is
            # known to fit int16 (modular arithmetic agrees wherever the result fits).
            np.copyto(dst, stored, casting="unsafe")
            if slope != 1:
                dst *= np.int16(slope)
            if intercept != 0:
                dst += np.int16(intercept)
        else:
            work = stored.astype(np.int64) * int(slope) + int(intercept)
            outside = (work < _INT16_MIN) | (work > _INT16_MAX)
            clipped = int(np.count_nonzero(outside))
            np.clip(work, _INT16_MIN, _INT16_MAX, out=work)
            np.copyto(dst, work, casting="unsafe")
    else:
        np.copyto(dst, stored, casting="unsafe")
        if slope != 1:
            dst *= np.float32(slope)
        if intercept != 0:
            dst += np.float32(intercept)
    padded = 0
    if rule.to_hu and rule.map_padding:
        fill = declared
        if lowest < PADDING_HU_LIMIT:
            below = dst < PADDING_HU_LIMIT
            fill = below if fill is None else (fill | below)
        if fill is not None:
            padded = int(np.count_nonzero(fill))
            if padded:
                dst[fill] = AIR_HU
    return padded, clipped


@lru_cache(maxsize=64)
def decoder_installed(syntax: str) -> bool:
    """True when a decoder for transfer syntax ``syntax`` is installed (native data needs none)."""
    if syntax in _NATIVE:
        return True
    from pydicom.pixels.decoders.base import get_decoder

    try:
        return bool(get_decoder(syntax).is_available)
    except NotImplementedError:  # pydicom has no decoder for this syntax at all
        return False


def syntax_name(syntax: str) -> str:
    """The transfer syntax's name, for people (its UID when pydicom does not know it)."""
    from pydicom.uid import UID

    name = _SYNTAX_NAMES.get(syntax) or UID(syntax).name
    return name if name and name != syntax else syntax


def _decoder_said(error: BaseException) -> str:
    """The decoder's own reason in one line, without pydicom's preamble (for the detail)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1] if lines else type(error).__name__
    if "error code" in text and "): " in text:  # "libjpeg error code '-1038' ... Decode(): <why>"
        text = text.split("): ", 1)[1]
    elif text.startswith(
        tuple(f"{name}: " for name in ("pylibjpeg", "gdcm", "pyjpegls", "pillow", "pydicom"))
    ):
        text = text.split(": ", 1)[1]
    return text if len(text) <= 160 else text[:157] + "..."


def _why(error: BaseException, task: DecodeTask) -> tuple[str, str]:
    """What went wrong with this file's pixel data, for a person, and its cause."""
    syntax = task.fmt.transfer_syntax_uid
    name = syntax_name(syntax)
    if isinstance(error, InflationRefusedError):
        return f"its pixel data were refused: {error} ({name})", DAMAGED
    if isinstance(error, UnusableFrameError):
        return f"its compressed pixel data is {error} ({name})", DAMAGED
    if not decoder_installed(syntax):
        return f"no installed decoder handles its transfer syntax ({name})", UNSUPPORTED
    if syntax in _NATIVE or syntax == DEFLATED:
        return (
            f"its pixel data do not match its header: the file is cut short or damaged ({name})",
            DAMAGED,
        )
    return f"its compressed pixel data is damaged: {_decoder_said(error)} ({name})", DAMAGED


def run_task(
    task: DecodeTask, out: npt.NDArray[np.int16] | npt.NDArray[np.float32] | None = None
) -> list[DecodedFrame]:
    """Decode one task; write into ``out[slot]`` when given, else return the images.

    Never raises for a bad file: each frame's outcome (or error text) is in the result.
    """
    try:
        stored = _native_frames(task)
        if stored is None:
            stored = _pydicom_frames(task)
    except (KeyboardInterrupt, SystemExit):
        raise
    # A per-file boundary (also a process boundary): decoders raise many exception types
    # on damaged or unsupported data; the frame is reported and the rest still loads. The
    # Rust RLE decoder (pyo3) even raises PanicException, which is not an Exception.
    except BaseException as error:  # noqa: BLE001
        message, cause = _why(error, task)
        return [DecodedFrame(slot, None, message, cause=cause) for _, slot, _ in task.frames]
    dtype = np.dtype(task.out_dtype)
    results: list[DecodedFrame] = []
    for frame_index, slot, rule in task.frames:
        if out is not None:
            target = out[slot]
        else:
            target = np.empty(task.transform.shape(task.fmt.rows, task.fmt.columns), dtype)
        try:
            padded, clipped = convert_into(
                stored[frame_index], rule, task.transform.stored_view(target)
            )
        except (ValueError, TypeError, KeyError) as error:
            results.append(
                DecodedFrame(slot, None, f"unexpected pixel layout ({error})", cause=DAMAGED)
            )
            continue
        image = None if out is not None else target
        results.append(DecodedFrame(slot, image, None, padded, clipped))
    return results


def run_tasks(tasks: list[DecodeTask]) -> list[DecodedFrame]:
    """Entry point of a worker process: decode a chunk of tasks, return the images."""
    results: list[DecodedFrame] = []
    for task in tasks:
        results.extend(run_task(task))
    return results
