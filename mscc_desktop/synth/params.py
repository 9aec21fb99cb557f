"""Every parameter of a synthetic study, as frozen dataclasses (saved in ``study.json``).

A study is fully determined by :class:`StudyParams`; :mod:`mscc_desktop.synth.sampling`
draws them from a seed and a :class:`GeneratorConfig`. Severities of epidural disease are
continuous "grade units" (:data:`SEVERITY_BANDS`) so that the grade can vary smoothly along
z; the grade written to the labels is always re-derived from the rendered masks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mscc_desktop.core.grades import BilskyGrade

GENERATOR_NAME = "mscc-desktop synth"
GENERATOR_VERSION = "1.2.0"


class Phase(StrEnum):
    """Contrast phase of the staging CT."""

    PORTAL_VENOUS = "portal_venous"
    ARTERIAL = "arterial"
    NON_CONTRAST = "non_contrast"


class BoneLesionKind(StrEnum):
    LYTIC = "lytic"
    SCLEROTIC = "sclerotic"
    MIXED = "mixed"


class BoneSite(StrEnum):
    """Where in the vertebra a bone metastasis sits."""

    BODY = "body"
    BODY_POSTERIOR = "body_posterior"  # abutting the canal: source of ventral epidural disease
    PEDICLE_LEFT = "pedicle_left"
    PEDICLE_RIGHT = "pedicle_right"
    LAMINA = "lamina"  # posterior arch: source of dorsal epidural disease
    WHOLE_BODY = "whole_body"


class DegenerativeKind(StrEnum):
    """Canal narrowing that is not MSCC (the paper excluded these slices)."""

    DISC_OSTEOPHYTE = "disc_osteophyte"  # bony posterior ridge at a disc level
    DISC_BULGE = "disc_bulge"  # soft-tissue posterior disc bulge
    LIGAMENTUM_FLAVUM = "ligamentum_flavum"  # thickened ligamentum flavum (soft tissue)
    OSSIFIED_LIGAMENTUM_FLAVUM = "ossified_ligamentum_flavum"


SEVERITY_BANDS: tuple[tuple[float, BilskyGrade | None], ...] = (
    (0.0, None),  # no epidural tumour at this z
    (1.0, BilskyGrade.G1A),
    (2.0, BilskyGrade.G1B),
    (3.0, BilskyGrade.G1C),
    (4.0, BilskyGrade.G2),
    (5.0, BilskyGrade.G3),
)
"""Severity s in [k, k+1) targets the k-th band; the fraction within a band sets the depth."""

MAX_SEVERITY = 5.95


def severity_for(grade: BilskyGrade, fraction: float = 0.5) -> float:
    """A severity inside ``grade``'s band (``fraction`` 0..1 across the band)."""
    for start, band in SEVERITY_BANDS:
        if band == grade:
            return min(start + min(max(fraction, 0.0), 0.95), MAX_SEVERITY)
    return 0.0


@dataclass(frozen=True, slots=True)
class TissueHU:
    """Mean attenuation (HU) of each tissue for this patient and contrast phase."""

    fat: float
    skin: float
    muscle: float
    lung: float
    aorta: float
    heart_left: float
    heart_right: float
    myocardium: float
    vein: float  # SVC/IVC/portal/hepatic veins
    liver: float
    spleen: float
    kidney_cortex: float
    kidney_medulla: float
    bowel_wall: float
    csf: float
    cord: float
    disc: float
    cancellous: float
    cortical: float
    tumour: float
    epidural_fat: float
    epidural_vein: float
    cartilage: float
    marrow: float  # rib and long-bone marrow
    # How much brighter than their true HU the canal's contents look (beam hardening inside the
    # bony ring, partial volume, enhancing veins): already in ``csf``, ``cord`` and
    # ``epidural_fat``, and added to the tumour where it lies inside the canal (generator 1.2).
    canal_bias: float = 0.0

    @property
    def canal_tumour(self) -> float:
        """The tumour's apparent HU inside the canal (before each lesion's own offset)."""
        return self.tumour + self.canal_bias

    @property
    def canal_tumour_contrast(self) -> float:
        """How far the tumour stands above the brighter of CSF and epidural fat (HU)."""
        return self.canal_tumour - max(self.csf, self.epidural_fat)


@dataclass(frozen=True, slots=True)
class ScanParams:
    """Acquisition and reconstruction of the synthetic series."""

    matrix: int
    pixel_spacing_mm: float
    fov_centre_mm: tuple[float, float]  # patient (x, y) of the image centre
    slice_spacing_mm: float
    slice_thickness_mm: float
    z_first_mm: float  # most superior slice (slice 0)
    n_slices: int
    rescale_intercept: float
    padding_hu: float | None  # HU written outside the reconstruction circle; None = air
    noise_sd_hu: float  # noise standard deviation in water at the body centre
    noise_grain_mm: float  # wavelength of the noise power spectrum peak
    noise_streakiness: float  # 0..1, share of laterally elongated (photon-starved) noise
    sharpness: float  # MTF 50 % frequency in cycles/mm
    overshoot: float  # edge enhancement of sharp kernels, 0..0.4
    streak_hu: float  # amplitude of beam-hardening / metal streaks
    table_y_mm: float  # top of the table (patient y)
    kvp: float
    kernel: str
    manufacturer: str

    @property
    def fov_mm(self) -> float:
        return self.matrix * self.pixel_spacing_mm

    def z_positions(self) -> tuple[float, ...]:
        """z of every slice, head first (decreasing)."""
        return tuple(
            round(self.z_first_mm - index * self.slice_spacing_mm, 4)
            for index in range(self.n_slices)
        )


@dataclass(frozen=True, slots=True)
class PatientParams:
    """Body habitus and anatomy variation."""

    sex: str  # "F" or "M"
    size: float  # torso scale (1 = average adult)
    height_scale: float  # spine (vertebral heights) scale
    fat_mm: float  # subcutaneous fat thickness at the flank
    body_x_mm: float  # body centre x (patient not always centred)
    spine_top_z_mm: float  # z of the top of C6's body
    rotation_deg: float  # whole-body rotation about z
    spine_rotation_deg: float  # extra axial rotation of the spine
    arms_up: bool
    kyphosis_mm: float  # how far T1/T12 sit anterior of the T7 apex
    lordosis_mm: float  # how far L3 sits anterior
    scoliosis_mm: float
    scoliosis_period_mm: float
    scoliosis_phase: float
    canal_scale: float
    cord_scale: float
    conus_tip_shift: float  # conus tip position in levels relative to the L1/L2 disc
    back_pad_mm: float  # mattress between back and table
    breast_mm: float  # anterior chest soft-tissue bulge (0 for most men)
    lung_gradient_hu: float  # dependent (posterior) lung density increase
    vacuum_disc_levels: tuple[str, ...] = ()  # discs with gas (degenerative, incidental)
    skin_markers: int = 0  # ECG electrodes / skin markers (bright dots with streaks)
    # Partial volume of the bony canal wall across the slab: a bright rim inside the canal
    # (share of cortical HU at the wall, decaying over ``canal_rim_mm``).
    canal_rim: float = 0.0
    canal_rim_mm: float = 1.0
    # Heterogeneity of everything inside the canal (sac, cord, fat and tumour alike): blotches
    # and streaks across the canal from partial volume, veins, roots and the bony ring.
    # Real canals vary about twice as much from row to row and column to column as the
    # phantoms' (docs/TRAINING_EXPERIMENTS.md, E22). 0 in generator 1.2.
    canal_mottle_hu: float = 0.0
    canal_streak_hu: float = 0.0


@dataclass(frozen=True, slots=True)
class BoneLesion:
    """A vertebral metastasis (no epidural component on its own)."""

    level: str
    z_centre_mm: float
    half_height_mm: float
    site: BoneSite
    kind: BoneLesionKind
    radius_mm: float
    hu: float
    lobulation: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class EpiduralLesion:
    """Epidural tumour with a smooth severity profile along z.

    Severity is ``peak_severity`` on ``|z - z_centre| <= plateau_mm`` and falls to 0 with a
    cosine taper over ``taper_mm``. ``direction_deg`` is where the tumour comes from, seen
    from the canal centre: 0 anterior (vertebral body), 90 the patient's left, 180
    posterior (laminae), -90 the right.
    """

    level: str
    z_centre_mm: float
    plateau_mm: float
    taper_mm: float
    peak_severity: float
    direction_deg: float
    front_curvature: float  # 1/mm: how much the tumour front bulges into the canal
    bone: BoneLesion
    secondary_direction_deg: float | None = None  # circumferential spread, thin
    secondary_depth_mm: float = 0.0
    paravertebral_mm: float = 0.0  # size of a paravertebral soft-tissue mass (0 = none)
    hu_offset: float = 0.0

    def severity(self, z_mm: float) -> float:
        """Severity (grade units) at ``z_mm``."""
        import math

        d = abs(z_mm - self.z_centre_mm) - self.plateau_mm
        if d <= 0:
            return self.peak_severity
        if d >= self.taper_mm:
            return 0.0
        return self.peak_severity * 0.5 * (1.0 + math.cos(math.pi * d / self.taper_mm))

    @property
    def z_range_mm(self) -> tuple[float, float]:
        """(top, bottom) where the severity is positive."""
        half = self.plateau_mm + self.taper_mm
        return (self.z_centre_mm + half, self.z_centre_mm - half)


@dataclass(frozen=True, slots=True)
class DegenerativeChange:
    """Degenerative canal narrowing at a disc level (labelled, never MSCC)."""

    level: str  # the vertebra above the disc
    z_centre_mm: float
    half_height_mm: float
    kind: DegenerativeKind
    depth_mm: float  # how far it narrows the canal
    width_deg: float  # angular width
    side_deg: float = 0.0  # centre direction (0 anterior, 180 posterior)


@dataclass(frozen=True, slots=True)
class StudyParams:
    """Everything that determines one synthetic study."""

    study_id: str
    seed: int
    first_level: str
    last_level: str
    phase: Phase
    scan: ScanParams
    patient: PatientParams
    tissues: TissueHU
    epidural: tuple[EpiduralLesion, ...] = ()
    bone: tuple[BoneLesion, ...] = ()
    degenerative: tuple[DegenerativeChange, ...] = ()
    generator_version: str = GENERATOR_VERSION
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (enums become their string values)."""
        result: dict[str, Any] = _jsonable(dataclasses.asdict(self))
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, float):
        return round(value, 6)
    return value


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """User-facing options of the generator (CLI flags map onto these)."""

    matrix: int = 512
    first_level: str = "C7"
    last_level: str = "L3"
    slice_spacing_mm: float | None = None  # None: drawn from ``slice_spacings``
    slice_spacings: tuple[float, ...] = (1.25, 2.0, 2.5, 3.0, 4.0, 5.0)
    slice_spacing_weights: tuple[float, ...] = (0.08, 0.1, 0.17, 0.25, 0.15, 0.25)
    pixel_spacing_range_mm: tuple[float, float] = (0.6, 0.98)  # at 512; scaled for others
    class_mix: tuple[float, float, float] = (0.8, 0.1, 0.1)  # normal, low, high per image
    no_disease_fraction: float = 0.25  # studies without epidural disease
    phase_weights: tuple[float, float, float] = (0.55, 0.15, 0.3)  # PV, arterial, none
    max_slices: int | None = None
    degenerative_rate: float = 0.35  # share of studies with a degenerative mimic
    # Render only about this many slices, spread evenly over the whole scan (None: all).
    # Training sets use it to get more patients and lesions for the same rendering time.
    render_slices: int | None = None
    # Experiment E22: draw ``PatientParams.canal_mottle_hu`` / ``canal_streak_hu`` (from a
    # stream of their own, so every other parameter of a seed stays as in generator 1.2).
    canal_heterogeneity: bool = False

    def __post_init__(self) -> None:
        if self.matrix < 32:
            raise ValueError("matrix must be at least 32 pixels")
        mix = self.class_mix
        if len(mix) != 3 or min(mix) < 0 or abs(sum(mix) - 1.0) > 1e-3 or mix[0] <= 0:
            raise ValueError(f"class mix must be three shares summing to 1, got {mix}")
        if not 0.0 <= self.no_disease_fraction <= 1.0:
            raise ValueError("no-disease fraction must be in [0, 1]")
        if self.render_slices is not None and self.render_slices < 1:
            raise ValueError("render_slices must be at least 1")

    def rendered_indices(self, n_slices: int) -> range:
        """Which of a scan's ``n_slices`` slices are rendered (every k-th, see
        ``render_slices``)."""
        if self.render_slices is None or n_slices <= self.render_slices:
            return range(n_slices)
        step = -(-n_slices // self.render_slices)  # ceil: at most render_slices slices
        return range(0, n_slices, step)
