#!/usr/bin/env python
"""Semi-automatic spinal-canal boxes on the shared real CT (``tests/data/real_canal_boxes``).

    python scripts/label_real_canals.py [--data ../shared/data] [--sheets /tmp/canal_sheets]
        [--tile-mm 80] [--only thorax_philips_j2k] [--dry-run] [--table /tmp/canal.csv]

One command regenerates every VOC file and ``excluded.csv`` from the CT files and the hand
corrections in ``tests/data/real_canal_boxes/hand_corrections.csv``:

1. every series of :data:`SERIES` is loaded in HU, in display orientation, head first;
2. pass 1, slice by slice: the region of soft tissue and fluid (HU < 110 after a 0.8-pixel
   Gaussian) that bone (> 200 HU, closed by a 1 mm, then a 2 mm disk) encloses around a seed
   point, with appendages behind necks under 6 mm cut off (a foramen, the lateral recess, a gap
   between the laminae); failing that, the same below 70 HU (it keeps the disc and the ligamenta
   flava out). The box of that region is kept unless it is larger than a canal (34 x 26 mm),
   grows more than 45 % (+4 mm) from the slice above, or later proves 20 % (+2 mm) larger than
   its neighbours' median: a leak;
3. the seed is tracked (the centre of the box above); where tracking misses two slices in a row
   a new seed is searched for (a canal-sized hole in the bone near the midline), and a hand seed
   restarts it anywhere;
4. pass 2, the slices left (the ring is open: disc and foramen levels): the box interpolated
   from the nearest boxed slices above and below (within 3 slices), grown to bone where bone
   lies within 2 mm of it; a side that finds no bone keeps the interpolated edge;
5. hand corrections (``seed``, ``clip``, ``box``, ``exclude``; see :func:`read_corrections`)
   win over all of this; a slice left with neither a box nor an exclusion is listed and the
   command fails, so every slice of every series is decided;
6. a scan reconstructed twice (two kernels, same slice positions and geometry, checked) is
   labelled on the softer kernel and the same box or exclusion is written for the twin's file.

With ``--sheets`` it also writes contact sheets (6 x 6 tiles of the canal region, 80 mm wide
unless ``--tile-mm`` says otherwise, window 700/150, the box coloured by how it came about, tile
titled by slice index and file) and, per series, curved mid-sagittal and mid-coronal reformats
through the box centres with the boxes' extent marked, for checking every box by eye; with
``--table`` a CSV of every slice's outcome.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from scipy import ndimage

from mscc_desktop.core.dicom import load_series, scan_folder
from mscc_desktop.core.findings import Box
from mscc_desktop.core.labels import CANAL_LABEL, VocAnnotation, VocObject, write_voc
from mscc_desktop.core.volume import Volume
from mscc_desktop.core.windows import Window, window_to_uint8

ROOT = Path(__file__).resolve().parents[1]
BOXES = ROOT / "tests" / "data" / "real_canal_boxes"
CORRECTIONS = BOXES / "hand_corrections.csv"
EXCLUDED = BOXES / "excluded.csv"

Rect = tuple[int, int, int, int]  # VOC-style: 1-based inclusive (xmin, ymin, xmax, ymax)
FloatImage = npt.NDArray[np.float32]
BoolImage = npt.NDArray[np.bool_]

BONE_HU = 200.0
SOFT_MAX_HU = (110.0, 70.0)
CLOSING_MM = (1.0, 2.0)
MAX_WIDTH_MM = 34.0
MAX_HEIGHT_MM = 26.0
MIN_SIDE_MM = 6.0
ROI_HALF_MM = 45.0
NECK_MM = 6.0
BETWEEN_MARGIN_MM = 2.0
GROWTH = 1.45  # largest accepted growth of a side from one slice to the next (plus 4 mm)


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One series to label: ``folder`` relative to the data root, boxes in ``BOXES/out``.

    ``twin`` is a second reconstruction of the same slices (another kernel) that gets the same
    boxes, written to ``BOXES/twin_out``.
    """

    folder: str
    out: str
    twin: str | None = None
    twin_out: str | None = None


_A0001 = "lung_pet_ct_dx/Lung_Dx-A0001/04-04-2007-NA-Chest-07990"
_A0002 = "lung_pet_ct_dx/Lung_Dx-A0002/04-25-2007-NA-ThoraxAThoraxRoutine Adult-34834"
SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("thorax_philips_j2k", "thorax_philips_j2k"),
    SeriesSpec("chest_abdomen_slices/axial", "chest_abdomen_slices_axial"),
    SeriesSpec(
        f"{_A0001}/3.000000-5mm-41315",
        "lung_pet_ct_dx/A0001_kernel_B",
        f"{_A0001}/2.000000-5mm-40805",
        "lung_pet_ct_dx/A0001_kernel_L",
    ),
    SeriesSpec(
        f"{_A0002}/3.000000-ThoraxRoutine  8.0.0  B40f-10983",
        "lung_pet_ct_dx/A0002_kernel_B40f",
        f"{_A0002}/2.000000-ThoraxRoutine  8.0.0  B70f-62919",
        "lung_pet_ct_dx/A0002_kernel_B70f",
    ),
    SeriesSpec(
        "colorectal_liver_metastases/CRLM-CT-1004", "colorectal_liver_metastases/CRLM-CT-1004"
    ),
    SeriesSpec(
        "colorectal_liver_metastases/CRLM-CT-1006", "colorectal_liver_metastases/CRLM-CT-1006"
    ),
    SeriesSpec("lidc_idri/LIDC-IDRI-0314", "lidc_idri/LIDC-IDRI-0314"),
    SeriesSpec("cc_tumor_heterogeneity/CCTH-A01", "cc_tumor_heterogeneity/CCTH-A01"),
)


# --------------------------------------------------------------------------- hand corrections
@dataclass(slots=True)
class Correction:
    """What a person decided for one slice (all pixel values 1-based, display pixels).

    * ``seed``: start (or restart) tracking at ``(x, y)`` = (column, row);
    * ``clip``: the region may not leave the rectangle ``(xmin, ymin, xmax, ymax)``;
    * ``box``: the box itself, drawn by hand (no region is grown);
    * ``exclude``: no visible canal; ``reason`` says why.
    """

    seed: tuple[int, int] | None = None
    clip: Rect | None = None
    box: Rect | None = None
    exclude: str | None = None
    notes: list[str] = field(default_factory=list)


def _ints(row: dict[str, str], names: Sequence[str], where: str) -> tuple[int, ...]:
    try:
        return tuple(int(row[name]) for name in names)
    except (KeyError, TypeError, ValueError) as error:
        raise SystemExit(f"{where}: need integer {', '.join(names)} ({error})") from error


def read_corrections(path: Path) -> dict[str, Correction]:
    """Hand corrections keyed by the file's path relative to the data root.

    Columns: ``path, action, x, y, xmin, ymin, xmax, ymax, note``; ``action`` is ``seed``
    (x, y), ``clip`` or ``box`` (xmin..ymax) or ``exclude`` (the note is the reason).
    """
    corrections: dict[str, Correction] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name}, line {line}"
            entry = corrections.setdefault(row["path"].strip(), Correction())
            action = row["action"].strip()
            note = (row.get("note") or "").strip()
            if action == "seed":
                x, y = _ints(row, ("x", "y"), where)
                entry.seed = (x, y)
            elif action in ("clip", "box"):
                values = _ints(row, ("xmin", "ymin", "xmax", "ymax"), where)
                rect = (values[0], values[1], values[2], values[3])
                if action == "clip":
                    entry.clip = rect
                else:
                    entry.box = rect
            elif action == "exclude":
                if not note:
                    raise SystemExit(f"{where}: an exclusion needs a reason in 'note'")
                entry.exclude = note
            else:
                raise SystemExit(f"{where}: unknown action {action!r}")
            if note:
                entry.notes.append(note)
    return corrections


# --------------------------------------------------------------------------- proposals
@dataclass(frozen=True, slots=True)
class Proposal:
    """A region-grown box: VOC-style 1-based inclusive ``(xmin, ymin, xmax, ymax)``."""

    rect: Rect
    closing_mm: float
    soft_max_hu: float


def _disk(radius: int) -> BoolImage:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.asarray(xx * xx + yy * yy <= radius * radius + radius, dtype=bool)


def _free_seed(
    free: BoolImage, smooth: FloatImage, seed: tuple[int, int], reach: int
) -> tuple[int, int] | None:
    """The free pixel nearest ``seed`` (preferring fluid, < 60 HU) within ``reach`` pixels."""
    r, c = seed
    if free[r, c] and smooth[r, c] < 60.0:
        return seed
    r0, c0 = max(r - reach, 0), max(c - reach, 0)
    window = free[r0 : r + reach + 1, c0 : c + reach + 1] & (
        smooth[r0 : r + reach + 1, c0 : c + reach + 1] < 60.0
    )
    if not window.any():
        window = free[r0 : r + reach + 1, c0 : c + reach + 1]
        if not window.any():
            return None
    rows, cols = np.nonzero(window)
    d2 = (rows + r0 - r) ** 2 + (cols + c0 - c) ** 2
    best = int(np.argmin(d2))
    if d2[best] > reach * reach:
        return None
    return int(rows[best] + r0), int(cols[best] + c0)


def propose_box(
    hu: npt.NDArray[np.integer] | npt.NDArray[np.floating],
    seed: tuple[int, int],
    spacing_mm: float,
    *,
    clip: Rect | None = None,
    previous: Rect | None = None,
    soft_limits: Sequence[float] = SOFT_MAX_HU,
) -> Proposal | None:
    """The box of the bone-enclosed soft-tissue region around ``seed`` (row, col; 0-based).

    Parameters
    ----------
    hu
        One slice ``(row, col)`` in HU.
    seed
        A point in the canal.
    spacing_mm
        Pixel spacing (square pixels).
    clip
        Optional 1-based inclusive rectangle the region may not leave.
    previous
        The box on the neighbouring slice: a region that outgrows it by more than
        :data:`GROWTH` (plus 4 mm) is refused as a leak.

    Returns
    -------
    Proposal or None
        None when no setting encloses a canal-sized region.
    """
    half = round(ROI_HALF_MM / spacing_mm)
    rows, cols = hu.shape
    r0, c0 = max(seed[0] - half, 0), max(seed[1] - half, 0)
    r1, c1 = min(seed[0] + half + 1, rows), min(seed[1] + half + 1, cols)
    roi = np.asarray(hu[r0:r1, c0:c1], dtype=np.float32)
    smooth = ndimage.gaussian_filter(roi, sigma=0.8)
    bone = smooth > BONE_HU
    outside = np.zeros_like(bone)
    if clip is not None:
        outside[:] = True
        outside[
            max(clip[1] - 1 - r0, 0) : max(clip[3] - r0, 0),
            max(clip[0] - 1 - c0, 0) : max(clip[2] - c0, 0),
        ] = False
    local = (seed[0] - r0, seed[1] - c0)
    max_w, max_h = MAX_WIDTH_MM / spacing_mm, MAX_HEIGHT_MM / spacing_mm
    if previous is not None:
        pw = previous[2] - previous[0] + 1
        ph = previous[3] - previous[1] + 1
        max_w = min(max_w, pw * GROWTH + 4.0 / spacing_mm)
        max_h = min(max_h, ph * GROWTH + 4.0 / spacing_mm)
    min_side = MIN_SIDE_MM / spacing_mm
    for soft_max in soft_limits:
        for closing_mm in CLOSING_MM:
            radius = max(1, round(closing_mm / spacing_mm))
            padded = np.pad(bone, radius + 1)
            closed = ndimage.binary_closing(padded, structure=_disk(radius))
            closed = closed[radius + 1 : -radius - 1, radius + 1 : -radius - 1]
            free = ~(closed | bone | outside | (smooth >= soft_max))
            start = _free_seed(free, smooth, local, reach=max(2, round(4.0 / spacing_mm)))
            if start is None:
                continue
            labels, _ = ndimage.label(free)
            region = labels == labels[start]
            rr, cc = np.nonzero(region)
            at_edge = rr.min() == 0 or cc.min() == 0 or rr.max() == roi.shape[0] - 1
            if at_edge or cc.max() == roi.shape[1] - 1:
                continue
            region = _without_necks(region, spacing_mm)
            rr, cc = np.nonzero(region)
            width, height = cc.max() - cc.min() + 1, rr.max() - rr.min() + 1
            if width > max_w or height > max_h or min(width, height) < min_side:
                continue
            rect = (
                int(cc.min() + c0 + 1),
                int(rr.min() + r0 + 1),
                int(cc.max() + c0 + 1),
                int(rr.max() + r0 + 1),
            )
            return Proposal(rect, closing_mm, soft_max)
    return None


def _without_necks(region: BoolImage, spacing_mm: float) -> BoolImage:
    """``region`` less the appendages joined to it by necks narrower than
    :data:`NECK_MM` (a lateral recess or foramen, a gap between the laminae): an opening,
    keeping the largest part, then grown back inside ``region`` by the opening's radius."""
    radius = round(NECK_MM / 2 / spacing_mm)
    if radius < 1:
        return region
    opened = ndimage.binary_opening(np.pad(region, radius + 1), structure=_disk(radius))
    opened = opened[radius + 1 : -radius - 1, radius + 1 : -radius - 1]
    labels, n = ndimage.label(opened)
    if n == 0:
        return region
    sizes = ndimage.sum(opened, labels, index=range(1, n + 1))
    core = labels == int(np.argmax(sizes)) + 1
    grown = ndimage.binary_dilation(core, structure=_disk(radius)) & region
    return grown if grown.any() else region


def find_canal_seed(
    hu: npt.NDArray[np.integer] | npt.NDArray[np.floating], spacing_mm: float
) -> tuple[int, int] | None:
    """A seed (row, col) in the canal found without help: the bone-enclosed soft-tissue hole
    of canal size nearest the body's midline, behind the body's centre."""
    smooth = ndimage.gaussian_filter(np.asarray(hu, dtype=np.float32), sigma=0.8)
    body = smooth > -300
    if not body.any():
        return None
    body_rows, body_cols = np.nonzero(body)
    mid_col = float(np.median(body_cols))
    mid_row = float(np.median(body_rows))
    bone = ndimage.binary_closing(smooth > BONE_HU, structure=_disk(2))
    holes = ndimage.binary_fill_holes(bone) & ~bone & (smooth < 110)
    labels, _n = ndimage.label(holes)
    best: tuple[float, tuple[int, int]] | None = None
    px_area = spacing_mm * spacing_mm
    for index, slices in enumerate(ndimage.find_objects(labels), start=1):
        if slices is None:
            continue
        part = labels[slices] == index
        area = part.sum() * px_area
        height = (slices[0].stop - slices[0].start) * spacing_mm
        width = (slices[1].stop - slices[1].start) * spacing_mm
        if not (60 <= area <= 600 and 6 <= height <= 26 and 8 <= width <= 34):
            continue
        rr, cc = np.nonzero(part)
        row = float(rr.mean() + slices[0].start)
        col = float(cc.mean() + slices[1].start)
        cost = abs(col - mid_col)
        if row < mid_row - 20 / spacing_mm or cost > 30 / spacing_mm:
            continue
        if best is None or cost < best[0]:
            best = (cost, (round(row), round(col)))
    return None if best is None else best[1]


# --------------------------------------------------------------------------- series
@dataclass(slots=True)
class SliceResult:
    """The outcome on one slice."""

    relative: str  # file path relative to the data root
    index: int
    rect: Rect | None = None
    # How the box came about: tracked, auto-seed, seed (hand seed), clip, hand (drawn by hand),
    # between (open ring: grown inside the neighbours' box), exclude, unresolved.
    source: str = ""
    reason: str = ""
    detail: str = ""


def load_volumes(folder: Path) -> list[Volume]:
    """Every series in ``folder`` as a HU volume (one-slice series included), by first file."""
    volumes = [load_series(entry, workers=1) for entry in scan_folder(folder, min_slices=1).series]
    return sorted(volumes, key=lambda v: str(v.source_files[0]))


def _relative(path: Path, data: Path) -> str:
    return path.resolve().relative_to(data.resolve()).as_posix()


def interpolate_box(rects: Sequence[Rect | None], index: int, reach: int = 3) -> Rect | None:
    """The box at ``index`` interpolated linearly between the nearest boxes above and below
    (within ``reach`` slices), or the nearest one's where only one side has a box."""
    above = _nearest(rects, index, -1, reach)
    below = _nearest(rects, index, 1, reach)
    if above is None or below is None:
        found = above or below
        return None if found is None else found[1]
    (da, ra), (db, rb) = above, below
    t = da / (da + db)
    xmin, ymin, xmax, ymax = (round((1 - t) * a + t * b) for a, b in zip(ra, rb, strict=True))
    return xmin, ymin, xmax, ymax


def _nearest(
    rects: Sequence[Rect | None], index: int, step: int, reach: int
) -> tuple[int, Rect] | None:
    """(distance, box) of the nearest boxed slice from ``index`` in direction ``step``."""
    for distance in range(1, reach + 1):
        k = index + step * distance
        if not 0 <= k < len(rects):
            return None
        rect = rects[k]
        if rect is not None:
            return distance, rect
    return None


def _outliers(rects: Sequence[Rect | None], spacing: float) -> set[int]:
    """Slices whose box is much larger than the median of its neighbours' (a leak)."""
    slack = 2.0 / spacing
    flagged: set[int] = set()
    for i, rect in enumerate(rects):
        if rect is None:
            continue
        near = [r for k, r in enumerate(rects) if r is not None and k != i and abs(k - i) <= 3]
        if len(near) < 2:
            continue
        width = float(np.median([r[2] - r[0] + 1 for r in near]))
        height = float(np.median([r[3] - r[1] + 1 for r in near]))
        if rect[2] - rect[0] + 1 > 1.2 * width + slack or rect[3] - rect[1] + 1 > (
            1.2 * height + slack
        ):
            flagged.add(i)
    return flagged


def label_volume(
    volume: Volume, data: Path, corrections: dict[str, Correction]
) -> list[SliceResult]:
    """Boxes (or exclusions) for every slice of ``volume``, head to feet.

    Pass 1 tracks the seed and keeps the regions the bony ring encloses; a box much larger than
    its neighbours' (1.2 x their median side + 2 mm) is dropped as a leak. Pass 2 takes the
    slices left over (the ring is open there): the box interpolated from the nearest boxed
    slices, grown to bone where bone lies within 2 mm of it.
    """
    spacing = float(volume.pixel_spacing_mm[1])
    if abs(volume.pixel_spacing_mm[0] - spacing) > 1e-3:
        raise SystemExit(f"{volume.source_files[0]}: non-square pixels are not handled")
    n = volume.hu.shape[0]
    results = [SliceResult(_relative(volume.source_files[i], data), i) for i in range(n)]
    fixes = [corrections.get(r.relative, Correction()) for r in results]
    seed: tuple[int, int] | None = None
    previous: Rect | None = None
    misses = 0
    for index, (result, fix) in enumerate(zip(results, fixes, strict=True)):
        hu = volume.hu[index]
        if fix.exclude is not None:
            result.source, result.reason = "exclude", fix.exclude
            previous = None
            continue
        if fix.box is not None:
            result.rect, result.source = fix.box, "hand"
        else:
            # A hand seed wins; otherwise the tracked seed and, once tracking has missed two
            # slices in a row (or never started), a fresh automatic one as well.
            starts: list[tuple[str, tuple[int, int] | None]] = []
            if fix.seed is not None:
                starts.append(("seed", (fix.seed[1] - 1, fix.seed[0] - 1)))
                previous = None
            else:
                if seed is not None:
                    starts.append(("tracked", seed))
                if seed is None or misses >= 2:
                    starts.append(("auto-seed", find_canal_seed(hu, spacing)))
            result.source = starts[0][0] if starts else "auto-seed"
            for source, start in starts:
                if start is None:
                    continue
                proposal = propose_box(hu, start, spacing, clip=fix.clip, previous=previous)
                if proposal is not None:
                    result.rect, result.source = proposal.rect, source
                    result.detail = (
                        f"close {proposal.closing_mm:g} mm, < {proposal.soft_max_hu:g} HU"
                    )
                    if fix.clip is not None:
                        result.source = "clip"
                    break
        if result.rect is not None:
            xmin, ymin, xmax, ymax = result.rect
            seed = ((ymin + ymax) // 2 - 1, (xmin + xmax) // 2 - 1)
            misses = 0
        else:
            misses += 1
        previous = result.rect
    rects = [r.rect for r in results]
    for index in _outliers(rects, spacing):
        if results[index].source not in ("hand", "clip"):
            rects[index] = None
            results[index].rect = None
    for index, result in enumerate(results):
        if result.rect is not None or result.source == "exclude":
            continue
        guess = interpolate_box(rects, index)
        if guess is None:
            result.source = "unresolved"
            result.detail = "no enclosed region and no boxed neighbour within 3 slices"
            continue
        margin = round(BETWEEN_MARGIN_MM / spacing)
        clip = (guess[0] - margin, guess[1] - margin, guess[2] + margin, guess[3] + margin)
        centre = ((guess[1] + guess[3]) // 2 - 1, (guess[0] + guess[2]) // 2 - 1)
        proposal = propose_box(
            volume.hu[index], centre, spacing, clip=clip, soft_limits=SOFT_MAX_HU[:1]
        )
        result.source = "between"
        if proposal is None:
            result.rect = guess
            result.detail = "interpolated from the neighbours"
        else:
            # A side that reaches the margin's edge found no bone there (a foramen, a gap
            # between laminae, the disc): it keeps the neighbours' edge.
            sides = zip(proposal.rect, clip, guess, strict=True)
            xmin, ymin, xmax, ymax = (g if r == c else r for r, c, g in sides)
            result.rect = (xmin, ymin, xmax, ymax)
            result.detail = "grown to bone within 2 mm of the neighbours' box"
    return results


def check_twins(primary: Volume, twin: Volume) -> None:
    """Refuse twins whose slices do not lie at the same positions with the same geometry."""
    same = (
        primary.hu.shape == twin.hu.shape
        and np.allclose(primary.positions_mm, twin.positions_mm, atol=1e-3)
        and np.allclose(primary.pixel_spacing_mm, twin.pixel_spacing_mm, atol=1e-6)
        and np.allclose(primary.col_axis, twin.col_axis, atol=1e-6)
        and np.allclose(primary.row_axis, twin.row_axis, atol=1e-6)
    )
    if not same:
        raise SystemExit(
            f"{primary.source_files[0].parent} and {twin.source_files[0].parent}: slice "
            "positions or geometry differ, so one box cannot serve both"
        )


# --------------------------------------------------------------------------- outputs
def write_results(
    results: Sequence[SliceResult], out: Path, volume_size: tuple[int, int], *, dry_run: bool
) -> int:
    """Write one VOC file per boxed slice into ``out`` (removing stale ones); the count."""
    height, width = volume_size
    wanted: set[Path] = set()
    for result in results:
        if result.rect is None:
            continue
        relative = Path(result.relative)
        target = out / f"{relative.stem}.xml"
        if target in wanted:
            raise SystemExit(f"{target}: two slices would share one VOC file name")
        wanted.add(target)
        xmin, ymin, xmax, ymax = result.rect
        annotation = VocAnnotation(
            filename=relative.name,
            width=width,
            height=height,
            depth=1,
            objects=(VocObject(CANAL_LABEL, Box(xmin - 1.0, ymin - 1.0, xmax, ymax)),),
            folder=relative.parent.as_posix(),
            path=relative.as_posix(),
            verified=True,
        )
        if not dry_run:
            out.mkdir(parents=True, exist_ok=True)
            write_voc(annotation, target)
    if not dry_run and out.is_dir():
        for stale in sorted(set(out.glob("*.xml")) - wanted):
            stale.unlink()
    return len(wanted)


def write_excluded(results: Sequence[SliceResult], path: Path) -> None:
    rows = sorted((r.relative, r.reason) for r in results if r.source == "exclude")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("path", "reason"))
        writer.writerows(rows)


# --------------------------------------------------------------------------- sheets
TILE = 180
SHEET_GRID = 6
WINDOW = Window(700, 150)
COLOURS = {
    "hand": (255, 80, 255),
    "clip": (0, 200, 255),
    "seed": (255, 255, 0),
    "auto-seed": (255, 255, 0),
    "tracked": (0, 255, 0),
    "between": (0, 160, 255),
}


def _tile(
    hu: npt.NDArray[np.generic],
    result: SliceResult,
    centre: tuple[int, int],
    spacing: float,
    tile_mm: float,
) -> Image.Image:
    half = round(tile_mm / 2 / spacing)
    padded = np.pad(np.asarray(hu), half, constant_values=-1000)
    row, col = centre
    crop = padded[row : row + 2 * half, col : col + 2 * half]
    image = Image.fromarray(window_to_uint8(crop, WINDOW)).convert("RGB")
    zoom = TILE / (2 * half)
    image = image.resize((TILE, TILE), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    if result.rect is not None:
        xmin, ymin, xmax, ymax = result.rect
        x0, y0 = (xmin - 1 - (col - half)) * zoom, (ymin - 1 - (row - half)) * zoom
        x1, y1 = (xmax - (col - half)) * zoom, (ymax - (row - half)) * zoom
        draw.rectangle([x0, y0, x1, y1], outline=COLOURS.get(result.source, (0, 255, 0)), width=1)
        size = f"{(xmax - xmin + 1) * spacing:.0f}x{(ymax - ymin + 1) * spacing:.0f}mm"
    else:
        size = result.source.upper()
    name = Path(result.relative).stem
    draw.rectangle([0, 0, TILE, 24], fill=(0, 0, 0))
    draw.text((2, 1), f"{result.index}: {name}", fill=(255, 255, 255))
    draw.text((2, 12), f"{size} {result.source}", fill=(255, 255, 0))
    if result.rect is None:
        draw.text((2, TILE - 14), result.reason[:38], fill=(255, 120, 120))
    return image


def _centres(results: Sequence[SliceResult], shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Tile centres: the box centre, else the nearest boxed slice's, else the image centre."""
    known = [
        (i, ((r.rect[1] + r.rect[3]) // 2 - 1, (r.rect[0] + r.rect[2]) // 2 - 1))
        for i, r in enumerate(results)
        if r.rect is not None
    ]
    if not known:
        return [(shape[0] // 2, shape[1] // 2)] * len(results)
    return [min(known, key=lambda k: abs(k[0] - i))[1] for i in range(len(results))]


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_sheets(
    labelled: Sequence[tuple[Volume, Sequence[SliceResult]]],
    folder: Path,
    stem: str,
    *,
    tile_mm: float = 80.0,
) -> None:
    """Contact sheets of every slice of the volumes and a reformat of each multi-slice one."""
    folder.mkdir(parents=True, exist_ok=True)
    tiles: list[tuple[Volume, int, SliceResult, tuple[int, int]]] = []
    for number, (volume, results) in enumerate(labelled):
        centres = _centres(results, volume.hu.shape[1:])
        tiles.extend(
            (volume, i, result, centre)
            for i, (result, centre) in enumerate(zip(results, centres, strict=True))
        )
        if len(results) > 1:
            suffix = f"_{number}" if len(labelled) > 1 else ""
            _sagittal(volume, results, centres, folder / f"{stem}{suffix}_sagittal.png")
    per_sheet = SHEET_GRID * SHEET_GRID
    for number, chunk in enumerate(_chunks(range(len(tiles)), per_sheet)):
        rows = (len(chunk) + SHEET_GRID - 1) // SHEET_GRID
        sheet = Image.new("RGB", (SHEET_GRID * TILE, rows * TILE))
        for k, position in enumerate(chunk):
            volume, i, result, centre = tiles[position]
            spacing = float(volume.pixel_spacing_mm[1])
            tile = _tile(volume.hu[i], result, centre, spacing, tile_mm)
            sheet.paste(tile, ((k % SHEET_GRID) * TILE, (k // SHEET_GRID) * TILE))
        sheet.save(folder / f"{stem}_{number:02d}.png")


def _sagittal(
    volume: Volume,
    results: Sequence[SliceResult],
    centres: Sequence[tuple[int, int]],
    target: Path,
) -> None:
    """Curved mid-sagittal (left) and mid-coronal (right) reformats through each slice's box
    centre, bone window, with the box's extent marked: jumps along the series stand out."""
    spacing = float(volume.pixel_spacing_mm[1])
    half = round(45.0 / spacing)
    stretch = max(1, round(volume.slice_spacing_mm / spacing))
    sagittal, coronal = [], []
    padded = np.pad(
        np.asarray(volume.hu), ((0, 0), (half, half), (half, half)), constant_values=-1000
    )
    for i, (row, col) in enumerate(centres):
        sagittal.append(padded[i, row : row + 2 * half, col + half])
        coronal.append(padded[i, row + half, col : col + 2 * half])
    window = Window(1800, 400)
    left = np.repeat(window_to_uint8(np.asarray(sagittal), window), stretch, axis=0)
    right = np.repeat(window_to_uint8(np.asarray(coronal), window), stretch, axis=0)
    gap = np.zeros((left.shape[0], 8), dtype=np.uint8)
    image = Image.fromarray(np.hstack([left, gap, right])).convert("RGB")
    draw = ImageDraw.Draw(image)
    offset = 2 * half + 8
    for i, (result, (row, col)) in enumerate(zip(results, centres, strict=True)):
        y = i * stretch + stretch // 2
        if result.rect is None:
            draw.text((2, y - 5), "x", fill=(255, 0, 0))
            continue
        xmin, ymin, xmax, ymax = result.rect
        colour = COLOURS.get(result.source, (0, 255, 0))
        for x in (ymin - 1 - row + half, ymax - row + half):
            draw.line([(x - 1, y), (x + 1, y)], fill=colour)
        for x in (xmin - 1 - col + half, xmax - col + half):
            draw.line([(offset + x - 1, y), (offset + x + 1, y)], fill=colour)
    image = image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)
    image.save(target)


# --------------------------------------------------------------------------- main
def run(
    data: Path,
    *,
    only: str | None = None,
    sheets: Path | None = None,
    tile_mm: float = 80.0,
    dry_run: bool = False,
) -> list[SliceResult]:
    """Label every series (or those whose folder contains ``only``); all slice results."""
    corrections = read_corrections(CORRECTIONS)
    everything: list[SliceResult] = []
    for spec in SERIES:
        if only and only not in spec.folder:
            continue
        volumes = load_volumes(data / spec.folder)
        results: list[SliceResult] = []
        labelled = [(volume, label_volume(volume, data, corrections)) for volume in volumes]
        for _, part in labelled:
            results.extend(part)
        if sheets is not None:
            write_sheets(labelled, sheets, spec.out.replace("/", "_"), tile_mm=tile_mm)
        size = volumes[0].hu.shape[1:]
        n_boxes = write_results(results, BOXES / spec.out, size, dry_run=dry_run)
        everything.extend(results)
        counts = _count(results)
        print(f"{spec.folder}: {len(results)} slices, {n_boxes} boxed, {counts}")
        if spec.twin is not None and spec.twin_out is not None:
            twins = load_volumes(data / spec.twin)
            if len(twins) != 1 or len(volumes) != 1:
                raise SystemExit(f"{spec.twin}: expected one series in each kernel")
            check_twins(volumes[0], twins[0])
            twin_results = [
                SliceResult(
                    _relative(twins[0].source_files[r.index], data),
                    r.index,
                    r.rect,
                    r.source,
                    r.reason,
                    f"as {Path(r.relative).name} of the other kernel",
                )
                for r in results
            ]
            n_twin = write_results(twin_results, BOXES / spec.twin_out, size, dry_run=dry_run)
            everything.extend(twin_results)
            print(f"{spec.twin}: {len(twin_results)} slices, {n_twin} boxed (same boxes)")
    unused = set(corrections) - {r.relative for r in everything}
    if unused and only is None:
        raise SystemExit(f"hand corrections name files not in any series: {sorted(unused)}")
    if not dry_run and only is None:
        write_excluded(everything, EXCLUDED)
    return everything


def write_table(results: Sequence[SliceResult], path: Path) -> None:
    """Every slice's outcome (how its box came about) as CSV, for review."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("path", "source", "xmin", "ymin", "xmax", "ymax", "detail", "reason"))
        for r in results:
            rect = r.rect or ("", "", "", "")
            writer.writerow((r.relative, r.source, *rect, r.detail, r.reason))


def _count(results: Sequence[SliceResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.source] = counts.get(result.source, 0) + 1
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sheets", type=Path, help="write contact sheets into this folder")
    parser.add_argument("--tile-mm", type=float, default=80.0, help="width shown per tile")
    parser.add_argument("--only", help="label only series whose folder contains this text")
    parser.add_argument("--dry-run", action="store_true", help="write no VOC or CSV file")
    parser.add_argument("--table", type=Path, help="write every slice's outcome to this CSV")
    args = parser.parse_args(argv)
    results = run(
        args.data,
        only=args.only,
        sheets=args.sheets,
        tile_mm=args.tile_mm,
        dry_run=args.dry_run,
    )
    if args.table is not None:
        write_table(results, args.table)
    unresolved = [r.relative for r in results if r.rect is None and r.source != "exclude"]
    if unresolved:
        print(f"{len(unresolved)} slices have neither a box nor an exclusion:", file=sys.stderr)
        for name in unresolved:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
