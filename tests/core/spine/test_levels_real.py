"""Levels on real CT whose levels were read by eye (tests/data/vertebral_levels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscc_desktop.core.dicom import load_series, scan_folder
from mscc_desktop.core.spine.centreline import centreline_from_centres
from mscc_desktop.core.spine.level_estimate import estimate_levels
from mscc_desktop.core.spine.levels import LandmarkKind, LevelEstimate, LevelStatus
from mscc_desktop.core.volume import Volume
from mscc_desktop.evaluation.real_canal import labelled_real_slices

DATA = Path(__file__).resolve().parents[2] / "data"


def estimate_series(
    root: Path, folder: str, kernel: str | None = None
) -> tuple[Volume, LevelEstimate]:
    boxes = {
        s.dicom_path.resolve(): s.box for s in labelled_real_slices(DATA / "real_canal_boxes", root)
    }
    entries = [e for e in scan_folder(root / folder).series if len(e.frames) >= 10]
    entry = next(e for e in entries if kernel is None or e.info.convolution_kernel == kernel)
    volume = load_series(entry)
    centres: list[tuple[float, float] | None] = []
    for path in volume.source_files:
        box = boxes.get(Path(path).resolve())
        centres.append(None if box is None else (box.centre[1], box.centre[0]))
    return volume, estimate_levels(volume, centreline_from_centres(volume, centres))


@pytest.mark.real_data
def test_thorax_series_is_numbered_from_its_first_rib(real_data_dir: Path) -> None:
    reference = json.loads((DATA / "vertebral_levels" / "thorax_philips_j2k.json").read_text())
    volume, estimate = estimate_series(real_data_dir, reference["folder"])
    assert estimate.status is LevelStatus.PROPOSED
    assert estimate.landmarks[0].kind is LandmarkKind.FIRST_RIB
    assert estimate.landmarks[0].z_mm == pytest.approx(91.5, abs=4.0)
    read = {float(z): level for z, level in reference["levels_by_z_mm"].items()}
    positions = [round(float(z), 1) for z in volume.z_mm]
    scored = [(estimate.levels[k], read[z]) for k, z in enumerate(positions) if z in read]
    assert len(scored) == len(read)
    correct = sum(mine == theirs for mine, theirs in scored)
    assert correct / len(scored) >= 0.9


@pytest.mark.real_data
def test_eight_mm_chest_with_an_unclear_first_rib_is_refused(real_data_dir: Path) -> None:
    _volume, estimate = estimate_series(real_data_dir, "lung_pet_ct_dx/Lung_Dx-A0002", "B40f")
    assert estimate.status is LevelStatus.UNSURE
    assert "rib" in estimate.reason
