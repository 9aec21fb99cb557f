"""A generated study as the :class:`~mscc_desktop.core.volume.Volume` the importer returns,
and its ground truth per slice, for checks that need no DICOM round trip (level accuracy,
reformat tests).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mscc_desktop.core.volume import SeriesInfo, Volume
from mscc_desktop.synth.generate import SynthStudy


def study_volume(study: SynthStudy) -> Volume:
    """``study`` in the importer's conventions: ``hu`` ``(slice, row, col)``, head first,
    rows anterior → posterior, columns patient right → left, LPS positions of the first
    voxel of each slice."""
    scan = study.params.scan
    n = study.hu.shape[0]
    z = np.asarray(study.z_positions_mm, dtype=np.float64)
    x0, y0 = study.origin_xy_mm
    steps = -np.diff(z)
    return Volume(
        hu=study.hu,
        z_mm=z,
        positions_mm=np.column_stack([np.full(n, x0), np.full(n, y0), z]),
        pixel_spacing_mm=(scan.pixel_spacing_mm, scan.pixel_spacing_mm),
        slice_spacing_mm=float(np.median(steps)) if n > 1 else 0.0,
        slice_thickness_mm=scan.slice_thickness_mm,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        sop_instance_uids=tuple(f"2.25.{study.params.seed}.{k + 1}" for k in range(n)),
        source_files=tuple(Path(f"{study.params.study_id}/{k + 1:05d}.dcm") for k in range(n)),
        frame_indices=(0,) * n,
        info=SeriesInfo(study_id=study.params.study_id, modality="CT"),
    )


def truth_canal_centres(study: SynthStudy) -> list[tuple[float, float] | None]:
    """Centre ``(row_px, col_px)`` of each slice's true bony canal box."""
    return [(t.canal_box.centre[1], t.canal_box.centre[0]) for t in study.truths]


def truth_levels(study: SynthStudy) -> list[str]:
    """Each slice's true level: ``"T6"`` in a vertebral body, ``"T6/T7"`` in the disc below."""
    return [t.level for t in study.truths]
