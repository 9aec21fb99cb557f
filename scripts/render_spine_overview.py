"""Render a series' curved sagittal and coronal reformats with the proposed vertebral levels.

    python scripts/render_spine_overview.py FOLDER --out spine.png [--boxes DIR] [--detector]

A picture to check the level estimate by eye (and a sketch of the PDF's spine overview): the
curved sagittal (left) and coronal (right) reformats along the canal in the bone window, the
estimate's level names beside their spans, the rib pairs it counted as ticks, and its reason
underneath. The centreline comes from hand-checked canal boxes (``--boxes``, default
``tests/data/real_canal_boxes`` with ``--data`` as their data root) or from the default
model's boxes (``--detector``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image, ImageDraw

from mscc_desktop.core.dicom import load_series, pick_series, scan_folder
from mscc_desktop.core.spine.centreline import (
    Centreline,
    centreline_from_centres,
    centreline_from_results,
)
from mscc_desktop.core.spine.level_estimate import estimate_levels
from mscc_desktop.core.spine.reformat import Plane, curved_reformat
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import PAPER_WINDOWS, WindowPreset

ROOT = Path(__file__).resolve().parent.parent
SCALE = 2  # output pixels per reformat pixel
MARGIN = 70


def centreline(volume: Volume, args: argparse.Namespace) -> Centreline:
    if args.detector:
        from mscc_desktop.inference.backends import create_backend, load_model_settings
        from mscc_desktop.inference.pipeline import analyse_volume

        settings = load_model_settings()
        findings = analyse_volume(volume, create_backend(settings), settings).findings
        return centreline_from_results(volume, findings.slices if findings else ())
    from mscc_desktop.evaluation.real_canal import labelled_real_slices

    boxes = {s.dicom_path.resolve(): s.box for s in labelled_real_slices(args.boxes, args.data)}
    centres: list[tuple[float, float] | None] = []
    for path in volume.source_files:
        box = boxes.get(Path(path).resolve())
        centres.append(None if box is None else (box.centre[1], box.centre[0]))
    return centreline_from_centres(volume, centres)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--boxes", type=Path, default=ROOT / "tests" / "data" / "real_canal_boxes")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--detector", action="store_true")
    args = parser.parse_args(argv)
    pick = pick_series(scan_folder(args.folder).series)
    if pick.chosen is None:
        print(f"no series to open: {pick.reason}", file=sys.stderr)
        return 1
    volume = load_series(pick.chosen)
    line = centreline(volume, args)
    estimate = estimate_levels(volume, line)
    window = PAPER_WINDOWS[WindowPreset.BONE]
    views = [curved_reformat(volume, line, plane) for plane in (Plane.SAGITTAL, Plane.CORONAL)]
    height = views[0].image_hu.shape[0] * SCALE
    widths = [v.image_hu.shape[1] * SCALE for v in views]
    text = textwrap.wrap(f"{estimate.status}: {estimate.reason}", 110)
    canvas = Image.new("RGB", (MARGIN + sum(widths) + 10, height + 16 * len(text) + 10))
    draw = ImageDraw.Draw(canvas)
    x = MARGIN
    for view, width in zip(views, widths, strict=True):
        grey = view.to_uint8(window)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
        rgb[view.no_data] = (60, 0, 60)  # no data: never drawn as tissue
        canvas.paste(Image.fromarray(rgb).resize((width, height), Image.BILINEAR), (x, 0))
        x += width + 10
    grid = views[0].grid
    for span in estimate.spans():
        top = grid.row_of_z(span.z_top_mm) * SCALE
        bottom = grid.row_of_z(span.z_bottom_mm) * SCALE
        draw.line([(MARGIN - 8, top), (MARGIN - 2, top)], fill=(255, 255, 0))
        draw.text((6, (top + bottom) / 2 - 6), span.name, fill=(255, 255, 0))
    for z in estimate.rib_pairs_z_mm:
        y = grid.row_of_z(z) * SCALE
        draw.line([(MARGIN - 30, y), (MARGIN - 20, y)], fill=(0, 200, 255))
    for k, row in enumerate(text):
        draw.text((6, height + 5 + 16 * k), row, fill=(255, 255, 255))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(f"{args.out}: {estimate.status}; {estimate.reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
