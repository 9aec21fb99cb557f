"""Side-by-side PNGs of synthetic and real CT slices, and a panel of every Bilsky grade.

    python scripts/synth_vs_real.py [--real-data ../shared/data] [--out docs/images]

Writes ``synth_vs_real_T6.png``, ``synth_vs_real_T12.png``, ``synth_vs_real_L2.png`` and
``synth_vs_real_T8_contrast.png`` (real slice above, synthetic below; bone, abdomen and
spine windows; whole slice, then the canal region at the same millimetre scale) and
``synth_grades.png`` (the demo study at each grade: whole slice with the ground-truth canal
box, and the canal zoomed in the three windows) and ``synth_crops_vs_real.png`` (72 mm
canal regions of the real slices beside synthetic ones at T4, T9, T12 and L2). The real
slices are the shared test data (see ../shared/data/README.md); their canal positions were
read off by eye.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw

from mscc_desktop.core.grades import BilskyGrade
from mscc_desktop.core.windows import window_stack
from mscc_desktop.synth import GeneratorConfig, demo_study, generate_study, sample_study
from mscc_desktop.synth.params import StudyParams
from mscc_desktop.synth.vertebrae import level_index

TILE = 300  # pixels per whole-slice tile
ZOOM_MM = 70.0  # side of the canal-region crop
WINDOW_NAMES = ("bone 1500/300", "abdomen 400/50", "spine 200/100")


@dataclass(frozen=True)
class RealSlice:
    path: str  # relative to the real-data folder
    canal_row: int
    canal_col: int
    note: str


REAL = {
    "T6": RealSlice("thorax_philips_j2k/00-slice070.dcm", 317, 243, "Philips, non-contrast, ~T6"),
    "T12": RealSlice(
        "thorax_philips_j2k/00-slice132.dcm", 309, 241, "Philips, non-contrast, ~T11-T12"
    ),
    "L2": RealSlice(
        "chest_abdomen_slices/axial/A027284_19000925-116.dcm", 328, 220, "GE, non-contrast, ~L1-L2"
    ),
    "T8_contrast": RealSlice(
        "chest_abdomen_slices/axial/A002304_19001231-076.dcm", 356, 237, "GE, IV contrast, ~T8"
    ),
}


def read_real(folder: Path, item: RealSlice) -> tuple[np.ndarray, float]:
    pydicom.config.convert_wrong_length_to_UN = True  # a Philips private tag is mis-typed
    ds = pydicom.dcmread(folder / item.path)
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return hu, float(ds.PixelSpacing[0])


def windows_row(hu: np.ndarray, size: int) -> list[Image.Image]:
    return [Image.fromarray(w).resize((size, size), Image.BICUBIC) for w in window_stack(hu)]


def crop(hu: np.ndarray, row: float, col: float, pixel_mm: float) -> np.ndarray:
    half = round(ZOOM_MM / 2.0 / pixel_mm)
    r, c = round(row), round(col)
    padded = np.pad(hu, half, mode="constant", constant_values=-1000)
    return padded[r : r + 2 * half, c : c + 2 * half]


def label(image: Image.Image, text: str) -> Image.Image:
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 8 + 6 * len(text), 14), fill=(0, 0, 0))
    draw.text((4, 2), text, fill=(255, 255, 0))
    return image


def grid(rows: list[list[Image.Image]]) -> Image.Image:
    width = sum(im.width for im in rows[0])
    height = sum(r[0].height for r in rows)
    sheet = Image.new("RGB", (width, height))
    y = 0
    for r in rows:
        x = 0
        for im in r:
            sheet.paste(im.convert("RGB"), (x, y))
            x += im.width
        y += r[0].height
    return sheet


def synthetic_slice(params: StudyParams, level: str) -> tuple[np.ndarray, float, float, float]:
    """(HU, pixel mm, canal row, canal col) of the slice nearest ``level``'s mid-body."""
    from mscc_desktop.synth.anatomy import Anatomy

    anatomy = Anatomy(params.patient, params.scan)
    z = np.array(params.scan.z_positions())
    index = int(np.argmin(np.abs(z - anatomy.layout.centre(level_index(level)))))
    study = generate_study(params, slices=[index])
    box = study.truths[0].canal_box
    row, col = (box.y0 + box.y1) / 2.0 - 0.5, (box.x0 + box.x1) / 2.0 - 0.5
    return study.hu[0].astype(np.float32), params.scan.pixel_spacing_mm, row, col


def comparison(real_folder: Path, key: str, params: StudyParams, level: str, out: Path) -> Path:
    item = REAL[key]
    real_hu, real_px = read_real(real_folder, item)
    syn_hu, syn_px, row, col = synthetic_slice(params, level)
    size = TILE
    rows = [
        [
            label(im, f"REAL {item.note} - {name}")
            for im, name in zip(windows_row(real_hu, size), WINDOW_NAMES, strict=True)
        ],
        [
            label(im, f"SYNTHETIC {level} {params.phase.value} - {name}")
            for im, name in zip(windows_row(syn_hu, size), WINDOW_NAMES, strict=True)
        ],
        [
            label(im, "REAL canal region 70 mm")
            for im in windows_row(crop(real_hu, item.canal_row, item.canal_col, real_px), size)
        ],
        [
            label(im, "SYNTHETIC canal region 70 mm")
            for im in windows_row(crop(syn_hu, row, col, syn_px), size)
        ],
    ]
    path = out / f"synth_vs_real_{key}.png"
    grid(rows).save(path)
    return path


def grades_panel(out: Path) -> Path:
    params = demo_study()
    z = np.array(params.scan.z_positions())
    picks: list[tuple[str, int]] = []
    for lesion in params.epidural:
        picks.append(("epidural", int(np.argmin(np.abs(z - lesion.z_centre_mm)))))
    bone = params.bone[0]
    picks.insert(0, ("bone only", int(np.argmin(np.abs(z - bone.z_centre_mm)))))
    degen = params.degenerative[1]
    picks.append(("degenerative mimic", int(np.argmin(np.abs(z - degen.z_centre_mm)))))
    study = generate_study(params, slices=[index for _, index in picks])
    rows = []
    small = 200
    for k, (kind, _) in enumerate(picks):
        truth = study.truths[k]
        hu = study.hu[k].astype(np.float32)
        whole = Image.fromarray(window_stack(hu)[1]).convert("RGB")
        box = truth.canal_box
        ImageDraw.Draw(whole).rectangle(
            (box.x0, box.y0, box.x1, box.y1), outline=(255, 0, 0), width=2
        )
        whole = whole.resize((small, small), Image.BICUBIC)
        grade = "normal (degenerative)" if truth.degenerative else f"Bilsky {truth.grade.value}"
        if truth.grade == BilskyGrade.G0 and kind == "bone only":
            grade = "Bilsky 0 (bone only)"
        row, col = (box.y0 + box.y1) / 2.0 - 0.5, (box.x0 + box.x1) / 2.0 - 0.5
        zoom_mm = 2.0 * max(box.width, box.height) * params.scan.pixel_spacing_mm
        half = round(zoom_mm / params.scan.pixel_spacing_mm)
        padded = np.pad(hu, half, constant_values=-1000)
        region = padded[int(row) : int(row) + 2 * half, int(col) : int(col) + 2 * half]
        zooms = [
            Image.fromarray(w).resize((small, small), Image.BICUBIC) for w in window_stack(region)
        ]
        rows.append(
            [label(whole, f"{truth.level} {grade}")]
            + [label(im, f"{name}") for im, name in zip(zooms, WINDOW_NAMES, strict=True)]
        )
    path = out / "synth_grades.png"
    grid(rows).save(path)
    return path


def crops_sheet(real_folder: Path, out: Path, seed: int) -> Path:
    """Canal regions (72 mm) of every real slice beside synthetic ones at four levels."""
    size = 160
    left = []
    for item in REAL.values():
        hu, px = read_real(real_folder, item)
        region = crop(hu, item.canal_row, item.canal_col, px * ZOOM_MM / 72.0)
        left.append([label(im, "REAL") for im in windows_row(region, size)])
    right = []
    config = GeneratorConfig(slice_spacing_mm=3.0)
    for k, level in enumerate(("T4", "T9", "T12", "L2")):
        params = sample_study(seed + 100 + k, config)
        hu, px, row, col = synthetic_slice(params, level)
        region = crop(hu, row, col, px * ZOOM_MM / 72.0)
        right.append([label(im, f"SYNTH {level}") for im in windows_row(region, size)])
    rows = [a + b for a, b in zip(left, right, strict=True)]
    path = out / "synth_crops_vs_real.png"
    grid(rows).save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_real = os.environ.get(
        "MSCC_REAL_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    parser.add_argument("--real-data", default=default_real)
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images")
    )
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic patient")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real = Path(args.real_data)
    non_contrast = GeneratorConfig(slice_spacing_mm=4.0, phase_weights=(0.0, 0.0, 1.0))
    contrast = GeneratorConfig(slice_spacing_mm=2.5, phase_weights=(1.0, 0.0, 0.0))
    plain = sample_study(args.seed, non_contrast)
    enhanced = sample_study(args.seed + 1, contrast)
    for key, params, level in (
        ("T6", plain, "T6"),
        ("T12", plain, "T12"),
        ("L2", plain, "L2"),
        ("T8_contrast", enhanced, "T8"),
    ):
        print(comparison(real, key, params, level, out))
    print(crops_sheet(real, out, args.seed))
    print(grades_panel(out))


if __name__ == "__main__":
    main()
