"""Input checks before analysis: the paper's exclusions, made visible to the reader.

Every check turns into a :class:`~mscc_desktop.core.notices.Notice` on the analysis. The
series is *refused* (no inference, :data:`~mscc_desktop.core.findings.AnalysisStatus.REFUSED`)
only when it is truly unusable — the notices with ERROR severity:

* not CT (another modality recorded in (0008,0060) Modality),
* a localizer / scout image ((0008,0008) Image Type contains LOCALIZER),
* not axial (slice normal more than :data:`MAX_OBLIQUE_DEG` from the patient's long axis),
* no Hounsfield units (8-bit or unscaled images).

Everything else is a WARNING and the analysis runs: gantry tilt, gaps, slices thicker than
5 mm, no IV contrast recorded, coverage that may miss the thoracic spine, projections. Any
axial CT image set is analysable, down to a single slice.
"""

from __future__ import annotations

import math

import numpy as np

from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.volume import Volume

MAX_SLICE_THICKNESS_MM = 5.0  # the paper used 3-5 mm slices
MAX_OBLIQUE_DEG = 30.0  # beyond this the slices are not axial (sagittal/coronal/odd reformat)
OBLIQUE_WARNING_DEG = 2.0
GANTRY_TILT_WARNING_DEG = 0.5
GAP_FACTOR = 1.5  # a step this many times the median spacing means missing slices
MIN_COVERAGE_MM = 250.0  # C7-L3 spans about 40-45 cm in adults; a chest CT covers ~30 cm

REFUSING_CODES = frozenset(
    {NoticeCode.NOT_CT, NoticeCode.LOCALIZER, NoticeCode.ORIENTATION, NoticeCode.NO_HU}
)

# (0018,0015) Body Part Examined defined terms (and common free text) for regions that do not
# include the thoracic spine, and for regions that do.
_OUTSIDE_REGIONS = frozenset(
    {
        "HEAD", "BRAIN", "SKULL", "FACE", "SINUS", "ORBIT", "IAC", "EAR", "JAW", "TMJ",
        "CSPINE", "LSPINE", "SSPINE", "SACRUM", "COCCYX", "PELVIS", "HIP", "KNEE", "LEG",
        "THIGH", "ANKLE", "FOOT", "HAND", "WRIST", "ELBOW", "ARM", "FOREARM", "EXTREMITY",
    }
)  # fmt: skip
_THORACIC_HINTS = (
    "CHEST", "THORAX", "THORAC", "TSPINE", "T-SPINE", "SPINE", "ABDOMEN", "ABD", "TORSO",
    "TRUNK", "WHOLEBODY", "WHOLE BODY", "BODY", "STAGING", "CAP", "TAP", "LUNG",
)  # fmt: skip
_PROJECTION_HINTS = ("MIP", "MINIP", "PROJECTION", "VOLUME_RENDER", "VR ")


def _tokens(text: str) -> set[str]:
    cleaned = "".join(ch if ch.isalnum() else " " for ch in text.upper())
    return set(cleaned.split())


def _modality(volume: Volume) -> list[Notice]:
    modality = volume.info.modality.strip().upper()
    if modality == "CT":
        return []
    if not modality:
        return [
            Notice(
                NoticeCode.NOT_CT,
                "(0008,0060) Modality is not recorded; the series is analysed as CT. "
                "Check that it is a CT series.",
            )
        ]
    return [
        Notice(
            NoticeCode.NOT_CT,
            f"The series is {modality}, not CT; the models only read CT in Hounsfield units. "
            "Choose a CT series of the study.",
            Severity.ERROR,
        )
    ]


def _localizer(volume: Volume) -> list[Notice]:
    types = {value.strip().upper() for value in volume.info.image_type}
    if "LOCALIZER" in types:
        return [
            Notice(
                NoticeCode.LOCALIZER,
                "The series is a localizer (scout) image, not axial slices. "
                "Choose the axial series of the study.",
                Severity.ERROR,
            )
        ]
    return []


def _orientation(volume: Volume) -> list[Notice]:
    nz = abs(float(volume.normal[2]))
    angle = math.degrees(math.acos(min(1.0, nz)))
    if angle > MAX_OBLIQUE_DEG:
        plane = "sagittal" if abs(volume.normal[0]) >= abs(volume.normal[1]) else "coronal"
        return [
            Notice(
                NoticeCode.ORIENTATION,
                f"The slices are not axial (about {plane}, {angle:.0f}° from axial); the models "
                "grade axial slices only. Choose the axial series of the study.",
                Severity.ERROR,
            )
        ]
    tilt = abs(volume.gantry_tilt_deg)
    if angle > OBLIQUE_WARNING_DEG and abs(angle - tilt) > 1.0:
        return [
            Notice(
                NoticeCode.ORIENTATION,
                f"The slices are oblique, {angle:.1f}° from true axial; the models were trained "
                "on axial slices and may be less reliable.",
            )
        ]
    return []


def _gantry_tilt(volume: Volume) -> list[Notice]:
    tilt = abs(volume.gantry_tilt_deg)
    if tilt > GANTRY_TILT_WARNING_DEG:
        return [
            Notice(
                NoticeCode.GANTRY_TILT,
                f"Gantry tilt of {tilt:.1f}°: slices are tilted against the spine; canal shape "
                "and grades may be less reliable.",
            )
        ]
    return []


def _gaps(volume: Volume) -> list[Notice]:
    if volume.n_slices < 3:
        return []
    steps = np.abs(np.diff(np.asarray(volume.z_mm, dtype=np.float64)))
    median = float(np.median(steps))
    if median <= 0:
        return []
    notices: list[Notice] = []
    for i in np.flatnonzero(steps > GAP_FACTOR * median):
        missing = max(1, round(float(steps[i]) / median) - 1)
        za, zb = float(volume.z_mm[i]), float(volume.z_mm[i + 1])
        notices.append(
            Notice(
                NoticeCode.GAP,
                f"{missing} slice{'s' if missing > 1 else ''} missing between z = {za:.1f} and "
                f"{zb:.1f} mm (expected spacing {median:.1f} mm); disease there cannot be seen.",
            )
        )
    return notices


def _thickness(volume: Volume) -> list[Notice]:
    thickness = volume.slice_thickness_mm
    source = "(0018,0050) Slice Thickness"
    if thickness is None or thickness <= 0:
        thickness, source = volume.slice_spacing_mm, "slice spacing"
    if thickness > MAX_SLICE_THICKNESS_MM + 0.01:
        return [
            Notice(
                NoticeCode.THICK_SLICES,
                f"Slices are {thickness:.1f} mm thick ({source}); the method was developed on "
                "3-5 mm slices and may miss or misgrade small epidural disease.",
            )
        ]
    return []


def _contrast(volume: Volume) -> list[Notice]:
    if volume.info.contrast_agent.strip():
        return []
    return [
        Notice(
            NoticeCode.NO_CONTRAST,
            "No IV contrast is recorded in (0018,0010) Contrast/Bolus Agent. Many scanners "
            "leave it empty even for contrast-enhanced scans, so check the images: the method "
            "was developed on contrast-enhanced CT and may be less reliable without contrast.",
        )
    ]


def _coverage(volume: Volume) -> list[Notice]:
    reasons: list[str] = []
    n = volume.n_slices
    step = volume.slice_spacing_mm or (volume.slice_thickness_mm or 0.0)
    low, high = volume.z_range_mm()
    extent = high - low + step
    if n == 1:
        reasons.append("The series is a single slice: only that level is analysed.")
    elif extent < MIN_COVERAGE_MM:
        reasons.append(
            f"The series covers {extent:.0f} mm along the body; the thoracic spine from C7 to "
            "L3 spans about 40-45 cm in adults, so part of it is probably not covered."
        )
    body = volume.info.body_part.strip().upper().replace(" ", "")
    described = " ".join((volume.info.series_description, volume.info.study_description))
    if body in _OUTSIDE_REGIONS:
        reasons.append(
            f"(0018,0015) Body Part Examined is {body}, a region outside the thoracic spine."
        )
    elif not body and described.strip():
        words = _tokens(described)
        upper = described.upper()
        if words & _OUTSIDE_REGIONS and not any(hint in upper for hint in _THORACIC_HINTS):
            reasons.append("The series description names a region outside the thoracic spine.")
    if not reasons:
        return []
    reasons.append(
        "Vertebral levels cannot be identified from the DICOM headers; check on the images "
        "which levels were covered."
    )
    return [Notice(NoticeCode.COVERAGE, " ".join(reasons))]


def _projection(volume: Volume) -> list[Notice]:
    text = " ".join((*volume.info.image_type, volume.info.series_description)).upper() + " "
    if any(hint in text for hint in _PROJECTION_HINTS):
        return [
            Notice(
                NoticeCode.DERIVED,
                "The series looks like a projection (MIP/MinIP or rendering), not plain axial "
                "slices; grades on projections are unreliable.",
            )
        ]
    return []


def check_volume(volume: Volume) -> tuple[Notice, ...]:
    """Run every input check on ``volume``.

    Parameters
    ----------
    volume
        A loaded series.

    Returns
    -------
    tuple of Notice
        Refusals (Severity.ERROR, see :func:`refusal_notices`) first, then warnings, in a
        stable order. Empty when nothing is wrong.
    """
    notices = [
        *_modality(volume),
        *_localizer(volume),
        *_orientation(volume),
        *(
            []
            if volume.hu_available
            else [
                Notice(
                    NoticeCode.NO_HU,
                    "The pixel values are not Hounsfield units (8-bit or unscaled images such as "
                    "screen captures); the CT windows the models need cannot be computed. "
                    "Use the original CT series.",
                    Severity.ERROR,
                )
            ]
        ),
        *_gantry_tilt(volume),
        *_gaps(volume),
        *_thickness(volume),
        *_contrast(volume),
        *_coverage(volume),
        *_projection(volume),
    ]
    notices.sort(key=lambda notice: notice.severity is not Severity.ERROR)
    return tuple(notices)


def refusal_notices(notices: tuple[Notice, ...] | list[Notice]) -> tuple[Notice, ...]:
    """The notices among ``notices`` that make a series unusable for analysis."""
    return tuple(n for n in notices if n.severity is Severity.ERROR and n.code in REFUSING_CODES)


def is_analysable(volume: Volume) -> bool:
    """True when :func:`check_volume` finds no refusal (warnings allowed)."""
    return not refusal_notices(check_volume(volume))


__all__ = [
    "MAX_SLICE_THICKNESS_MM",
    "REFUSING_CODES",
    "check_volume",
    "is_analysable",
    "refusal_notices",
]
