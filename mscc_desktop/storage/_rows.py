"""Conversions between core findings objects and store rows (exact round trips).

Floats go through SQLite REAL (IEEE double) unchanged; numpy scalars are converted to Python
numbers first (sqlite3 cannot bind them). Probabilities are in GROUP_ORDER (normal, low, high).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.findings import Box, Lesion, SliceResult, Thresholds
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import Notice
from mscc_desktop.core.windows import WindowPreset

SLICE_COLUMNS = (
    "analysis_ref",
    "slice_index",
    "z_mm",
    "sop_instance_uid",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "detection_score",
    "p_normal",
    "p_low",
    "p_high",
    "grade_group",
    "windows_used",
)
LESION_COLUMNS = (
    "analysis_ref",
    "number",
    "grade_group",
    "first_slice",
    "last_slice",
    "z_from_mm",
    "z_to_mm",
    "peak_probability",
    "key_slice",
    "n_abnormal_slices",
)


def slice_row(analysis_id: int, result: SliceResult) -> tuple[object, ...]:
    """Row of one slice. Raises :class:`StoreError` for NaN or infinite numbers, which SQLite
    would silently turn into NULL (a model running out of fp16 range produces them)."""
    box = result.box.as_tuple() if result.box is not None else (None, None, None, None)
    probabilities = result.probabilities or (None, None, None)
    numbers = [result.z_mm, result.detection_score, *box, *probabilities]
    if not all(v is None or math.isfinite(v) for v in numbers):
        raise StoreError(
            f"The analysis has an invalid (NaN or infinite) value on slice {result.index + 1}; "
            "it was not saved. Run the analysis again, on the CPU backend if this repeats."
        )
    return (
        analysis_id,
        int(result.index),
        float(result.z_mm),
        str(result.sop_instance_uid),
        *(None if v is None else float(v) for v in box),
        float(result.detection_score),
        *(None if p is None else float(p) for p in probabilities),
        None if result.group is None else result.group.value,
        ",".join(window.value for window in result.windows_used),
    )


def slice_from_row(row: Sequence[Any]) -> SliceResult:
    """Inverse of :func:`slice_row` (``row`` in :data:`SLICE_COLUMNS` order)."""
    (
        _,
        index,
        z_mm,
        sop_uid,
        x0,
        y0,
        x1,
        y1,
        score,
        p_normal,
        p_low,
        p_high,
        group,
        windows,
    ) = row
    box = None if x0 is None else Box(float(x0), float(y0), float(x1), float(y1))
    probabilities = None if p_normal is None else (float(p_normal), float(p_low), float(p_high))
    return SliceResult(
        index=int(index),
        z_mm=float(z_mm),
        sop_instance_uid=sop_uid,
        box=box,
        detection_score=float(score),
        probabilities=probabilities,
        group=None if group is None else GradeGroup(group),
        windows_used=tuple(WindowPreset(w) for w in windows.split(",") if w),
    )


def lesion_row(analysis_id: int, lesion: Lesion) -> tuple[object, ...]:
    numbers = (lesion.z_from_mm, lesion.z_to_mm, lesion.peak_probability)
    if not all(math.isfinite(v) for v in numbers):
        raise StoreError(
            f"Finding {lesion.number} has an invalid (NaN or infinite) value; the analysis "
            "was not saved."
        )
    return (
        analysis_id,
        int(lesion.number),
        lesion.group.value,
        int(lesion.first_slice),
        int(lesion.last_slice),
        float(lesion.z_from_mm),
        float(lesion.z_to_mm),
        float(lesion.peak_probability),
        int(lesion.key_slice),
        int(lesion.n_abnormal_slices),
    )


def lesion_from_row(row: Sequence[Any]) -> Lesion:
    """Inverse of :func:`lesion_row` (``row`` in :data:`LESION_COLUMNS` order)."""
    _, number, group, first, last, z_from, z_to, peak, key, n_abnormal = row
    return Lesion(
        number=int(number),
        group=GradeGroup(group),
        first_slice=int(first),
        last_slice=int(last),
        z_from_mm=float(z_from),
        z_to_mm=float(z_to),
        peak_probability=float(peak),
        key_slice=int(key),
        n_abnormal_slices=int(n_abnormal),
    )


def notices_json(notices: Sequence[Notice]) -> str:
    return json.dumps([notice.to_dict() for notice in notices])


def notices_from_json(text: str) -> tuple[Notice, ...]:
    return tuple(Notice.from_dict(item) for item in json.loads(text))


def thresholds_from_row(row: Mapping[str, Any]) -> Thresholds:
    return Thresholds(
        high=float(row["threshold_high"]),
        any_mscc=float(row["threshold_any_mscc"]),
        canal_score=float(row["threshold_canal_score"]),
    )
