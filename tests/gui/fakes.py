"""Synthetic volumes, findings, DICOM folders and fake services for GUI tests (no model)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from mscc_desktop.core.dicom.classify import SeriesEntry
from mscc_desktop.core.dicom.scan import ScanResult, scan_folder
from mscc_desktop.core.dicom.write import CtSeriesSpec, write_ct_series
from mscc_desktop.core.findings import (
    AnalysisResult,
    Box,
    SliceResult,
    StudyFindings,
    Thresholds,
    classify,
    summarise,
)
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.tasks import CancelToken, ProgressFn
from mscc_desktop.core.volume import SeriesInfo, Volume
from mscc_desktop.core.windows import WINDOW_ORDER
from mscc_desktop.inference.backends.base import FloatArray
from mscc_desktop.inference.pipeline import analyse_volume
from mscc_desktop.workflow.model import ModelInfo
from mscc_desktop.workflow.study import LoadedSeries, load_with_fingerprint
from tests.factories.fake_backend import FakeBackend
from tests.factories.model_settings import fake_model_settings

COVERAGE_NOTICE = Notice(
    NoticeCode.COVERAGE, "Coverage misses part of the thoracic spine (T1–T4).", Severity.WARNING
)
INFO = SeriesInfo(
    patient_name="PHANTOM^ALICE",
    patient_id="SYN-0001",
    patient_birth_date="19600101",
    patient_sex="F",
    study_instance_uid="1.2.826.0.1.3680043.8.498.9",
    study_date="20240101",
    study_time="120000",
    study_description="CT CHEST ABDOMEN C+",
    series_instance_uid="1.2.826.0.1.3680043.8.498.1",
    series_number=3,
    series_description="Axial 3mm",
    modality="CT",
    kvp=120.0,
    convolution_kernel="B30f",
    contrast_agent="IOHEXOL",
)


def phantom_hu(n_slices: int, size: int) -> np.ndarray:
    """Body ellipse, vertebral body and an arch around a dark canal; values vary per slice."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = size / 2.0
    body = ((xx - c) / (0.42 * size)) ** 2 + ((yy - c) / (0.34 * size)) ** 2 <= 1.0
    vertebra = (xx - c) ** 2 + (yy - 0.62 * size) ** 2 <= (0.07 * size) ** 2
    ring_r2 = (xx - c) ** 2 + (yy - 0.75 * size) ** 2
    arch = ring_r2 <= (0.06 * size) ** 2
    canal = ring_r2 <= (0.03 * size) ** 2
    hu = np.full((n_slices, size, size), -1000, dtype=np.int16)
    for index in range(n_slices):
        image = hu[index]
        image[body] = 40 + (index % 7)
        image[vertebra | arch] = 700 + 5 * (index % 11)
        image[canal] = 10
    return hu


def canal_box(size: int) -> Box:
    """The canal of :func:`phantom_hu` in pixel coordinates."""
    c, r = size / 2.0, 0.03 * size
    y = 0.75 * size
    return Box(c - r - 1, y - r - 1, c + r + 1, y + r + 1)


def phantom_volume(
    n_slices: int = 40,
    size: int = 128,
    *,
    spacing_mm: tuple[float, float] = (0.8, 0.8),
    slice_spacing_mm: float = 3.0,
    notices: tuple[Notice, ...] = (),
    float_hu: bool = False,
) -> Volume:
    """An in-memory volume (no files) in the display conventions of ``core.volume``."""
    hu = phantom_hu(n_slices, size)
    z = -slice_spacing_mm * np.arange(n_slices, dtype=np.float64)
    positions = np.stack([np.zeros(n_slices), np.zeros(n_slices), z], axis=1)
    uids = tuple(f"{INFO.series_instance_uid}.{i + 1}" for i in range(n_slices))
    return Volume(
        hu=hu.astype(np.float32) + 0.25 if float_hu else hu,
        z_mm=z,
        positions_mm=positions,
        pixel_spacing_mm=spacing_mm,
        slice_spacing_mm=slice_spacing_mm,
        slice_thickness_mm=slice_spacing_mm,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        sop_instance_uids=uids,
        source_files=tuple(Path(f"/nonexistent/{i}.dcm") for i in range(n_slices)),
        frame_indices=(0,) * n_slices,
        info=INFO,
        notices=notices,
    )


def probability_table(
    n_slices: int, *, high: range = range(20, 24), low: range = range(8, 11)
) -> list[tuple[float, float, float]]:
    """Per-slice (normal, low, high): a high-grade run, a low-grade run, normal elsewhere."""
    rows = []
    for index in range(n_slices):
        if index in high:
            row = (0.05, 0.10, 0.85 - 0.01 * (index - high.start))
        elif index in low:
            row = (0.25, 0.70 - 0.01 * (index - low.start), 0.05)
        else:
            row = (0.94, 0.04, 0.02)
        total = sum(row)
        rows.append((row[0] / total, row[1] / total, row[2] / total))
    return rows


def fake_findings(volume: Volume, *, not_found: tuple[int, ...] = (0,)) -> StudyFindings:
    """Findings straight from :func:`probability_table` (no pipeline)."""
    box = canal_box(volume.shape[2])
    results = []
    for index, probs in enumerate(probability_table(volume.n_slices)):
        z, uid = float(volume.z_mm[index]), volume.sop_instance_uids[index]
        if index in not_found:
            results.append(SliceResult(index, z, uid, None, 0.1, None, None, ()))
        else:
            results.append(
                SliceResult(
                    index, z, uid, box, 0.97, probs, classify(probs, Thresholds()), WINDOW_ORDER
                )
            )
    return summarise(results)


def write_phantom_study(
    folder: Path, *, n_slices: int = 40, size: int = 128, seed: str = "gui"
) -> Path:
    """Write :func:`phantom_hu` as a DICOM CT series into ``folder``; returns the folder."""
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.8, 0.8),
        z_positions_mm=tuple(-3.0 * i for i in range(n_slices)),
        slice_thickness_mm=3.0,
        info=replace(INFO, study_instance_uid="", series_instance_uid=""),
        seed=seed,
    )
    write_ct_series(phantom_hu(n_slices, size), spec, folder)
    return folder


# Its P(high) threshold is not the spin box's 0.5 of old, so a test can tell whose is used.
TEST_MODEL = fake_model_settings(
    model_id="gui-test-model",
    model_version="0.1",
    detector_size=64,
    thresholds=Thresholds(high=0.42),
)


class GatedBackend(FakeBackend):
    """A fake backend whose first detector batch waits until the test opens the gate."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.entered = threading.Event()
        self.gate = threading.Event()

    def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
        self.entered.set()
        self.gate.wait(timeout=20)
        return super().detect(images)


class PacedBackend(FakeBackend):
    """A fake backend that runs each detector batch only after the reader scrolled more.

    Makes "analysis runs while the reader scrolls" a fact of the test rather than a race: the
    pipeline's real work (windowing, resampling, grading) interleaves with GUI events.
    """

    def __init__(self, steps_per_batch: int = 3, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.steps_per_batch = steps_per_batch
        self._scrolled = 0
        self._batches = 0
        self._condition = threading.Condition()

    def scrolled(self) -> None:
        with self._condition:
            self._scrolled += 1
            self._condition.notify_all()

    def detect(self, images: FloatArray) -> tuple[FloatArray, FloatArray]:
        with self._condition:
            self._batches += 1
            need = self._batches * self.steps_per_batch
            self._condition.wait_for(lambda: self._scrolled >= need, timeout=10)
        return super().detect(images)


class FakeAnalyser:
    """The real pipeline (``analyse_volume``) on the deterministic fake backend."""

    def __init__(
        self,
        *,
        gated: bool = False,
        paced: bool = False,
        fallback_warning: str | None = None,
        model_id: str = TEST_MODEL.model_id,
    ) -> None:
        self.model_id = model_id
        self.gated = gated
        self.paced = paced
        self.fallback_warning = fallback_warning
        self.calls = 0
        self.backend: FakeBackend | None = None
        self._info: ModelInfo | None = None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def prepare(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> ModelInfo:
        if self._info is None:
            self._info = ModelInfo(
                model_id=self.model_id,
                model_version=TEST_MODEL.model_version,
                model_sha256=TEST_MODEL.model_sha256,
                backend="Fake backend 1.0",
                device="CPU · deterministic fake",
                fallback_warning=self.fallback_warning,
                thresholds=TEST_MODEL.thresholds,
                card_summary="Test model for the GUI tests.",
            )
        return self._info

    def make_backend(self, volume: Volume) -> FakeBackend:
        rows, cols = volume.shape[1:]
        kwargs = dict(
            slice_probabilities=probability_table(volume.n_slices),
            slice_boxes=[canal_box(cols)] * volume.n_slices,
            slice_shape=(rows, cols),
            detector_size=TEST_MODEL.detector_size,
            fallback_warning=self.fallback_warning,
        )
        if self.gated:
            return GatedBackend(**kwargs)  # type: ignore[arg-type]
        if self.paced:
            return PacedBackend(**kwargs)  # type: ignore[arg-type]
        return FakeBackend(**kwargs)  # type: ignore[arg-type]

    def analyse(
        self,
        volume: Volume,
        *,
        high_threshold: float | None,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ) -> AnalysisResult:
        self.prepare(progress=None, cancel=cancel)
        self.calls += 1
        self.backend = self.make_backend(volume)
        thresholds = TEST_MODEL.thresholds
        if high_threshold is not None:
            thresholds = replace(thresholds, high=high_threshold)
        return analyse_volume(
            volume,
            self.backend,
            TEST_MODEL
            if self.model_id == TEST_MODEL.model_id
            else replace(TEST_MODEL, model_id=self.model_id),
            thresholds=thresholds,
            batch_size=4,
            progress=progress,
            cancel=cancel,
        )


class FakeServices:
    """Real DICOM import, a phantom demo study, and :class:`FakeAnalyser`."""

    def __init__(self, data_dir: Path, analyser: FakeAnalyser | None = None) -> None:
        self.data_dir = data_dir
        self.fake_analyser = analyser or FakeAnalyser()

    def scan(
        self, path: Path, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> ScanResult:
        return scan_folder(path, progress=progress, cancel=cancel, workers=1)

    def load(
        self, entry: SeriesEntry, *, progress: ProgressFn | None, cancel: CancelToken | None
    ) -> LoadedSeries:
        return load_with_fingerprint(entry, progress=progress, cancel=cancel)

    def demo_study(self, *, progress: ProgressFn | None, cancel: CancelToken | None) -> Path:
        folder = self.data_dir / "demo"
        if not folder.exists():
            write_phantom_study(folder, seed="demo")
        return folder

    def analyser(self, backend_choice: str) -> FakeAnalyser:
        return self.fake_analyser

    def use_model(self, model_id: str) -> None:
        """A new fake analyser under the chosen id (the Models page's Use and Roll back)."""
        self.fake_analyser = FakeAnalyser(model_id=model_id)
