"""Tiny in-memory labelled studies for the training tests (no DICOM, built in milliseconds).

Each slice is soft tissue in air with a bony ring around a CSF canal whose centre and size
vary from slice to slice (so the detector has something to learn). The grade is painted as
enhancing tissue filling the canal from the front: none (normal), a third (low), all (high) —
visible in every window, so a tiny grader can learn it in a few steps.
"""

from __future__ import annotations

import numpy as np

from mscc_desktop.core.findings import Box
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.training.datasets import LabelledStudy, SliceLabel

_FILL = {GradeGroup.NORMAL: 0.0, GradeGroup.LOW: 0.35, GradeGroup.HIGH: 1.0}


def make_slice(rng: np.random.Generator, size: int, group: GradeGroup) -> tuple[np.ndarray, Box]:
    """One ``(row, col)`` HU slice and its canal box (edges, slice pixels)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    hu = np.full((size, size), -1000.0)
    body = ((rows - size / 2) / (size * 0.45)) ** 2 + ((cols - size / 2) / (size * 0.47)) ** 2
    hu[body <= 1.0] = 40.0 + rng.normal(0, 10, size=(size, size))[body <= 1.0]
    radius = size * rng.uniform(0.06, 0.09)
    cy = size * rng.uniform(0.5, 0.65)
    cx = size * rng.uniform(0.4, 0.6)
    dist = np.hypot(rows + 0.5 - cy, cols + 0.5 - cx)
    hu[dist <= radius * 2.0] = 900.0
    inside = dist < radius
    hu[inside] = 5.0
    front = rows + 0.5 < cy - radius + _FILL[group] * 2 * radius
    hu[inside & front] = 80.0
    return hu.astype(np.int16), Box(cx - radius, cy - radius, cx + radius, cy + radius)


def make_study(
    name: str,
    *,
    n_slices: int = 12,
    size: int = 64,
    seed: int = 0,
    degenerative_every: int = 0,
) -> LabelledStudy:
    """A labelled study cycling through normal, normal, low, high slices."""
    rng = np.random.default_rng(seed)
    cycle = (GradeGroup.NORMAL, GradeGroup.NORMAL, GradeGroup.LOW, GradeGroup.HIGH)
    hu = np.empty((n_slices, size, size), dtype=np.int16)
    labels = []
    for i in range(n_slices):
        group = cycle[i % len(cycle)]
        hu[i], box = make_slice(rng, size, group)
        labels.append(
            SliceLabel(
                slice_index=i,
                sop_instance_uid=f"1.2.826.0.1.3680043.8.498.{seed}.{i + 1}",
                box=box,
                group=group,
                degenerative=bool(degenerative_every) and i % degenerative_every == 0,
            )
        )
    return LabelledStudy(name, hu, tuple(labels))


def make_studies(n: int = 4, **kwargs: object) -> list[LabelledStudy]:
    return [make_study(f"study{i:02d}", seed=100 + i, **kwargs) for i in range(n)]  # type: ignore[arg-type]


__all__ = ["GROUP_ORDER", "make_slice", "make_studies", "make_study"]
