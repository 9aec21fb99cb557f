"""Run a model on the hand-labelled real CT slices: is the canal found, is anything called high?

    python scripts/eval_real_canal.py [--model ID_OR_DIR] [--data ../shared/data] \
        [--json out.json] [--sheet docs/images/real_canal_check.png]

Acceptance (issue 4): canal found (IoU >= 0.5) on >= 90 % of the slices, none graded high.
The contact sheet shows each slice's canal region with the drawn box (white) and the model's
box (coloured by grade) so a person can see what the numbers mean.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mscc_desktop.core.dicom import load_series, pick_series, scan_folder
from mscc_desktop.core.windows import Window, window_to_uint8
from mscc_desktop.evaluation.real_canal import (
    CanalCheck,
    LabelledSlice,
    check_canal,
    labelled_real_slices,
    summarise_checks,
)
from mscc_desktop.inference.backends import create_backend, resolve_model

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"normal": (0, 158, 115), "low": (230, 159, 0), "high": (213, 94, 0)}


def _tile(labelled: LabelledSlice, check: CanalCheck, half: int = 48, zoom: int = 3) -> Image.Image:
    scan = scan_folder(labelled.dicom_path, min_slices=1)
    chosen = pick_series(scan.series).chosen
    assert chosen is not None
    hu = load_series(chosen).hu[0]
    cx, cy = (int(v) for v in labelled.box.centre)
    x0, y0 = cx - half, cy - half
    padded = np.pad(hu, half, constant_values=-1000)
    crop = padded[y0 + half : y0 + 3 * half, x0 + half : x0 + 3 * half]
    grey = window_to_uint8(crop, Window(700, 150))
    image = Image.fromarray(grey).convert("RGB").resize((4 * half * zoom // 2,) * 2, Image.NEAREST)
    draw = ImageDraw.Draw(image)

    def rect(box: object, colour: tuple[int, int, int]) -> None:
        b = box  # type: ignore[assignment]
        draw.rectangle(
            [(b.x0 - x0) * zoom, (b.y0 - y0) * zoom, (b.x1 - x0) * zoom, (b.y1 - y0) * zoom],
            outline=colour,
            width=2,
        )

    rect(check.truth, (255, 255, 255))
    if check.predicted is not None:
        rect(check.predicted, COLOURS[check.group.value if check.group else "normal"])
    label = f"{Path(check.name).name[:20]} IoU {check.iou:.2f}"
    draw.text((4, 4), label, fill=(255, 255, 0))
    if check.group is not None:
        draw.text(
            (4, 18), f"{check.group.value} P(high) {check.probabilities[2]:.2f}", fill=(255, 255, 0)
        )  # type: ignore[index]
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model id or folder (default: the installed model)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--boxes", default=str(ROOT / "tests" / "data" / "real_canal_boxes"))
    parser.add_argument("--backend", default="onnx-cpu")
    parser.add_argument("--json", help="write the per-slice results here")
    parser.add_argument("--sheet", help="write a contact sheet PNG here")
    args = parser.parse_args()

    slices = labelled_real_slices(args.boxes, args.data)
    manifest = resolve_model(args.model)
    backend = create_backend(manifest, args.backend)
    checks = check_canal(slices, backend, manifest)
    summary = summarise_checks(checks)
    for check in checks:
        group = check.group.value if check.group else "not found"
        print(f"{check.name:50s} IoU {check.iou:4.2f}  score {check.detection_score:4.2f}  {group}")
    print(
        f"\n{manifest.model_id} {manifest.version} ({manifest.short_sha}): canal found (IoU>=0.5) "
        f"on {summary.n_found}/{summary.n_slices} = {summary.found_share:.0%}, mean IoU "
        f"{summary.mean_iou:.2f}; graded high {summary.n_high}, low {summary.n_low}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "model": manifest.model_id,
                    "model_sha256": manifest.model_sha256,
                    "summary": summary.to_dict(),
                    "slices": [
                        {
                            "name": c.name,
                            "iou": c.iou,
                            "score": c.detection_score,
                            "group": c.group.value if c.group else None,
                            "probabilities": c.probabilities,
                        }
                        for c in checks
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    if args.sheet:
        tiles = [_tile(s, c) for s, c in zip(slices, checks, strict=True)]
        columns = 7
        width, height = tiles[0].size
        rows = (len(tiles) + columns - 1) // columns
        sheet = Image.new("RGB", (columns * width, rows * height))
        for i, tile in enumerate(tiles):
            sheet.paste(tile, ((i % columns) * width, (i // columns) * height))
        sheet.save(args.sheet)
    ok = summary.found_share >= 0.9 and summary.n_high == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
