"""Per-slice model results and the findings derived from them (lesions, study flag).

Pure data and pure functions: the pipeline produces :class:`SliceResult` records, and
:func:`summarise` turns them into :class:`StudyFindings` the GUI, the store and the reports
share. Probability vectors are always in :data:`GROUP_ORDER` (normal, low, high).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.core.notices import Notice
from mscc_desktop.core.windows import WindowPreset

_GROUP_RANK = {group: rank for rank, group in enumerate(GROUP_ORDER)}


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixel coordinates of the displayed slice: x = column, y = row.

    ``x0 < x1`` and ``y0 < y1``; edges, not pixel centres (Pascal VOC uses 1-based pixel
    indices; converters live with the VOC reader/writer).
    """

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when disjoint)."""
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Decision thresholds on the averaged probabilities (stored in the model manifest).

    A slice is high grade when P(high) >= ``high``; otherwise low grade when
    P(low) + P(high) >= ``any_mscc``; otherwise normal. These are the paper's two dichotomies.
    """

    high: float = 0.5
    any_mscc: float = 0.5
    canal_score: float = 0.5  # minimum detection score for a canal box to count


def classify(probabilities: Sequence[float], thresholds: Thresholds) -> GradeGroup:
    """Grade group of one slice from its (normal, low, high) probabilities."""
    p_low, p_high = float(probabilities[1]), float(probabilities[2])
    if p_high >= thresholds.high:
        return GradeGroup.HIGH
    if p_low + p_high >= thresholds.any_mscc:
        return GradeGroup.LOW
    return GradeGroup.NORMAL


@dataclass(frozen=True, slots=True)
class SliceResult:
    """What the pipeline found on one slice. ``box is None`` means "canal not found"."""

    index: int
    z_mm: float
    sop_instance_uid: str
    box: Box | None
    detection_score: float
    probabilities: tuple[float, float, float] | None
    group: GradeGroup | None
    windows_used: tuple[WindowPreset, ...] = ()

    @property
    def canal_found(self) -> bool:
        return self.box is not None

    @property
    def p_low(self) -> float:
        return 0.0 if self.probabilities is None else self.probabilities[1]

    @property
    def p_high(self) -> float:
        return 0.0 if self.probabilities is None else self.probabilities[2]


@dataclass(frozen=True, slots=True)
class Lesion:
    """A run of abnormal slices: one suspected site of epidural disease.

    ``first_slice``/``last_slice`` are volume indices (head first, inclusive);
    ``peak_probability`` is the highest probability of the lesion's own group within the run
    and ``key_slice`` the slice where it occurs.
    """

    number: int  # 1-based, in head-to-feet order
    group: GradeGroup
    first_slice: int
    last_slice: int
    z_from_mm: float  # lower z (inferior end)
    z_to_mm: float  # higher z (superior end)
    peak_probability: float
    key_slice: int
    n_abnormal_slices: int

    @property
    def slice_range_text(self) -> str:
        """1-based slice numbers as shown to the reader, e.g. ``"slices 41–47"``."""
        if self.first_slice == self.last_slice:
            return f"slice {self.first_slice + 1}"
        return f"slices {self.first_slice + 1}–{self.last_slice + 1}"

    @property
    def z_range_text(self) -> str:
        """``"z +55.0 to +35.0 mm"``; one position for a one-slice finding (``"z +11.5 mm"``)."""
        top, bottom = f"{self.z_to_mm:+.1f}", f"{self.z_from_mm:+.1f}"
        return f"z {top} mm" if top == bottom else f"z {top} to {bottom} mm"


@dataclass(frozen=True, slots=True)
class StudyFindings:
    """Everything derived from one analysed series, in a form the views can show directly."""

    slices: tuple[SliceResult, ...]
    lesions: tuple[Lesion, ...]
    high_grade: bool  # the paper's per-study flag: any high-grade slice
    max_group: GradeGroup
    n_high_slices: int
    n_low_slices: int
    n_canal_not_found: int

    @property
    def key_slices(self) -> tuple[int, ...]:
        """Key slice of each lesion, high-grade lesions first."""
        ordered = sorted(self.lesions, key=lambda les: (-_GROUP_RANK[les.group], les.number))
        return tuple(lesion.key_slice for lesion in ordered)

    @property
    def headline(self) -> str:
        if self.high_grade:
            return "High-grade MSCC suspected"
        if self.max_group is GradeGroup.LOW:
            return "Low-grade epidural disease only"
        return "No MSCC detected"


def _abnormal(result: SliceResult) -> bool:
    return result.group in (GradeGroup.LOW, GradeGroup.HIGH)


def find_lesions(slices: Sequence[SliceResult], *, max_gap: int = 1) -> tuple[Lesion, ...]:
    """Group contiguous abnormal slices into lesions, bridging gaps of up to ``max_gap`` slices.

    ``slices`` must be in volume order. A gap slice (normal, or canal not found) between two
    abnormal slices does not split a lesion when the gap is at most ``max_gap`` slices long;
    gap slices are not counted in ``n_abnormal_slices``.
    """
    runs: list[list[SliceResult]] = []
    current: list[SliceResult] = []
    gap = 0
    for result in slices:
        if _abnormal(result):
            current.append(result)
            gap = 0
        elif current:
            gap += 1
            if gap > max_gap:
                runs.append(current)
                current, gap = [], 0
    if current:
        runs.append(current)

    lesions: list[Lesion] = []
    for number, run in enumerate(runs, start=1):
        group = max((r.group for r in run if r.group is not None), key=_GROUP_RANK.__getitem__)
        column = _GROUP_RANK[group]
        key = max(
            run,
            key=lambda r: r.probabilities[column] if r.probabilities is not None else 0.0,
        )
        peak = key.probabilities[column] if key.probabilities is not None else 0.0
        z_values = [r.z_mm for r in run]
        lesions.append(
            Lesion(
                number=number,
                group=group,
                first_slice=run[0].index,
                last_slice=run[-1].index,
                z_from_mm=min(z_values),
                z_to_mm=max(z_values),
                peak_probability=float(peak),
                key_slice=key.index,
                n_abnormal_slices=len(run),
            )
        )
    return tuple(lesions)


def summarise(slices: Sequence[SliceResult], *, max_gap: int = 1) -> StudyFindings:
    """Lesions, the per-study high-grade flag and counts from per-slice results."""
    ordered = tuple(sorted(slices, key=lambda r: r.index))
    groups = [r.group for r in ordered if r.group is not None]
    max_group = max(groups, key=_GROUP_RANK.__getitem__) if groups else GradeGroup.NORMAL
    return StudyFindings(
        slices=ordered,
        lesions=find_lesions(ordered, max_gap=max_gap),
        high_grade=any(g is GradeGroup.HIGH for g in groups),
        max_group=max_group,
        n_high_slices=sum(g is GradeGroup.HIGH for g in groups),
        n_low_slices=sum(g is GradeGroup.LOW for g in groups),
        n_canal_not_found=sum(not r.canal_found for r in ordered),
    )


@dataclass(frozen=True, slots=True)
class ModelProvenance:
    """Which model ran, where: stored with every analysis and printed on every report.

    ``probability_temperature`` is the calibration the pipeline applied to the fused
    probabilities (1.0: none), so stored probabilities and thresholds are on that scale;
    ``limitations`` are the model card's plain-language limitation statements, shown
    wherever the model is described. Both are covered by ``model_sha256``.
    """

    model_id: str
    model_version: str
    model_sha256: str  # sha256 over the manifest's file checksums (see inference.manifest)
    backend: str  # e.g. "onnxruntime 1.31.1" or "torch 2.14.1"
    device: str  # e.g. "CUDA · NVIDIA H100" or "CPU · 2 threads"
    synthetic_only: bool = True  # trained on synthetic phantoms only: not for clinical use
    probability_temperature: float = 1.0
    limitations: tuple[str, ...] = ()

    @property
    def calibrated(self) -> bool:
        """Whether the probabilities were temperature-scaled (a temperature other than 1)."""
        return self.probability_temperature != 1.0

    @property
    def backend_text(self) -> str:
        return f"{self.backend} · {self.device}"


class AnalysisStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # found 'running' by a later process: it crashed or was killed
    REFUSED = "refused"  # input checks said the series is unusable


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """One finished analysis of one series: what the pipeline hands to the store and views.

    ``findings`` is ``None`` only for a refused analysis (``status`` REFUSED), whose reasons
    are in ``notices``.
    """

    series_instance_uid: str
    findings: StudyFindings | None
    provenance: ModelProvenance
    thresholds: Thresholds
    notices: tuple[Notice, ...]
    started_at: datetime
    finished_at: datetime
    status: AnalysisStatus = AnalysisStatus.COMPLETE

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
