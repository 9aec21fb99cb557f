"""Key-image PNGs: one strip and one full-resolution window per key image, annotated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.reporting import ReportInputs, export_key_images
from mscc_desktop.reporting.palette import GROUP_COLOURS, rgb
from mscc_desktop.reporting.raster import MIN_PANEL_PX


def _colour_pixels(image: Image.Image, hex_colour: str) -> int:
    pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
    return int((np.abs(pixels - np.array(rgb(hex_colour))).sum(axis=2) < 30).sum())


def test_strip_and_single_window_per_key_image(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    result = export_key_images(reviewed_inputs, tmp_path)
    names = [p.name for p in result.files]
    assert result.path.is_dir() and result.path.parent == tmp_path.resolve()
    assert names[:2] == ["01_slice0012_high_strip.png", "01_slice0012_high_spine.png"]
    assert len(names) == 2 * result.n_key_images == 8
    rows, cols = reviewed_inputs.volume.hu.shape[1:]
    scale = -(-MIN_PANEL_PX // min(rows, cols))
    with Image.open(result.files[0]) as strip, Image.open(result.files[1]) as single:
        # three windows side by side at (at least) full resolution, plus the header band
        assert strip.width >= 3 * cols * scale and strip.height > rows * scale
        assert single.width == cols * scale
        # the high-grade canal box is vermillion, in every window of the strip
        band = strip.height - rows * scale
        thirds = [
            strip.crop((i * strip.width // 3, band, (i + 1) * strip.width // 3, strip.height))
            for i in range(3)
        ]
        assert all(_colour_pixels(t, GROUP_COLOURS[GradeGroup.HIGH]) > 50 for t in thirds)
        assert _colour_pixels(single, GROUP_COLOURS[GradeGroup.LOW]) == 0
        text = single.text
        assert "Zielinska" in text["Title"] and "High grade" in text["Description"]
        assert "not for clinical use" in text["Disclaimer"].lower()


def test_window_choice_and_strips_only(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    bone = export_key_images(reviewed_inputs, tmp_path / "a", single_window=WindowPreset.BONE)
    assert bone.files[1].name.endswith("_bone.png")
    strips = export_key_images(reviewed_inputs, tmp_path / "b", single_window=None)
    assert all(p.name.endswith("_strip.png") for p in strips.files)
    with Image.open(bone.files[1]) as b, Image.open(strips.files[0]) as s:
        assert b.width < s.width


def test_images_differ_by_window(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    spine = export_key_images(reviewed_inputs, tmp_path / "s").files[1]
    bone = export_key_images(
        reviewed_inputs, tmp_path / "b", single_window=WindowPreset.BONE
    ).files[1]
    with Image.open(spine) as a, Image.open(bone) as b:
        assert a.size == b.size
        difference = np.abs(np.asarray(a, dtype=np.int32) - np.asarray(b, dtype=np.int32))
        assert difference.mean() > 5
