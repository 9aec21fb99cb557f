"""Analysis of one series: windows → canal detection → crops → CWL grading → findings.

:func:`analyse_volume` is the one implementation the GUI worker, the ``analyze`` command and
the benchmark call. It is a plain function with ``progress`` and ``cancel``; it never touches
the store or the screen.

Refusals are values, not exceptions: a series the input checks call unusable (not CT, not
axial, a localizer, no HU) comes back as an :class:`~mscc_desktop.core.findings.AnalysisResult`
with status ``REFUSED``, ``findings`` ``None`` and the reasons as ERROR notices, so the store
can record it and batch triage can list it. Cancellation raises
:class:`~mscc_desktop.core.errors.Cancelled` (never a half result).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.errors import BackendUnavailableError
from mscc_desktop.core.findings import (
    AnalysisResult,
    AnalysisStatus,
    Box,
    ModelProvenance,
    SliceResult,
    Thresholds,
    classify,
    summarise,
)
from mscc_desktop.core.notices import Notice, NoticeCode
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.inference.backends.base import FloatArray, InferenceBackend
from mscc_desktop.inference.checks import check_volume, refusal_notices
from mscc_desktop.inference.manifest import ModelManifest
from mscc_desktop.inference.model_settings import ModelSettings, model_settings
from mscc_desktop.inference.preprocess import (
    NUMPY_PREPROCESSOR,
    BatchPreprocessor,
    PreparedBatch,
    SquareFit,
)
from mscc_desktop.inference.probabilities import apply_temperature, fuse_windows

logger = logging.getLogger(__name__)

# Slices per detector call. On the 2-core CPU a 120-slice study took 2.35 / 2.03 / 2.35 s end
# to end at batch 2 / 4 / 8 (scripts/bench_pipeline.py --batch-size, E7 weights, per-level
# NMS; README "Measured performance"): batch 4 was the fastest.
DEFAULT_BATCH_SIZE = 4
# On a GPU each call has a fixed cost (the exported grader: 0.20 s for 15 calls of 8 slices,
# 0.07 s for one call of 120, scripts/profile_torch_backend.py), so bigger batches pay: on an
# H100 the paper networks took 0.85 / 0.72 / 1.08 s at batch 8 / 16 / 32 with the pre-processing
# on the GPU (scripts/bench_pipeline.py, README "Measured performance").
DEFAULT_GPU_BATCH_SIZE = 16


def default_batch_size(backend: InferenceBackend) -> int:
    """The measured best batch for where ``backend`` runs (its name ends in its device)."""
    return DEFAULT_GPU_BATCH_SIZE if backend.name.endswith("cuda") else DEFAULT_BATCH_SIZE


@dataclass(frozen=True, slots=True)
class _Batch:
    """One batch of slices, pre-processed for the detector, and where it starts."""

    start: int
    prepared: PreparedBatch

    @property
    def fit(self) -> SquareFit:
        return self.prepared.fit


def preprocessor_for(backend: InferenceBackend, *, on_device: bool = True) -> BatchPreprocessor:
    """The backend's own pre-processing where it offers one (a GPU backend computes the
    network inputs on its device: its optional ``preprocessor`` attribute), else numpy.
    ``on_device=False`` forces numpy (the benchmark compares the two)."""
    own: BatchPreprocessor | None = getattr(backend, "preprocessor", None)
    return own if on_device and own is not None else NUMPY_PREPROCESSOR


def _prepare(
    volume: Volume, start: int, stop: int, model: ModelSettings, preprocessor: BatchPreprocessor
) -> _Batch:
    prepared = preprocessor.detector_batch(
        volume.hu[start:stop], windows=model.windows, size=model.detector_size
    )
    return _Batch(start, prepared)


def prep_threads_for(cpu_count: int | None) -> int:
    """Numpy pre-processing threads: one on small machines (the runtime needs the cores), up
    to four where there are many cores: with a GPU running the networks, CPU-side windowing
    bounds the pipeline (on the H100 machine one thread took 0.43 s for 120 slices, nearly
    as long as the detector, 0.54 s; ``scripts/profile_torch_backend.py``). A backend that
    pre-processes on its GPU needs none of this (:func:`preprocessor_for`)."""
    cores = cpu_count or 1
    return 1 if cores <= 4 else min(4, cores // 4)


def _batches(
    volume: Volume,
    model: ModelSettings,
    batch_size: int,
    preprocessor: BatchPreprocessor,
    *,
    prefetch: bool,
    threads: int = 1,
) -> Iterator[_Batch]:
    """Pre-processed batches in slice order; with ``prefetch`` the next ``threads`` batches
    are prepared in threads while the caller runs inference on the current one (numpy,
    ONNX Runtime and torch release the GIL, so they overlap)."""
    starts = list(range(0, volume.n_slices, batch_size))

    def prepare(start: int) -> _Batch:
        return _prepare(
            volume, start, min(start + batch_size, volume.n_slices), model, preprocessor
        )

    if not prefetch or len(starts) < 2:
        for start in starts:
            yield prepare(start)
        return
    depth = max(1, threads)
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="mscc-prep") as pool:
        pending: deque[Future[_Batch]] = deque()
        upcoming = list(reversed(starts))
        for _ in range(len(starts)):
            while len(pending) < depth + 1 and upcoming:
                pending.append(pool.submit(prepare, upcoming.pop()))
            current = pending.popleft().result()
            try:
                yield current
            except GeneratorExit:
                # The caller stopped early (cancel, error): drop the batches not yet started.
                for future in pending:
                    future.cancel()
                raise


def _canal_boxes(
    boxes: FloatArray, scores: FloatArray, fit: SquareFit, min_score: float
) -> list[Box | None]:
    """Detector outputs → canal box in slice pixels, or ``None`` ("canal not found")."""
    found: list[Box | None] = []
    for row, score in zip(boxes, scores, strict=True):
        if not np.isfinite(score) or score < min_score or not np.all(np.isfinite(row)):
            found.append(None)
            continue
        box = fit.to_slice(Box(float(row[0]), float(row[1]), float(row[2]), float(row[3])))
        # A box clipped away to (almost) nothing by the slice edge is not a canal.
        found.append(box if box.width >= 1.0 and box.height >= 1.0 else None)
    return found


def _check_outputs(name: str, array: npt.NDArray[np.float32], shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise ValueError(f"backend {name} returned shape {array.shape}, expected {shape}")


def analyse_batch(
    batch_hu: npt.NDArray[np.int16] | npt.NDArray[np.float32],
    backend: InferenceBackend,
    model: ModelManifest | ModelSettings,
    *,
    first_index: int,
    z_mm: Sequence[float],
    sop_instance_uids: Sequence[str],
    thresholds: Thresholds,
    windows_used: Sequence[WindowPreset] | None = None,
) -> list[SliceResult]:
    """Per-slice results for a few slices (the GUI's "analyse this slice now").

    ``batch_hu`` is ``(slice, row, col)`` HU; ``z_mm`` and ``sop_instance_uids`` belong to
    those slices and ``first_index`` is the volume index of the first.
    """
    model = model_settings(model)
    preprocessor = preprocessor_for(backend)
    prepared = preprocessor.detector_batch(
        batch_hu, windows=model.windows, size=model.detector_size
    )
    batch = _Batch(first_index, prepared)
    mask = _window_mask(model, windows_used)
    return _infer(batch, backend, preprocessor, model, thresholds, mask, z_mm, sop_instance_uids)


def _window_mask(
    model: ModelSettings, windows_used: Sequence[WindowPreset] | None
) -> tuple[bool, ...]:
    if windows_used is None:
        return tuple(True for _ in model.presets)
    unknown = set(windows_used) - set(model.presets)
    if unknown or not windows_used:
        raise ValueError(f"windows {sorted(unknown)} are not windows of model {model.model_id}")
    return tuple(preset in windows_used for preset in model.presets)


def _infer(
    batch: _Batch,
    backend: InferenceBackend,
    preprocessor: BatchPreprocessor,
    model: ModelSettings,
    thresholds: Thresholds,
    mask: tuple[bool, ...],
    z_mm: Sequence[float],
    uids: Sequence[str],
) -> list[SliceResult]:
    n = batch.prepared.n_slices
    raw_boxes, raw_scores = backend.detect(batch.prepared.detector)
    _check_outputs("detect boxes", raw_boxes, (n, 4))
    _check_outputs("detect scores", raw_scores, (n,))
    boxes = _canal_boxes(raw_boxes, raw_scores, batch.fit, thresholds.canal_score)
    found = [i for i, box in enumerate(boxes) if box is not None]
    fused: FloatArray = np.zeros((0, 3), dtype=np.float32)
    if found:
        crops = preprocessor.grader_batch(
            batch.prepared,
            found,
            [b for b in boxes if b is not None],
            size=model.grader_size,
            margin=model.crop_margin,
            mean=model.grader_mean,
            std=model.grader_std,
        )
        per_window = backend.grade(crops)
        _check_outputs("grade", per_window, (len(found), len(model.presets), 3))
        # The one place calibration happens: everything after this (the thresholds, the
        # store, every view and report) sees the calibrated probabilities.
        fused = apply_temperature(fuse_windows(per_window, mask), model.probability_temperature)
        if not np.all(np.isfinite(fused)):
            # classify() would call a NaN slice "normal": never let a broken run look clean.
            raise BackendUnavailableError(
                f"The grader returned invalid probabilities on {backend.device}; the analysis "
                "was stopped. Try another backend (e.g. --backend onnx-cpu)."
            )
    used = tuple(p for p, keep in zip(model.presets, mask, strict=True) if keep)
    probs_of = dict(zip(found, fused, strict=True))
    results: list[SliceResult] = []
    for i, box in enumerate(boxes):
        index = batch.start + i
        score = float(raw_scores[i]) if np.isfinite(raw_scores[i]) else 0.0
        if box is None:
            results.append(SliceResult(index, float(z_mm[i]), uids[i], None, score, None, None, ()))
            continue
        p = probs_of[i]
        probabilities = (float(p[0]), float(p[1]), float(p[2]))
        results.append(
            SliceResult(
                index=index,
                z_mm=float(z_mm[i]),
                sop_instance_uid=uids[i],
                box=box,
                detection_score=score,
                probabilities=probabilities,
                group=classify(probabilities, thresholds),
                windows_used=used,
            )
        )
    return results


def provenance(backend: InferenceBackend, model: ModelManifest | ModelSettings) -> ModelProvenance:
    """Which model ran where, as stored with the analysis and printed on reports."""
    model = model_settings(model)
    return ModelProvenance(
        model_id=model.model_id,
        model_version=model.model_version,
        model_sha256=model.model_sha256,
        backend=backend.runtime,
        device=backend.device,
        synthetic_only=model.synthetic_only,
        probability_temperature=model.probability_temperature,
        limitations=model.limitations,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _merge_notices(*groups: Sequence[Notice]) -> tuple[Notice, ...]:
    """Concatenate, dropping exact repeats (the loader and the checks may both see a gap)."""
    seen: set[tuple[NoticeCode, str]] = set()
    merged: list[Notice] = []
    for group in groups:
        for notice in group:
            key = (notice.code, notice.message)
            if key not in seen:
                seen.add(key)
                merged.append(notice)
    return tuple(merged)


def analyse_volume(
    volume: Volume,
    backend: InferenceBackend,
    model: ModelManifest | ModelSettings,
    *,
    thresholds: Thresholds | None = None,
    batch_size: int | None = None,
    windows_used: Sequence[WindowPreset] | None = None,
    prefetch: bool = True,
    prep_threads: int | None = None,
    preprocess_on_device: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> AnalysisResult:
    """Analyse every slice of one series.

    Parameters
    ----------
    volume
        The series in HU, ``(slice, row, col)``, head first.
    backend
        Runs the detector and the grader (from
        :func:`~mscc_desktop.inference.backends.create_backend`).
    model
        The verified model (its manifest) or its settings: sizes, normalisation, windows,
        probability temperature, thresholds, identity.
    thresholds
        Decision thresholds on the calibrated probabilities (after the model's
        ``probability_temperature``); the model's when ``None``.
    batch_size
        Slices per detector call (memory: about ``batch_size`` × 3 × D² × 4 bytes); by
        default :func:`default_batch_size` for the backend.
    windows_used
        Windows to fuse (average fusion over these); all of the model's when ``None``.
    prefetch
        Prepare the next batch in a thread while the current one is inferred (default).
        Measured with ``scripts/bench_pipeline.py --compare-prefetch`` on 2 shared CPU cores,
        compact model, 120 slices: 8.6 vs 9.1 s and 10.1 vs 11.3 s with vs without. It
        pays more when the networks run on a GPU and the CPU would otherwise idle.
    prep_threads
        Threads preparing batches ahead when ``prefetch`` is on; by default
        :func:`prep_threads_for` this machine's cores (one when the backend pre-processes on
        its device: the thread then only uploads HU and queues kernels).
    preprocess_on_device
        Let a backend that offers it compute the network inputs on its device
        (:func:`preprocessor_for`); numpy on the CPU otherwise.
    progress, cancel
        Called / checked between batches: a cancel stops within one batch.

    Returns
    -------
    AnalysisResult
        ``COMPLETE`` with findings, or ``REFUSED`` (findings ``None``) when the input checks
        found the series unusable. Notices: input checks, then the loader's, then a backend
        fall-back warning.

    Raises
    ------
    Cancelled
        When ``cancel`` was set.
    ValueError
        When ``batch_size`` < 1 or a backend returns arrays of the wrong shape.
    BackendUnavailableError
        When the backend fails or returns non-finite probabilities.
    """
    if batch_size is None:
        batch_size = default_batch_size(backend)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model = model_settings(model)
    started = _now()
    chosen = thresholds if thresholds is not None else model.thresholds
    check_notices = check_volume(volume)
    fallback: tuple[Notice, ...] = ()
    if backend.fallback_warning:
        fallback = (Notice(NoticeCode.BACKEND_FALLBACK, backend.fallback_warning),)
    # The checks speak for the codes they cover (the loader may also report a gap or a tilt).
    checked = {notice.code for notice in check_notices}
    loader_notices = [n for n in volume.notices if n.code not in checked]
    notices = _merge_notices(check_notices, loader_notices, fallback)
    result_provenance = provenance(backend, model)
    if refusal_notices(check_notices):
        return AnalysisResult(
            series_instance_uid=volume.info.series_instance_uid,
            findings=None,
            provenance=result_provenance,
            thresholds=chosen,
            notices=notices,
            started_at=started,
            finished_at=_now(),
            status=AnalysisStatus.REFUSED,
        )
    mask = _window_mask(model, windows_used)
    n = volume.n_slices
    report(progress, 0.0, f"Analysing {n} slices")
    results: list[SliceResult] = []
    z_all = [float(z) for z in volume.z_mm]
    uids_all = list(volume.sop_instance_uids)
    check_cancel(cancel)
    preprocessor = preprocessor_for(backend, on_device=preprocess_on_device)
    on_cpu = preprocessor is NUMPY_PREPROCESSOR
    if prep_threads is None:
        prep_threads = prep_threads_for(os.cpu_count()) if on_cpu else 1
    batches = _batches(
        volume, model, batch_size, preprocessor, prefetch=prefetch, threads=prep_threads
    )
    for batch in batches:
        stop = batch.start + batch.prepared.n_slices
        results.extend(
            _infer(
                batch,
                backend,
                preprocessor,
                model,
                chosen,
                mask,
                z_all[batch.start : stop],
                uids_all[batch.start : stop],
            )
        )
        report(progress, stop / n, f"Analysed slice {stop} of {n}")
        check_cancel(cancel)
    findings = summarise(results)
    if findings.n_canal_not_found:
        logger.info("canal not found on %d of %d slices", findings.n_canal_not_found, n)
    return AnalysisResult(
        series_instance_uid=volume.info.series_instance_uid,
        findings=findings,
        provenance=result_provenance,
        thresholds=chosen,
        notices=notices,
        started_at=started,
        finished_at=_now(),
        status=AnalysisStatus.COMPLETE,
    )


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_GPU_BATCH_SIZE",
    "ModelSettings",
    "analyse_batch",
    "analyse_volume",
    "default_batch_size",
    "model_settings",
    "prep_threads_for",
    "preprocessor_for",
    "provenance",
]
