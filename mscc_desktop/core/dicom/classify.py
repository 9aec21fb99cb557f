"""Classify series (axial CT, localizer, reformat, secondary capture, ...) and pick one.

Every series gets ``analysable`` and human-readable ``reasons`` (why it can or cannot be
analysed), and :func:`pick_series` says why the chosen one won and why the others did not.
Classification works on header facts and header geometry only. The pick does too, except
for one fallback: when series still tie after every header fact (the kernel names say
nothing), one middle slice of each tied series is decoded and its noise measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from mscc_desktop.core.dicom.geometry import (
    PlaneKind,
    display_geometry,
    layout_slices,
    missing_geometry_notice,
    plane_kind,
)
from mscc_desktop.core.dicom.headers import FrameRef
from mscc_desktop.core.dicom.kernels import Kernel, KernelClass, classify_kernel
from mscc_desktop.core.dicom.noise import series_noise_hu
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.volume import SeriesInfo

DEFAULT_MIN_SLICES = 1
"""Any axial CT image set is analysable, down to one slice (issue 5): short coverage is a
warning raised by the analysis input checks, not a refusal. Callers may ask for more."""

LOCALIZER_TYPES = frozenset({"LOCALIZER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM"})
PROJECTION_TYPES = frozenset(
    {"MIP", "MINIP", "MAX_IP", "MIN_IP", "PROJECTION IMAGE", "VOLUME", "VOLUME_RENDER", "VR", "3D"}
)
REFORMAT_TYPES = frozenset({"REFORMATTED", "MPR", "SECONDARY", "DERIVED"})
_GEOMETRY_DOUBTS = frozenset(
    {
        NoticeCode.GAP,
        NoticeCode.UNEVEN_SPACING,
        NoticeCode.DUPLICATE,
        NoticeCode.GANTRY_TILT,
        NoticeCode.MIXED_SERIES,
    }
)


class SeriesKind(StrEnum):
    AXIAL_CT = "axial_ct"
    LOCALIZER = "localizer"
    NON_AXIAL = "non_axial"  # coronal, sagittal or oblique reformat
    SECONDARY_CAPTURE = "secondary_capture"
    PROJECTION = "projection"  # MIP, volume rendering: not slice HU
    NOT_CT = "not_ct"
    NO_GEOMETRY = "no_geometry"
    UNSUPPORTED = "unsupported"  # colour or otherwise unusable pixels


@dataclass(frozen=True, slots=True)
class SeriesEntry:
    """A series (or one geometric part of one) as found by a scan.

    ``frames`` are in file order; the loader sorts them. ``n_slices`` counts distinct slice
    positions. ``info`` holds patient data: never log it.
    """

    key: str
    info: SeriesInfo
    frames: tuple[FrameRef, ...]
    kind: SeriesKind
    plane: PlaneKind
    plane_angle_deg: float
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float] | None
    slice_thickness_mm: float | None
    slice_spacing_mm: float | None
    n_slices: int
    analysable: bool
    reasons: tuple[str, ...]
    notices: tuple[Notice, ...]
    hu_available: bool
    split_note: str = ""

    @property
    def n_images(self) -> int:
        return len(self.frames)

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys(ref.header.path for ref in self.frames))

    @property
    def is_multiframe(self) -> bool:
        return any(ref.header.is_multiframe for ref in self.frames)

    @property
    def description(self) -> str:
        text = self.info.series_description or "(no description)"
        return f"{text} [{self.split_note}]" if self.split_note else text

    @property
    def kernel(self) -> Kernel:
        """The reconstruction kernel and its class (soft-tissue, sharp, lung, unknown)."""
        return classify_kernel(
            self.info.convolution_kernel,
            self.info.manufacturer,
            group=self.frames[0].header.convolution_kernel_group,
        )

    def notice_codes(self) -> frozenset[NoticeCode]:
        return frozenset(notice.code for notice in self.notices)


def _hu_available(frames: tuple[FrameRef, ...], modality: str) -> bool:
    for ref in frames:
        header = ref.header
        geometry = ref.geometry
        if header.bits_allocated <= 8 or header.bits_stored <= 8:
            return False
        if geometry.rescale_slope is None or geometry.rescale_intercept is None:
            return False
    return modality == "CT"


def _is_ct(info: SeriesInfo, frames: tuple[FrameRef, ...]) -> bool:
    if info.modality:
        return info.modality == "CT"
    sop = frames[0].header.sop_class_uid
    return sop.startswith("1.2.840.10008.5.1.4.1.1.2")


def classify_series(
    *,
    key: str,
    frames: tuple[FrameRef, ...],
    info: SeriesInfo,
    split_note: str = "",
    extra_notices: tuple[Notice, ...] = (),
    min_slices: int = DEFAULT_MIN_SLICES,
) -> SeriesEntry:
    """Classify one group of frames that share patient, study, series and geometry."""
    first = frames[0]
    header = first.header
    geometry = first.geometry
    image_type = set(info.image_type)
    plane, angle = plane_kind(geometry.orientation)
    notices: list[Notice] = list(extra_notices)
    have_geometry = all(
        ref.geometry.position_mm is not None and ref.geometry.orientation is not None
        for ref in frames
    )
    n_slices = len(frames)
    spacing: float | None = None
    if have_geometry and geometry.orientation is not None:
        display = display_geometry(geometry.orientation, geometry.pixel_spacing_mm or (1.0, 1.0))
        positions = np.array([ref.geometry.position_mm for ref in frames], dtype=np.float64)
        layout = layout_slices(positions, display.normal, declared_tilt_deg=header.gantry_tilt_deg)
        n_slices = len(layout.order)
        spacing = layout.spacing_mm if n_slices > 1 else None
        notices.extend(layout.notices)
    elif n_slices > 1 or geometry.orientation is None:
        notices.append(missing_geometry_notice("This series"))
    hu_available = _hu_available(frames, info.modality or "CT")
    thickness = geometry.slice_thickness_mm
    notices.extend(_bad_value_notices(frames))
    kind, reasons = _kind_and_reasons(
        info=info,
        frames=frames,
        image_type=image_type,
        plane=plane,
        angle=angle,
        have_geometry=have_geometry,
        hu_available=hu_available,
        n_slices=n_slices,
        min_slices=min_slices,
    )
    analysable = not reasons
    if analysable:
        size = f"{thickness:g} mm" if thickness else "unknown thickness"
        step = f", spacing {spacing:.2f} mm" if spacing else ""
        reasons = [f"axial CT, {n_slices} slices of {size}{step}"]
        if "DERIVED" in image_type:
            notices.append(
                Notice(
                    NoticeCode.DERIVED,
                    "Derived images (reconstructed from another series).",
                    Severity.INFO,
                )
            )
        if angle >= 0.5:
            reasons.append(f"image plane tilted {angle:.1f}° from true axial")
    else:
        notices.append(_refusal_notice(kind, reasons[0]))
    return SeriesEntry(
        key=key,
        info=info,
        frames=frames,
        kind=kind,
        plane=plane,
        plane_angle_deg=angle,
        rows=header.rows,
        columns=header.columns,
        pixel_spacing_mm=geometry.pixel_spacing_mm,
        slice_thickness_mm=thickness,
        slice_spacing_mm=spacing,
        n_slices=n_slices,
        analysable=analysable,
        reasons=tuple(reasons),
        notices=tuple(notices),
        hu_available=hu_available,
        split_note=split_note,
    )


def _kind_and_reasons(
    *,
    info: SeriesInfo,
    frames: tuple[FrameRef, ...],
    image_type: set[str],
    plane: PlaneKind,
    angle: float,
    have_geometry: bool,
    hu_available: bool,
    n_slices: int,
    min_slices: int,
) -> tuple[SeriesKind, list[str]]:
    """The series kind and, when it cannot be analysed, why (empty list: analysable)."""
    header = frames[0].header
    if not _is_ct(info, frames):
        return SeriesKind.NOT_CT, [f"not CT (modality {info.modality or 'unknown'})"]
    if header.is_secondary_capture:
        return SeriesKind.SECONDARY_CAPTURE, ["secondary capture (a picture, not CT slices)"]
    if LOCALIZER_TYPES.intersection(image_type):
        return SeriesKind.LOCALIZER, ["localizer (scout) image"]
    if image_type.intersection(PROJECTION_TYPES):
        found = ", ".join(sorted(image_type.intersection(PROJECTION_TYPES)))
        return SeriesKind.PROJECTION, [f"projection or rendering ({found}), not slice HU"]
    if header.samples_per_pixel != 1:
        return SeriesKind.UNSUPPORTED, ["colour images, not CT slices"]
    single = len(frames) == 1 and plane in (PlaneKind.CORONAL, PlaneKind.SAGITTAL)
    if single and not image_type.intersection(REFORMAT_TYPES):
        return SeriesKind.LOCALIZER, [f"single {plane.value} image (probably a scout)"]
    if plane in (PlaneKind.CORONAL, PlaneKind.SAGITTAL, PlaneKind.OBLIQUE):
        return SeriesKind.NON_AXIAL, [
            f"{plane.value} images (non-axial reformat, {angle:.0f}° from its plane)"
            if plane == PlaneKind.OBLIQUE
            else f"{plane.value} images (non-axial reformat)"
        ]
    if not have_geometry:
        return SeriesKind.NO_GEOMETRY, ["slice position or orientation missing"]
    if frames[0].geometry.pixel_spacing_mm is None:
        return SeriesKind.NO_GEOMETRY, ["pixel spacing missing, so sizes are unknown"]
    if not hu_available:
        return SeriesKind.AXIAL_CT, ["pixel values are not Hounsfield units (8-bit or unscaled)"]
    if n_slices < min_slices:
        return SeriesKind.AXIAL_CT, [f"too few slices ({n_slices}; at least {min_slices} needed)"]
    return SeriesKind.AXIAL_CT, []


def _bad_value_notices(frames: tuple[FrameRef, ...]) -> list[Notice]:
    """One notice naming the attributes whose values were unusable (treated as missing)."""
    counts: dict[str, int] = {}
    for header in {id(ref.header): ref.header for ref in frames}.values():
        for keyword in header.bad_values:
            counts[keyword] = counts.get(keyword, 0) + 1
    if not counts:
        return []
    listed = ", ".join(f"{keyword} ({count} file(s))" for keyword, count in sorted(counts.items()))
    return [
        Notice(
            NoticeCode.BAD_VALUE,
            f"Unusable values were treated as missing: {listed}.",
        )
    ]


_REFUSAL_CODES: dict[SeriesKind, NoticeCode] = {
    SeriesKind.NOT_CT: NoticeCode.NOT_CT,
    SeriesKind.SECONDARY_CAPTURE: NoticeCode.DERIVED,
    SeriesKind.PROJECTION: NoticeCode.DERIVED,
    SeriesKind.LOCALIZER: NoticeCode.LOCALIZER,
    SeriesKind.NON_AXIAL: NoticeCode.ORIENTATION,
    SeriesKind.NO_GEOMETRY: NoticeCode.MISSING_GEOMETRY,
    SeriesKind.UNSUPPORTED: NoticeCode.BAD_VALUE,
}


def _refusal_notice(kind: SeriesKind, reason: str) -> Notice:
    if kind == SeriesKind.AXIAL_CT:
        code = NoticeCode.NO_HU if "Hounsfield" in reason else NoticeCode.FEW_SLICES
    else:
        code = _REFUSAL_CODES[kind]
    return Notice(code, f"Not analysable: {reason}.", Severity.ERROR)


@dataclass(frozen=True, slots=True)
class SeriesPick:
    """The series chosen for analysis (or none) and why every other one was not.

    ``noise_hu`` holds the noise measured on a middle slice of each series whose header
    facts tied with the chosen one's (empty when none was measured), by series key.
    """

    chosen: SeriesEntry | None
    reason: str
    not_picked: tuple[tuple[SeriesEntry, str], ...]
    noise_hu: tuple[tuple[str, float | None], ...] = ()

    def noise_of(self, entry: SeriesEntry) -> float | None:
        """The measured noise (HU) of ``entry``, ``None`` when it was not measured."""
        return dict(self.noise_hu).get(entry.key)


SEGMENT_SLICES = 10
"""A series this long can cover a spine segment; shorter ones (single slices, key images) are
analysable but never preferred to one that covers a segment."""

NOISE_MARGIN = 1.15
"""A series counts as noisier only when its measured noise exceeds the quietest tied one's by
more than this factor; two series of one kernel measure within a few per cent, a soft and a
sharp reconstruction of one scan differ by a factor of two or more."""

NOISE_FLOOR_HU = 1.0
"""...and by more than this: smaller differences (maps, flat synthetic images) are
quantisation, not a sharper kernel."""


def _header_score(entry: SeriesEntry) -> tuple[bool, bool, bool, bool, int]:
    """What the headers say, most important first; ties are then broken by measured noise.

    Where the kernel stands: after coverage and consistent geometry, before everything
    else. A series too short to cover a segment cannot be graded whatever its kernel. A
    series with gaps, duplicates, uneven spacing, tilt or mixed patients leaves levels out
    or puts images where they do not belong: a soft-tissue series with a gap would be graded
    with a level missing, and a compression at that level is missed without a trace, while
    the noise of a lung reconstruction shows on every image and the pick reason names its
    kernel. (Reconstructions of one scan share their geometry, so this only happens when an
    export lost files; the not-picked series then says so, and the user can still open it.)
    The kernel comes before original/derived and slice count: a derived soft-tissue series
    serves the grader better than an original lung one, and the thin lung reconstruction of
    a staging CT (more slices) must not beat the soft-tissue one of the same scan.
    """
    covers = entry.n_slices >= SEGMENT_SLICES
    consistent = not (entry.notice_codes() & _GEOMETRY_DOUBTS)
    soft = entry.kernel.is_soft_tissue
    original = "DERIVED" not in entry.info.image_type
    return (covers, consistent, soft, original, entry.n_slices)


def _thickness(entry: SeriesEntry) -> float:
    return entry.slice_thickness_mm or entry.slice_spacing_mm or math.inf


def _final_score(entry: SeriesEntry) -> tuple[float, int]:
    warnings = sum(1 for n in entry.notices if n.severity != Severity.INFO)
    return (-_thickness(entry), -warnings)


def _kernel_phrase(entry: SeriesEntry) -> str:
    """E.g. "kernel B40f (soft-tissue)", or "no kernel recorded"."""
    kernel = entry.kernel
    return f"kernel {kernel.describe()}" if kernel.name else kernel.describe()


def _label(entry: SeriesEntry) -> str:
    number = entry.info.series_number
    return f"series {number}" if number is not None else f'"{entry.description}"'


def _positions(entry: SeriesEntry) -> frozenset[tuple[float, ...]]:
    return frozenset(
        tuple(round(value, 1) for value in ref.geometry.position_mm)
        for ref in entry.frames
        if ref.geometry.position_mm is not None
    )


def _same_slices(entry: SeriesEntry, other: SeriesEntry) -> bool:
    """Whether two series hold slices at the same positions (reconstructions of one scan)."""
    return entry.n_slices == other.n_slices and _positions(entry) == _positions(other)


def _noise_limit(quietest: float) -> float:
    """The most noise a series may measure and still count as quiet as ``quietest``."""
    return max(quietest * NOISE_MARGIN, quietest + NOISE_FLOOR_HU)


def _quiet_enough(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def _why_not(entry: SeriesEntry, chosen: SeriesEntry, noise: dict[str, float | None]) -> str:
    if not entry.analysable:
        return "not analysable: " + "; ".join(entry.reasons)
    mine, best = _header_score(entry), _header_score(chosen)
    if best[0] and not mine[0]:
        return f"too few slices to cover a spine segment ({entry.n_slices} vs {chosen.n_slices})"
    if best[1] and not mine[1]:
        doubts = sorted(code.value for code in entry.notice_codes() & _GEOMETRY_DOUBTS)
        return "inconsistent series (" + ", ".join(doubts) + ")"
    same = "same slices, " if _same_slices(entry, chosen) else ""
    if best[2] and not mine[2]:
        kernel = entry.kernel
        if not kernel.name:
            return f"{same}no kernel recorded, while {chosen.kernel.name} is a soft-tissue kernel"
        if kernel.kernel_class == KernelClass.UNKNOWN:
            return (
                f"{same}kernel {kernel.describe()}, while {chosen.kernel.name} is a "
                "soft-tissue kernel"
            )
        if same:
            return f"same slices, sharper kernel {kernel.describe()}"
        return (
            f"{kernel.describe()} kernel, while a soft-tissue reconstruction "
            f"({chosen.kernel.name}) is available"
        )
    if best[3] and not mine[3]:
        return "derived images while an original series is available"
    if mine[4] < best[4]:
        return f"fewer slices ({mine[4]} vs {best[4]})"
    mine_noise, best_noise = noise.get(entry.key), noise.get(chosen.key)
    if best_noise is not None and entry.key in noise:
        if mine_noise is None:
            return f"{same}{_kernel_phrase(entry)} and its image noise could not be measured"
        if mine_noise > _noise_limit(best_noise):
            return (
                f"{same}{_kernel_phrase(entry)} and a noisier image: {mine_noise:.1f} HU vs "
                f"{best_noise:.1f} HU measured on a middle slice"
            )
    if _thickness(entry) > _thickness(chosen):
        return f"thicker slices ({_thickness(entry):g} mm vs {_thickness(chosen):g} mm)"
    if _final_score(entry)[1] < _final_score(chosen)[1]:
        return "more warnings"
    return "an equally suitable series was picked"


def _pick_reason(
    chosen: SeriesEntry, candidates: list[SeriesEntry], noise: dict[str, float | None]
) -> str:
    parts = list(chosen.reasons)
    kernel = chosen.kernel
    beaten = [
        e
        for e in candidates
        if e is not chosen
        and _header_score(e)[:2] == _header_score(chosen)[:2]
        and not e.kernel.is_soft_tissue
    ]
    if kernel.is_soft_tissue and beaten:
        others = ", ".join(dict.fromkeys(e.kernel.describe() for e in beaten))
        parts.append(f"soft-tissue kernel {kernel.name} preferred over {others}")
    else:
        parts.append(_kernel_phrase(chosen))
    mine = noise.get(chosen.key)
    compared = [(e, noise[e.key]) for e in candidates if e is not chosen and e.key in noise]
    if mine is not None and compared:
        listed = ", ".join(
            (f"{value:.1f} HU" if value is not None else "not measurable")
            + f" for {_label(e)} with {_kernel_phrase(e)}"
            for e, value in compared
        )
        quieter = any(not _quiet_enough(value, _noise_limit(mine)) for _, value in compared)
        lead = (
            "the kernels give no preference, so the quieter image was taken"
            if quieter
            else "image noise alike"
        )
        parts.append(f"{lead}: {mine:.1f} HU measured on a middle slice vs {listed}")
    if len(candidates) > 1:
        parts.append(f"the best of {len(candidates)} analysable series")
    return "; ".join(parts)


def pick_series(series: Iterable[SeriesEntry], *, measure_noise: bool = True) -> SeriesPick:
    """Choose the best analysable axial CT series.

    Preference, in order: enough slices to cover a spine segment (:data:`SEGMENT_SLICES`),
    consistent geometry (no gaps, duplicates, uneven spacing or tilt), a soft-tissue
    reconstruction kernel (:mod:`~mscc_desktop.core.dicom.kernels`), original over derived
    images, more slices; then, among series still tied, lower measured image noise (one
    middle slice of each tied series is decoded; a difference within :data:`NOISE_MARGIN`
    or :data:`NOISE_FLOOR_HU` counts as none), thinner slices, fewer warnings. Remaining ties
    keep scan order. Pass one study's series to pick within a study; several patients'
    series are compared as they are.

    Parameters
    ----------
    series
        Scanned series (any order).
    measure_noise
        ``False`` keeps the choice headers-only: ties skip the noise comparison.

    Returns
    -------
    SeriesPick
        The chosen series (``None`` when nothing is analysable), why (naming the kernels
        and any measured noise), and for every other series why it was not picked.
    """
    entries = list(series)
    candidates = [e for e in entries if e.analysable]
    if not candidates:
        return SeriesPick(
            None,
            "no series is analysable" if entries else "no image series found",
            tuple((e, "not analysable: " + "; ".join(e.reasons)) for e in entries),
        )
    best = max(_header_score(e) for e in candidates)
    tied = [e for e in candidates if _header_score(e) == best]
    noise: dict[str, float | None] = {}
    if len(tied) > 1 and measure_noise:
        noise = {e.key: series_noise_hu(e.frames) for e in tied}
        measured = [value for value in noise.values() if value is not None]
        if measured:
            limit = _noise_limit(min(measured))
            tied = [e for e in tied if _quiet_enough(noise[e.key], limit)]
    chosen = max(tied, key=_final_score)
    others = [e for e in entries if e is not chosen]
    return SeriesPick(
        chosen,
        _pick_reason(chosen, candidates, noise),
        tuple((e, _why_not(e, chosen, noise)) for e in others),
        tuple(noise.items()),
    )
