"""Load a scanned series into a :class:`~mscc_desktop.core.volume.Volume` of HU.

Slices are sorted along the slice normal, duplicates dropped, gaps/uneven spacing/tilt
reported, the Modality LUT applied per slice, padding mapped to air and pixels flipped or
transposed into the standard display orientation. The output array is allocated once and
filled slice by slice, so peak memory stays near the volume's own size. Compressed data is
decoded in worker processes (decoders hold the GIL, and a native decoder that crashes on a
damaged file must end only its worker, not the app), native data in threads.
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.dicom.classify import SeriesEntry
from mscc_desktop.core.dicom.decode import (
    DAMAGED,
    UNSUPPORTED,
    DecodedFrame,
    DecodeTask,
    HuRule,
    run_task,
    run_tasks,
    syntax_name,
)
from mscc_desktop.core.dicom.geometry import (
    DisplayGeometry,
    display_geometry,
    layout_slices,
    missing_geometry_notice,
)
from mscc_desktop.core.dicom.headers import NATIVE_SYNTAXES, FrameRef
from mscc_desktop.core.dicom.parallel import default_workers, discard_pool, process_pool
from mscc_desktop.core.errors import DicomReadError, UnusableSeriesError
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import Volume

logger = logging.getLogger(__name__)

MAX_SIDE_PIXELS = 4096
MAX_VOXELS = 1_500_000_000
"""Declared sizes above these are refused before anything is allocated (hostile files).

CT matrices are 512 to 2048 pixels a side. Decoders allocate a whole declared frame before
finding that the data is short, so the side limit also bounds what one small damaged file
can make them allocate (4096² × 8 bytes = 128 MiB; at 16384 a 100 kB file took 512 MiB)."""

_REMEDY = {
    UNSUPPORTED: (
        "Convert the files to an uncompressed or lossless transfer syntax with a DICOM tool "
        "(for example 'gdcmconv --raw' or 'dcmdjpeg') and open them again."
    ),
    DAMAGED: (
        "The files are damaged or incomplete: copy the series again from the scanner or PACS "
        "(or export it again) and open the new copy."
    ),
}
"""What to do when no slice decodes, by the cause the decoder found."""


@dataclass(frozen=True, slots=True)
class _Plan:
    refs: list[FrameRef]  # in output slot order
    z_mm: npt.NDArray[np.float64]
    spacing_mm: float
    tilt_deg: float
    notices: list[Notice]
    have_geometry: bool


def _plan(series: SeriesEntry, display: DisplayGeometry) -> _Plan:
    frames = list(series.frames)
    header = frames[0].header
    have_geometry = all(
        ref.geometry.position_mm is not None and ref.geometry.orientation is not None
        for ref in frames
    )
    if have_geometry:
        positions = np.array([ref.geometry.position_mm for ref in frames], dtype=np.float64)
        layout = layout_slices(positions, display.normal, declared_tilt_deg=header.gantry_tilt_deg)
        refs = [frames[i] for i in layout.order]
        return _Plan(
            refs, layout.z_mm, layout.spacing_mm, layout.tilt_deg, list(layout.notices), True
        )
    # Without positions there is no safe order; instance number is the best remaining hint.
    refs = sorted(
        frames, key=lambda r: (r.header.instance_number or 0, str(r.header.path), r.index)
    )
    step = frames[0].geometry.slice_thickness_mm or 1.0
    z = -np.arange(len(refs), dtype=np.float64) * step
    notices = [missing_geometry_notice("This series")] if len(refs) > 1 else []
    return _Plan(refs, z, step if len(refs) > 1 else 0.0, 0.0, notices, False)


def _output_dtype(refs: Sequence[FrameRef], hu_available: bool) -> str:
    if hu_available:
        for ref in refs:
            slope = ref.geometry.rescale_slope or 1.0
            intercept = ref.geometry.rescale_intercept or 0.0
            if not (float(slope).is_integer() and float(intercept).is_integer()):
                return "float32"
        return "int16"
    header = refs[0].header
    fits = header.bits_stored <= (16 if header.pixel_representation == 1 else 15)
    return "int16" if fits else "float32"


def _tasks(
    plan: _Plan, display: DisplayGeometry, dtype: str, hu: bool, map_padding: bool
) -> list[DecodeTask]:
    by_file: dict[int, list[tuple[int, int, HuRule]]] = defaultdict(list)
    headers = {}
    for slot, ref in enumerate(plan.refs):
        header = ref.header
        geometry = ref.geometry
        rule = HuRule(
            slope=geometry.rescale_slope if geometry.rescale_slope is not None else 1.0,
            intercept=geometry.rescale_intercept or 0.0,
            to_hu=hu,
            padding_value=header.pixel_padding_value,
            padding_limit=header.pixel_padding_range_limit,
            map_padding=map_padding,
        )
        by_file[id(header)].append((ref.index, slot, rule))
        headers[id(header)] = header
    tasks: list[DecodeTask] = []
    for key, frames in by_file.items():
        header = headers[key]
        fmt = header.pixel_format()
        # Large multi-frame files are cut so that several workers share them.
        for start in range(0, len(frames), 16):
            tasks.append(
                DecodeTask(
                    header.path, fmt, tuple(frames[start : start + 16]), display.transform, dtype
                )
            )
    return tasks


Collect = Callable[[list[DecodedFrame]], None]


def _run_threads(
    tasks: list[DecodeTask],
    out: npt.NDArray[np.generic],
    workers: int,
    collect: Collect,
    cancel: CancelToken | None,
) -> None:
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            check_cancel(cancel)
            collect(run_task(task, out))  # type: ignore[arg-type]
        return
    # Tasks go to the pool in a few dozen chunks, not one future each: waiting on a set of
    # futures costs time in its size, so 10,000 one-file tasks made loading quadratic.
    per_chunk = max(1, math.ceil(len(tasks) / (workers * 16)))

    def run_chunk(chunk: list[DecodeTask]) -> list[DecodedFrame]:
        results: list[DecodedFrame] = []
        for task in chunk:
            if cancel is not None and cancel.cancelled:
                break  # the loop below raises Cancelled
            results.extend(run_task(task, out))  # type: ignore[arg-type]
        return results

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dicom-load") as pool:
        pending = {
            pool.submit(run_chunk, tasks[start : start + per_chunk])
            for start in range(0, len(tasks), per_chunk)
        }
        try:
            while pending:
                check_cancel(cancel)
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in finished:
                    collect(future.result())
        finally:
            for future in pending:
                future.cancel()


def _run_processes(
    tasks: list[DecodeTask],
    out: npt.NDArray[np.generic],
    workers: int,
    collect: Collect,
    cancel: CancelToken | None,
) -> None:
    n_frames = sum(len(t.frames) for t in tasks)
    per_chunk = max(1, math.ceil(n_frames / (workers * 6)))
    chunks: list[list[DecodeTask]] = [[]]
    for task in tasks:
        if sum(len(t.frames) for t in chunks[-1]) >= per_chunk:
            chunks.append([])
        chunks[-1].append(task)
    remaining = {index: chunk for index, chunk in enumerate(chunks)}
    try:
        pool = process_pool(workers)
        pending: dict[Future[list[DecodedFrame]], int] = {
            pool.submit(run_tasks, chunk): index for index, chunk in remaining.items()
        }
        try:
            while pending:
                check_cancel(cancel)
                finished, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    _place(future.result(), out, collect)
                    del remaining[index]
        finally:
            for future in pending:
                future.cancel()
    except (BrokenProcessPool, CancelledError):
        # A worker died (a decoder crashed on a file, or it ran out of memory) or the pool
        # was shut down under us. The rest is decoded one file at a time in new workers, so
        # the file that kills a worker is found and reported, and this process never runs
        # the decoder that crashed.
        logger.warning("a decoder worker died; decoding the rest one file at a time")
        discard_pool()
        _run_one_by_one(
            [task for chunk in remaining.values() for task in chunk], out, workers, collect, cancel
        )


def _workers_run(workers: int) -> bool:
    """Whether a fresh worker pool runs a trivial task (else processes cannot start here)."""
    try:
        return process_pool(workers).submit(os.getpid).result(timeout=60) > 0
    except Exception:  # noqa: BLE001 - any failure means: no usable workers
        discard_pool()
        return False


def _run_one_by_one(
    tasks: list[DecodeTask],
    out: npt.NDArray[np.generic],
    workers: int,
    collect: Collect,
    cancel: CancelToken | None,
) -> None:
    """Each task alone in a worker; a task whose worker dies is reported as a crash.

    When workers cannot run at all (no processes can be started here), isolation is not
    possible and the rest is decoded in this process, as before isolation existed.
    """
    for index, task in enumerate(tasks):
        check_cancel(cancel)
        try:
            future = process_pool(workers).submit(run_tasks, [task])
            while not future.done():
                check_cancel(cancel)
                wait([future], timeout=0.1)
            results = future.result()
        except (BrokenProcessPool, CancelledError):
            discard_pool()
            if not _workers_run(workers):
                logger.warning("decoder workers cannot start here; decoding in this process")
                _run_threads(tasks[index:], out, 1, collect, cancel)
                return
            logger.warning("a decoder worker died on one file; the file is left out")
            why = f"the decoder crashed on it ({syntax_name(task.fmt.transfer_syntax_uid)})"
            results = [DecodedFrame(slot, None, why, cause=DAMAGED) for _, slot, _ in task.frames]
        _place(results, out, collect)


def _place(results: list[DecodedFrame], out: npt.NDArray[np.generic], collect: Collect) -> None:
    """Put a worker's decoded images in their output slots, then count them."""
    for result in results:
        if result.image is not None:
            out[result.slot] = result.image
    collect(results)


def load_series(
    series: SeriesEntry,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    map_padding_to_air: bool = True,
) -> Volume:
    """Decode ``series`` into a HU volume in display orientation, head first.

    Parameters
    ----------
    series
        A series from :func:`~mscc_desktop.core.dicom.scan.scan_folder`.
    progress, cancel
        Progress callback and cancel token.
    workers
        Decoding threads/processes; default one per CPU (at most 8). 1 decodes in this
        process, compressed data included (no isolation from a crashing decoder).
    map_padding_to_air
        Map declared pixel padding and values below -1500 HU to -1000 HU (see
        :mod:`mscc_desktop.core.dicom.decode`).

    Returns
    -------
    Volume
        ``hu`` is ``(slice, row, col)``, int16 when every rescale is integral, else float32;
        ``notices`` carry duplicates, gaps, uneven spacing, tilt, undecodable slices, NO_HU.

    Raises
    ------
    UnusableSeriesError
        Colour images, or declared sizes beyond the safety caps.
    DicomReadError
        When no slice at all can be decoded (names the file and what to do).
    Cancelled
        When ``cancel`` was set.
    """
    first = series.frames[0]
    header = first.header
    name = header.path.name
    if header.samples_per_pixel != 1:
        raise UnusableSeriesError(
            f"{name}: colour images cannot be loaded as CT. Choose a CT series instead."
        )
    rows, cols = series.rows, series.columns
    if not (0 < rows <= MAX_SIDE_PIXELS and 0 < cols <= MAX_SIDE_PIXELS) or (
        rows * cols * len(series.frames) > MAX_VOXELS
    ):
        raise UnusableSeriesError(
            f"{name}: declared image size {rows}×{cols}×{len(series.frames)} is beyond what "
            "can be loaded safely. Check that the file is a genuine CT image."
        )
    report(progress, 0.0, "Preparing slices")
    display = display_geometry(
        first.geometry.orientation, first.geometry.pixel_spacing_mm or (1.0, 1.0)
    )
    plan = _plan(series, display)
    hu_available = series.hu_available
    notices = list(plan.notices)
    if not hu_available:
        notices.append(
            Notice(
                NoticeCode.NO_HU,
                "Pixel values are not Hounsfield units (8-bit, unscaled or not CT): "
                "windows and measurements are not in HU.",
            )
        )
    dtype = _output_dtype(plan.refs, hu_available)
    d_rows, d_cols = display.transform.shape(rows, cols)
    out = np.empty((len(plan.refs), d_rows, d_cols), dtype=np.dtype(dtype))
    tasks = _tasks(plan, display, dtype, hu_available, map_padding_to_air)
    total = len(plan.refs)
    failed: dict[int, DecodedFrame] = {}
    counts = {"done": 0, "padded": 0, "clipped": 0}

    def collect(results: list[DecodedFrame]) -> None:
        for result in results:
            counts["done"] += 1
            counts["padded"] += result.padded
            counts["clipped"] += result.clipped
            if result.error is not None:
                failed[result.slot] = result
        report(
            progress,
            0.02 + 0.96 * counts["done"] / total,
            f"Decoded {counts['done']} of {total} slices",
        )

    count = workers if workers is not None else default_workers()
    compressed = any(t.fmt.transfer_syntax_uid not in NATIVE_SYNTAXES for t in tasks)
    # Native decoders (libjpeg, openjpeg, CharLS) never run on a file in this process: a
    # crash in one ends a worker, not the app. Only an explicit ``workers=1`` (tests, the
    # fuzzer's in-process harness) decodes here.
    if compressed and workers != 1:
        _run_processes(tasks, out, count, collect, cancel)
    else:
        _run_threads(tasks, out, min(count, 4), collect, cancel)
    check_cancel(cancel)
    return _finish(series, plan, display, out, failed, notices, counts, hu_available)


def _finish(
    series: SeriesEntry,
    plan: _Plan,
    display: DisplayGeometry,
    out: npt.NDArray[np.generic],
    failed: dict[int, DecodedFrame],
    notices: list[Notice],
    counts: dict[str, int],
    hu_available: bool,
) -> Volume:
    refs = plan.refs
    z = plan.z_mm
    spacing = plan.spacing_mm
    if failed:
        if len(failed) == len(refs):
            slot, first = next(iter(failed.items()))
            raise DicomReadError(
                f"{refs[slot].header.path.name}: no slice of this series could be decoded: "
                f"{first.error}. {_REMEDY[first.cause or DAMAGED]}",
                details=f"{len(failed)} frame(s) failed",
            )
        keep = [slot for slot in range(len(refs)) if slot not in failed]
        by_reason: dict[str, list[str]] = defaultdict(list)
        for slot, result in sorted(failed.items()):
            by_reason[str(result.error)].append(refs[slot].header.path.name)
        for why, names in by_reason.items():
            shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
            notices.append(
                Notice(
                    NoticeCode.UNDECODABLE_SLICE,
                    f"{len(names)} slice(s) left out: {why} ({shown}).",
                )
            )
        out = out[keep]  # one copy, only on this rare path
        refs = [refs[slot] for slot in keep]
        z = z[keep]
        if plan.have_geometry:
            relaid = layout_slices(
                np.array([r.geometry.position_mm for r in refs], dtype=np.float64),
                display.normal,
                declared_tilt_deg=refs[0].header.gantry_tilt_deg,
            )
            notices = [n for n in notices if n.code not in (NoticeCode.GAP,)]
            notices.extend(n for n in relaid.notices if n.code == NoticeCode.GAP)
            spacing = relaid.spacing_mm
    if counts["clipped"]:
        notices.append(
            Notice(
                NoticeCode.BAD_VALUE,
                f"{counts['clipped']} voxel(s) outside the int16 HU range were clipped.",
                Severity.INFO,
            )
        )
    header = refs[0].header
    positions = np.array(
        [
            display.first_voxel_mm(r.geometry.position_mm, header.rows, header.columns)
            if r.geometry.position_mm is not None
            else (0.0, 0.0, float(z[i]))
            for i, r in enumerate(refs)
        ],
        dtype=np.float64,
    ).reshape(-1, 3)
    info = series.info
    return Volume(
        hu=out,  # type: ignore[arg-type]
        z_mm=np.asarray(z, dtype=np.float64),
        positions_mm=positions,
        pixel_spacing_mm=display.pixel_spacing_mm,
        slice_spacing_mm=float(spacing) if len(refs) > 1 else 0.0,
        slice_thickness_mm=refs[0].geometry.slice_thickness_mm,
        col_axis=display.col_axis,
        row_axis=display.row_axis,
        normal=display.normal,
        sop_instance_uids=tuple(r.header.sop_instance_uid for r in refs),
        source_files=tuple(r.header.path for r in refs),
        frame_indices=tuple(r.index for r in refs),
        info=info,
        notices=tuple(notices),
        hu_available=hu_available,
        dicom_window=header.window,
        gantry_tilt_deg=plan.tilt_deg,
        extra={
            "padding_voxels": counts["padded"],
            "series_key": series.key,
            "display_transform": display.transform,
        },
    )
