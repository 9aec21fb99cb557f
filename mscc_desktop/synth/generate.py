"""Generate a whole study in memory: HU volume, padding mask and per-slice ground truth."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.synth.canal import CanalMasks
from mscc_desktop.synth.params import StudyParams
from mscc_desktop.synth.render import RenderedSlice, SliceTruth, StudyRenderer

logger = logging.getLogger(__name__)

PARALLEL_MIN_SLICES = 24
"""Below this many slices, starting worker processes costs more than it saves."""

_CHUNK = 6


@dataclass(frozen=True, slots=True, eq=False)
class SynthStudy:
    """A generated study before it is written to disk.

    ``hu`` is ``(slice, row, col)`` int16 in display orientation (rows anterior → posterior,
    columns patient right → left), slices head first, exactly as the importer will return
    it; voxels outside the reconstruction circle hold the padding HU (``padding`` marks them).
    """

    params: StudyParams
    hu: npt.NDArray[np.int16]
    padding: npt.NDArray[np.bool_]
    truths: tuple[SliceTruth, ...]
    origin_xy_mm: tuple[float, float]
    z_positions_mm: tuple[float, ...]
    masks: tuple[CanalMasks, ...] | None = None


def default_workers(n_slices: int) -> int:
    """Worker processes for ``n_slices``: up to 2 (the target machine has 2 cores)."""
    if n_slices < PARALLEL_MIN_SLICES:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def generate_study(
    params: StudyParams,
    *,
    keep_masks: bool = False,
    slices: Sequence[int] | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SynthStudy:
    """Render every slice of ``params`` (or only ``slices``, for tests and previews).

    Deterministic: the same parameters give byte-identical voxels whatever ``workers`` is
    (each slice draws its noise from its own seeded stream, so a subset or a worker renders
    a slice exactly as the full serial run does). ``workers=None`` picks
    :func:`default_workers`; slices are rendered in separate processes when it is above 1.
    """
    renderer = StudyRenderer(params)
    chosen = list(slices) if slices is not None else list(range(params.scan.n_slices))
    n = len(chosen)
    size = params.scan.matrix
    hu = np.empty((n, size, size), dtype=np.int16)
    padding = np.zeros((n, size, size), dtype=bool)
    truths: list[SliceTruth | None] = [None] * n
    masks: list[CanalMasks | None] = [None] * n
    done = 0

    def store(k: int, rendered: RenderedSlice) -> None:
        nonlocal done
        hu[k] = rendered.hu
        padding[k] = rendered.padding
        # Indices count slices of the volume being built (a subset is its own volume).
        truths[k] = replace(rendered.truth, index=k)
        if keep_masks:
            masks[k] = rendered.masks
        done += 1
        report(progress, done / max(n, 1), f"slice {done} of {n}")

    count = default_workers(n) if workers is None else max(1, workers)
    if count <= 1:
        for k, index in enumerate(chosen):
            check_cancel(cancel)
            store(k, renderer.render(index))
    else:
        try:
            _render_parallel(params, chosen, count, keep_masks, store, cancel)
        except (BrokenProcessPool, OSError) as error:
            # E.g. a frozen app or an interactive __main__ the workers cannot import.
            logger.warning("parallel rendering failed (%s); rendering serially", error)
            done = 0
            for k, index in enumerate(chosen):
                check_cancel(cancel)
                store(k, renderer.render(index))
    return SynthStudy(
        params=params,
        hu=hu,
        padding=padding,
        truths=tuple(t for t in truths if t is not None),
        origin_xy_mm=renderer.origin_xy_mm,
        z_positions_mm=tuple(renderer.z_positions[i] for i in chosen),
        masks=tuple(m for m in masks if m is not None) if keep_masks else None,
    )


def _render_parallel(
    params: StudyParams,
    chosen: list[int],
    count: int,
    keep_masks: bool,
    store: Callable[[int, RenderedSlice], None],
    cancel: CancelToken | None,
) -> None:
    # forkserver: safe from a multithreaded parent (the GUI), cheap on Linux; spawn elsewhere.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    chunks = [list(range(k, min(k + _CHUNK, len(chosen)))) for k in range(0, len(chosen), _CHUNK)]
    with ProcessPoolExecutor(
        count, mp_context=context, initializer=_init_worker, initargs=(params,)
    ) as pool:
        futures: list[tuple[list[int], Future[list[RenderedSlice]]]] = [
            (chunk, pool.submit(_render_chunk, [chosen[k] for k in chunk], keep_masks))
            for chunk in chunks
        ]
        try:
            for chunk, future in futures:
                check_cancel(cancel)
                for k, rendered in zip(chunk, future.result(), strict=True):
                    store(k, rendered)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


_WORKER_RENDERER: StudyRenderer | None = None


def _init_worker(params: StudyParams) -> None:
    global _WORKER_RENDERER
    _WORKER_RENDERER = StudyRenderer(params)


def _render_chunk(indices: list[int], keep_masks: bool) -> list[RenderedSlice]:
    assert _WORKER_RENDERER is not None
    out = []
    for index in indices:
        rendered = _WORKER_RENDERER.render(index)
        if not keep_masks:
            # Masks are only wanted by tests; do not pay for shipping them back.
            rendered = replace(rendered, masks=_EMPTY_MASKS)
        out.append(rendered)
    return out


_EMPTY = np.zeros((0, 0), dtype=bool)
_EMPTY_MASKS = CanalMasks(0.0, _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY)
