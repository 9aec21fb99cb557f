"""Picture of disease inserted into real CT: a real slice, then the same slice at 1a-3.

For each chosen real slice (hand-checked canal box): the canal region in the spine window
(W 200 / L 100) and the abdomen window (400 / 50), unchanged and with an epidural tumour of
each Bilsky grade from the same direction, inserted by :mod:`mscc_desktop.synth.real_insert`
exactly as the training data are (the grade under each tile is the one the geometry shows)::

    MSCC_REAL_DATA=../shared/data python scripts/real_insertion_figure.py \
        --out docs/images/real_insertion_grades.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.synth.canal import EpiduralState
from mscc_desktop.synth.params import severity_for
from mscc_desktop.synth.real_fit import fit_canal, structure_and_noise
from mscc_desktop.synth.real_insert import Appearance, BoneKind, BoneMet, insert_slice
from mscc_desktop.synth.real_study import boxes_by_file, real_series_in

ROOT = Path(__file__).resolve().parents[1]
GRADES = (None, BilskyGrade.G1A, BilskyGrade.G1B, BilskyGrade.G1C, BilskyGrade.G2, BilskyGrade.G3)
# (data folder, slice file name, tumour direction in degrees: 0 anterior, 90 left, 180 back)
DEFAULT_PICKS = (
    ("chest_abdomen_slices/axial", "A027284_19001231-131.dcm", 20.0),
    ("colorectal_liver_metastases/CRLM-CT-1006", "1-30.dcm", -140.0),
    ("lidc_idri/LIDC-IDRI-0314", "", 40.0),
)
TILE_MM = 46.0
ZOOM = 4


def _window(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    return np.clip((hu - (level - width / 2.0)) / width * 255.0, 0, 255).astype(np.uint8)


def _tile(hu: np.ndarray, centre: tuple[float, float], spacing: tuple[float, float]) -> np.ndarray:
    half_r, half_c = int(TILE_MM / 2 / spacing[0]), int(TILE_MM / 2 / spacing[1])
    cx, cy = int(centre[0]), int(centre[1])
    crop = hu[cy - half_r : cy + half_r, cx - half_c : cx + half_c]
    stacked = np.concatenate([_window(crop, 200, 100), _window(crop, 400, 50)], axis=0)
    image = Image.fromarray(stacked).resize(
        (stacked.shape[1] * ZOOM, stacked.shape[0] * ZOOM), Image.Resampling.BICUBIC
    )
    return np.asarray(image)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-data", type=Path, default=Path(os.environ.get("MSCC_REAL_DATA",
                        "../shared/data")))  # fmt: skip
    parser.add_argument("--boxes", type=Path, default=ROOT / "tests/data/real_canal_boxes")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/real_insertion_grades.png")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    boxes = boxes_by_file(args.boxes)
    rows: list[np.ndarray] = []
    labels: list[list[str]] = []
    for folder, name, direction in DEFAULT_PICKS:
        series = real_series_in(args.real_data / folder, args.real_data, boxes)
        choices = [
            (s, i)
            for s in series
            for i in sorted(s.boxes)
            if not name or Path(s.volume.source_files[i]).name == name
        ]
        if not choices:
            print(f"{folder}/{name}: no boxed slice, skipped")
            continue
        s, index = choices[len(choices) // 2]
        hu = s.volume.hu[index]
        spacing = s.volume.pixel_spacing_mm
        parts = structure_and_noise(hu, spacing)
        fitted = fit_canal(hu, s.boxes[index], spacing, np.random.default_rng(args.seed),
                           parts=parts)  # fmt: skip
        if fitted is None:
            print(f"{folder}: canal not fitted, skipped")
            continue
        tumour = max(
            min(max(fitted.soft_tissue_hu, 35.0), 65.0) + 25.0 + 0.8 * max(fitted.canal_hu - 8, 0),
            fitted.canal_hu + 30.0,
        )
        appearance = Appearance(tumour, 6.0, 0.6, args.seed)
        tiles, names = [], []
        for grade in GRADES:
            if grade is None:
                image, shown = hu.astype(np.float32), "real slice"
            else:
                state = EpiduralState(severity_for(grade, 0.5), direction, 0.04)
                bone = BoneMet(direction, 7.0, BoneKind.LYTIC) if grade == BilskyGrade.G3 else None
                result = insert_slice(hu, parts, fitted, [state] * 3, appearance, bone=bone)
                image = result.hu
                got = result.grade.value if result.grade else "0"
                # The label is what the geometry shows, which may differ from what was asked
                # (no epidural room for a 1a, say).
                shown = f"grade {got}" if got == grade.value else f"{grade.value} asked: {got}"
                shown += " + bone met" if bone else ""
            tiles.append(_tile(image, fitted.centre_px, spacing))
            names.append(shown)
        rows.append(np.concatenate(tiles, axis=1))
        labels.append([f"{s.patient}: {n}" if k == 0 else n for k, n in enumerate(names)])
    if not rows:
        raise SystemExit("no slice could be drawn: is --real-data the shared data folder?")
    width = max(r.shape[1] for r in rows)
    caption = 22
    canvas = Image.new("L", (width, sum(r.shape[0] + caption for r in rows)), 255)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    y = 0
    for row, names in zip(rows, labels, strict=True):
        tile_w = row.shape[1] // len(names)
        for k, text in enumerate(names):
            draw.text((k * tile_w + 6, y + 3), text, fill=0, font=font)
        canvas.paste(Image.fromarray(row), (0, y + caption))
        y += row.shape[0] + caption
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
