"""Draw a study's parameters from a seed: patient, scanner, contrast phase and disease.

Disease is placed so that the share of normal / low-grade / high-grade axial images over
many studies approaches :attr:`GeneratorConfig.class_mix` (the paper's training set had
79.5 / 11.3 / 9.2 %): about ``no_disease_fraction`` of studies get no epidural disease, the
others get epidural sites until a per-study target share of abnormal slices is reached,
choosing each peak grade to keep low and high grades in the configured ratio.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth.params import (
    BoneLesion,
    BoneLesionKind,
    BoneSite,
    DegenerativeChange,
    DegenerativeKind,
    EpiduralLesion,
    GeneratorConfig,
    PatientParams,
    Phase,
    ScanParams,
    StudyParams,
    TissueHU,
    severity_for,
)
from mscc_desktop.synth.vertebrae import LEVELS, SpineLayout, level_index

_LOW = (BilskyGrade.G1A, BilskyGrade.G1B)
_HIGH = (BilskyGrade.G1C, BilskyGrade.G2, BilskyGrade.G3)


def study_seed(dataset_seed: int, index: int) -> int:
    """Seed of study ``index`` in a dataset generated with ``dataset_seed``."""
    return int(np.random.SeedSequence([dataset_seed, index]).generate_state(1)[0])


def sample_tissues(phase: Phase, rng: np.random.Generator) -> TissueHU:
    u = rng.uniform
    nc, art = phase == Phase.NON_CONTRAST, phase == Phase.ARTERIAL

    def pick(
        non: tuple[float, float], arterial: tuple[float, float], venous: tuple[float, float]
    ) -> float:
        lo, hi = non if nc else arterial if art else venous
        return float(u(lo, hi))

    aorta = pick((35, 50), (250, 420), (140, 200))
    tumour = pick((38, 50), (60, 85), (65, 88))
    # The canal's contents look brighter on CT than their true HU (CSF 0-15): beam hardening
    # inside the bony ring, partial volume with bone in thick slices, the enhancing epidural
    # venous plexus. Real staging CTs show a normal canal at 0 to ~75 HU (with the renderer's
    # 6 HU of beam hardening, up to 12 + 57 + 6 here; generator 1.1 stopped at ~63). That
    # brightening acts on everything inside the canal, an epidural tumour included, so the
    # tumour keeps its true contrast over CSF (>= 26 HU without contrast, >= 48 HU with).
    # Generator 1.1 brightened the sac alone and capped it 16 HU below the tumour: in a bright
    # canal a grade-3 tumour then looked like a dense normal sac, a label the slice did not show.
    csf_true = u(0.0, 12.0)
    canal_bias = float(u(0.0, 57.0 if not nc else 28.0))
    csf = float(csf_true + canal_bias)
    canal_tumour = tumour + canal_bias
    # Cord-CSF contrast is often invisible on CT: about 45 % of studies show none.
    cord_gap = float(u(-1.0, 5.0) if rng.random() < 0.45 else u(5.0, 28.0))
    cord = min(csf + cord_gap, canal_tumour - 12.0)
    # Epidural fat is a clear dark rim on thin slices of a fatty canal; in most thoracic
    # canals it is thin, and partial volume with the sac, veins and bone hides it.
    # Partial volume with the arch also brightens the rim of the canal on thick slices. The
    # rim stays >= 12 HU below the tumour, so even a thin epidural tumour remains visible.
    if rng.random() < 0.2:
        epidural_fat = float(u(-100.0, -50.0))
    else:
        epidural_fat = float(min(u(csf - 25.0, csf + 30.0), canal_tumour - 12.0))
    return TissueHU(
        fat=float(u(-112, -88)),
        skin=float(u(15, 40)),
        muscle=pick((42, 55), (50, 62), (55, 68)),
        lung=float(u(-875, -830)),
        aorta=aorta,
        heart_left=aorta * float(u(0.9, 1.0)) if not nc else aorta,
        heart_right=pick((38, 50), (120, 330), (130, 180)),
        myocardium=pick((38, 50), (90, 130), (90, 120)),
        vein=pick((38, 50), (60, 120), (130, 180)),
        liver=pick((50, 65), (65, 85), (100, 130)),
        spleen=pick((42, 52), (95, 135), (105, 130)),
        kidney_cortex=pick((30, 40), (170, 250), (140, 190)),
        kidney_medulla=pick((28, 36), (70, 110), (130, 180)),
        bowel_wall=pick((35, 45), (60, 90), (70, 110)),
        csf=csf,
        cord=cord,
        disc=float(u(70, 95)),
        cancellous=float(u(120, 290)),
        cortical=float(u(950, 1300)),
        tumour=tumour,
        epidural_fat=epidural_fat,
        epidural_vein=pick((40, 50), (80, 120), (110, 160)),
        cartilage=float(u(90, 150)),
        marrow=float(u(180, 300)),
        canal_bias=canal_bias,
    )


def sample_patient(rng: np.random.Generator) -> PatientParams:
    u = rng.uniform
    female = bool(rng.random() < 0.5)
    size = float(u(0.86, 1.18)) * (0.95 if female else 1.0)
    fat = float(np.clip(rng.lognormal(math.log(14.0), 0.5), 3.0, 48.0))
    vacuum: tuple[str, ...] = ()
    if rng.random() < 0.15:
        vacuum = tuple(
            str(n) for n in rng.choice(["T10", "T11", "T12", "L1", "L2"], 2, replace=False)
        )
    return PatientParams(
        sex="F" if female else "M",
        size=size,
        height_scale=float(u(0.92, 1.07)) * (0.97 if female else 1.0),
        fat_mm=fat,
        body_x_mm=float(u(-35, 35)),
        spine_top_z_mm=float(u(-150, 250)),
        rotation_deg=float(np.clip(rng.normal(0, 2.5), -7, 7)),
        spine_rotation_deg=float(np.clip(rng.normal(0, 2.0), -5, 5)),
        arms_up=bool(rng.random() < 0.75),
        kyphosis_mm=float(u(8, 32)),
        lordosis_mm=float(u(5, 22)),
        scoliosis_mm=float(u(0, 3) if rng.random() < 0.75 else u(3, 10)),
        scoliosis_period_mm=float(u(250, 600)),
        scoliosis_phase=float(u(0, 2 * math.pi)),
        canal_scale=float(u(0.88, 1.12)),
        cord_scale=float(u(0.9, 1.1)),
        conus_tip_shift=float(u(-0.7, 0.5)),
        # Mostly a thin mattress; sometimes an immobilisation cushion or a couch overlay
        # (radiotherapy planning) lifts the back several centimetres off the table.
        back_pad_mm=float(u(0, 12) if rng.random() < 0.7 else u(20, 100)),
        breast_mm=float(u(8, 38) * size) if female else 0.0,
        lung_gradient_hu=float(u(20, 90)),
        vacuum_disc_levels=vacuum,
        skin_markers=int(rng.integers(2, 5)) if rng.random() < 0.25 else 0,
        canal_rim=float(u(0.0, 0.15)),
        canal_rim_mm=float(u(0.6, 1.6)),
    )


def sample_scan(
    config: GeneratorConfig, patient: PatientParams, layout: SpineLayout, rng: np.random.Generator
) -> ScanParams:
    u = rng.uniform
    width = 2.0 * (140.0 * patient.size + 0.8 * patient.fat_mm)
    lo, hi = (v * 512.0 / config.matrix for v in config.pixel_spacing_range_mm)
    # Diagnostic scans fit the field of view to the body; planning and large-bore scans often
    # reconstruct the whole 500 mm bore, so the body (and the canal) is small in the image.
    fov = width + float(u(10, 90) if rng.random() < 0.65 else u(90, 220))
    pixel = float(np.clip(fov / config.matrix, lo, hi))
    spacing = config.slice_spacing_mm
    if spacing is None:
        weights = np.array(config.slice_spacing_weights, dtype=float)
        spacing = float(rng.choice(config.slice_spacings, p=weights / weights.sum()))
    thickness = spacing if spacing >= 3.0 or rng.random() < 0.5 else spacing * float(u(1.0, 1.3))
    top, bottom = layout.span(config.first_level, config.last_level)
    top += float(u(0.0, 6.0))
    bottom -= float(u(0.0, 6.0))
    n = int((top - bottom) // spacing) + 1
    if config.max_slices is not None and n > config.max_slices:
        n = config.max_slices
    table = float(u(90, 150))
    front = 158.0 * patient.size + 0.9 * patient.fat_mm
    back = 50.0 * patient.size + 0.55 * patient.fat_mm
    canal_y = table - patient.back_pad_mm - back
    # Usually centred on the body; sometimes on the table, leaving the body high in the image.
    fov_y = canal_y + (back - front) / 2.0 + float(u(-20, 20) if rng.random() < 0.7 else u(20, 80))
    return ScanParams(
        matrix=config.matrix,
        pixel_spacing_mm=round(pixel, 6),
        fov_centre_mm=(round(patient.body_x_mm + float(u(-15, 15)), 3), round(fov_y, 3)),
        slice_spacing_mm=spacing,
        slice_thickness_mm=round(thickness, 3),
        z_first_mm=round(top, 3),
        n_slices=n,
        rescale_intercept=-1024.0 if rng.random() < 0.8 else -1000.0,
        padding_hu=[None, -3024.0, -2048.0, -2000.0][int(rng.choice(4, p=[0.3, 0.35, 0.15, 0.2]))],
        noise_sd_hu=float(math.exp(u(math.log(7.0), math.log(55.0)))),
        noise_grain_mm=float(u(1.5, 4.0)),
        noise_streakiness=float(u(0.0, 0.55)),
        sharpness=float(u(0.3, 0.65)),
        overshoot=float(u(0.0, 0.35)),
        streak_hu=float(u(0.0, 30.0)),
        table_y_mm=table,
        kvp=float(rng.choice([100.0, 120.0, 120.0, 140.0])),
        kernel=str(rng.choice(["STANDARD", "B30f", "FC17", "B", "SOFT", "Br40"])),
        manufacturer="mscc-desktop synthetic",
    )


def sample_study(
    seed: int, config: GeneratorConfig | None = None, study_id: str | None = None
) -> StudyParams:
    """All parameters of one study, deterministic in ``seed``."""
    config = config or GeneratorConfig()
    rng = np.random.default_rng([seed, 0])
    patient = sample_patient(rng)
    layout = SpineLayout.build(patient.spine_top_z_mm, patient.height_scale)
    scan = sample_scan(config, patient, layout, rng)
    weights = np.array(config.phase_weights, dtype=float)
    phase = [Phase.PORTAL_VENOUS, Phase.ARTERIAL, Phase.NON_CONTRAST][
        int(rng.choice(3, p=weights / weights.sum()))
    ]
    tissues = sample_tissues(phase, rng)
    planner = _DiseasePlanner(config, layout, scan, rng)
    epidural, bone, degenerative = planner.plan()
    if config.canal_heterogeneity:
        own = np.random.default_rng([seed, 1])
        patient = replace(
            patient,
            canal_mottle_hu=float(own.uniform(5.0, 28.0)),
            canal_streak_hu=float(own.uniform(0.0, 24.0)),
        )
    return StudyParams(
        study_id=study_id or f"synth_{seed}",
        seed=seed,
        first_level=config.first_level,
        last_level=config.last_level,
        phase=phase,
        scan=scan,
        patient=patient,
        tissues=tissues,
        epidural=epidural,
        bone=bone,
        degenerative=degenerative,
    )


class _DiseasePlanner:
    """Places epidural sites, bone-only metastases and degenerative changes."""

    def __init__(
        self,
        config: GeneratorConfig,
        layout: SpineLayout,
        scan: ScanParams,
        rng: np.random.Generator,
    ) -> None:
        self.config, self.layout, self.rng = config, layout, rng
        self.z = np.array(scan.z_positions())
        self.taken: list[tuple[float, float]] = []
        first = max(level_index(config.first_level), 1)
        last = min(level_index(config.last_level), len(LEVELS) - 2)
        z_top, z_bottom = float(self.z[0]), float(self.z[-1])
        self.levels = [
            i for i in range(first, last + 1) if z_bottom + 8 < layout.centre(i) < z_top - 8
        ]

    def _free(self, lo: float, hi: float, gap: float = 10.0) -> bool:
        return all(hi + gap < a or lo - gap > b for a, b in self.taken)

    def plan(
        self,
    ) -> tuple[tuple[EpiduralLesion, ...], tuple[BoneLesion, ...], tuple[DegenerativeChange, ...]]:
        rng, config = self.rng, self.config
        epidural: list[EpiduralLesion] = []
        mix = config.class_mix
        diseased = rng.random() >= config.no_disease_fraction and bool(self.levels)
        if diseased and mix[0] < 1.0:
            mean = min((1.0 - mix[0]) / max(1.0 - config.no_disease_fraction, 1e-3), 0.9)
            target = float(rng.beta(2.5, 2.5 * (1.0 - mean) / mean))
            high_share = mix[2] / max(mix[1] + mix[2], 1e-9)
            counts = np.zeros(3)
            for _ in range(16):
                missing = target * len(self.z) - counts[1:].sum()
                # Stop when one more site would overshoot by more than it would fill.
                typical = 30.0 / max(float(self.z[0] - self.z[1]), 0.5) if len(self.z) > 1 else 1.0
                if missing <= 0.45 * typical:
                    break
                want_high = counts[2] < high_share * max(counts[1:].sum(), 1.0) or (
                    counts[1:].sum() == 0 and rng.random() < high_share
                )
                lesion = self._epidural(want_high, long=missing > 0.25 * len(self.z))
                if lesion is None:
                    break
                epidural.append(lesion)
                counts += self._predict(lesion)
        bone = self._bone_only(diseased or rng.random() < 0.5)
        wants_mimic = rng.random() < config.degenerative_rate
        degenerative = self._degenerative() if wants_mimic and self.levels else ()
        return tuple(epidural), bone, degenerative

    def _predict(self, lesion: EpiduralLesion) -> np.ndarray:
        counts = np.zeros(3)
        for z in self.z:
            s = lesion.severity(float(z))
            if s >= 3.0:
                counts[2] += 1
            elif s >= 1.0:
                counts[1] += 1
        return counts

    def _epidural(self, high: bool, *, long: bool = False) -> EpiduralLesion | None:
        rng = self.rng
        for _ in range(60):
            index = int(rng.choice(self.levels))
            weights = [0.2, 0.4, 0.4] if long else [0.5, 0.35, 0.15]
            n_levels = int(rng.choice([1, 2, 3], p=weights))
            pitch = float(self.layout.body_top[index] - self.layout.body_top[index + 1])
            length = n_levels * pitch * float(rng.uniform(0.7, 1.0))
            centre = self.layout.centre(index) - (n_levels - 1) * pitch / 2.0
            taper = float(rng.uniform(0.25, 0.45)) * length / 2.0
            plateau = length / 2.0 - taper
            lo, hi = centre - length / 2.0, centre + length / 2.0
            if not self._free(lo, hi) or lo < self.z[-1] - 5 or hi > self.z[0] + 5:
                continue
            grade = (
                _HIGH[int(rng.choice(3, p=[0.3, 0.4, 0.3]))] if high else _LOW[int(rng.choice(2))]
            )
            if high and LEVELS[index].name in ("L2", "L3", "L4"):
                grade = BilskyGrade.G1C if rng.random() < 0.5 else grade
            self.taken.append((lo, hi))
            return self._make_epidural(index, centre, plateau, taper, grade)
        return None

    def _make_epidural(
        self, index: int, centre: float, plateau: float, taper: float, grade: BilskyGrade
    ) -> EpiduralLesion:
        return draw_epidural(self.rng, LEVELS[index].name, centre, plateau, taper, grade)

    def _bone_only(self, cancer: bool) -> tuple[BoneLesion, ...]:
        rng = self.rng
        if not cancer or not self.levels:
            return ()
        diffuse = rng.random() < 0.12
        n = int(rng.integers(8, 16)) if diffuse else int(rng.integers(0, 4))
        lesions = []
        for _ in range(n):
            index = int(rng.choice(self.levels))
            centre = self.layout.centre(index) + float(rng.uniform(-5, 5))
            half = float(rng.uniform(4, 10))
            if not self._free(centre - half, centre + half, gap=4.0):
                continue
            site = [
                BoneSite.BODY,
                BoneSite.BODY,
                BoneSite.WHOLE_BODY,
                BoneSite.PEDICLE_LEFT,
                BoneSite.PEDICLE_RIGHT,
                BoneSite.LAMINA,
            ][int(rng.integers(0, 6))]
            kind = [BoneLesionKind.LYTIC, BoneLesionKind.SCLEROTIC, BoneLesionKind.MIXED][
                int(rng.integers(0, 3))
            ]
            lesions.append(
                BoneLesion(
                    LEVELS[index].name,
                    centre,
                    half,
                    site,
                    kind,
                    float(rng.uniform(4, 11)),
                    float(rng.uniform(450, 1100)),
                )
            )
        return tuple(lesions)

    def _degenerative(self) -> tuple[DegenerativeChange, ...]:
        rng = self.rng
        changes = []
        for _ in range(int(rng.integers(1, 3))):
            index = int(rng.choice(self.levels))
            disc_z = 0.5 * (self.layout.body_bottom[index] + self.layout.body_top[index + 1])
            half = float(
                self.layout.body_bottom[index] - self.layout.body_top[index + 1]
            ) / 2.0 + float(rng.uniform(2, 5))
            if not self._free(disc_z - half, disc_z + half, gap=12.0):
                continue
            name = LEVELS[index].name
            lumbar_or_low = name.startswith("L") or name in ("T9", "T10", "T11", "T12")
            options = [DegenerativeKind.DISC_OSTEOPHYTE, DegenerativeKind.DISC_BULGE]
            if lumbar_or_low:
                options += [
                    DegenerativeKind.LIGAMENTUM_FLAVUM,
                    DegenerativeKind.OSSIFIED_LIGAMENTUM_FLAVUM,
                ]
            kind = options[int(rng.integers(0, len(options)))]
            posterior = kind in (
                DegenerativeKind.LIGAMENTUM_FLAVUM,
                DegenerativeKind.OSSIFIED_LIGAMENTUM_FLAVUM,
            )
            self.taken.append((disc_z - half, disc_z + half))
            changes.append(
                DegenerativeChange(
                    level=name,
                    z_centre_mm=float(disc_z),
                    half_height_mm=half,
                    kind=kind,
                    depth_mm=float(rng.uniform(1.5, 3.5)),
                    width_deg=float(rng.uniform(60, 100))
                    if posterior
                    else float(rng.uniform(40, 90)),
                    side_deg=180.0 if posterior else float(rng.normal(0, 15)),
                )
            )
        return tuple(changes)


def draw_epidural(
    rng: np.random.Generator,
    level: str,
    centre: float,
    plateau: float,
    taper: float,
    grade: BilskyGrade,
) -> EpiduralLesion:
    """An epidural lesion of ``grade`` centred at ``centre`` (mm): where it comes from, its
    front, its bone metastasis, circumferential spread and paravertebral mass.

    Shared by the phantom planner and the insertion into real CT
    (:mod:`mscc_desktop.synth.real_study`), so both draw the same lesion shapes.
    """
    r = rng.random()
    if grade == BilskyGrade.G1A and rng.random() < 0.6:
        r = 0.8 + 0.2 * rng.random()  # 1a needs epidural room: mostly dorsal/lateral
    side = 1.0 if rng.random() < 0.5 else -1.0
    if r < 0.5:
        direction, site = float(rng.normal(0, 18)), BoneSite.BODY_POSTERIOR
    elif r < 0.75:
        direction, site = side * float(rng.uniform(30, 70)), BoneSite.BODY_POSTERIOR
    elif r < 0.9:
        direction = side * float(rng.uniform(95, 150))
        site = BoneSite.PEDICLE_LEFT if side > 0 else BoneSite.PEDICLE_RIGHT
    else:
        direction, site = 180.0 + float(rng.normal(0, 12)), BoneSite.LAMINA
    kind = [BoneLesionKind.LYTIC, BoneLesionKind.MIXED, BoneLesionKind.SCLEROTIC][
        int(rng.choice(3, p=[0.65, 0.2, 0.15]))
    ]
    bone = BoneLesion(
        level=level,
        z_centre_mm=centre,
        half_height_mm=plateau + 0.7 * taper,
        site=site,
        kind=kind,
        radius_mm=float(rng.uniform(5.0, 10.0)),
        hu=float(rng.uniform(500, 1100)),
        lobulation=((0.0, 0.0), (float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1)))),
    )
    secondary = None
    if rng.random() < 0.25:
        secondary = direction + side * float(rng.uniform(90, 180))
    return EpiduralLesion(
        level=level,
        z_centre_mm=centre,
        plateau_mm=plateau,
        taper_mm=taper,
        peak_severity=severity_for(grade, float(rng.uniform(0.15, 0.85))),
        direction_deg=direction,
        front_curvature=float(rng.uniform(0.01, 0.08)),
        bone=bone,
        secondary_direction_deg=secondary,
        secondary_depth_mm=float(rng.uniform(0.6, 1.5)) if secondary is not None else 0.0,
        paravertebral_mm=float(rng.uniform(8, 25))
        if abs(direction) < 100 and rng.random() < 0.35
        else 0.0,
        hu_offset=float(rng.normal(0, 6)),
    )
