"""``mscc-desktop synth OUTDIR --studies N --seed S``: synthetic studies with ground truth.

Writes ``OUTDIR/<study_id>/{dicom/, voc/, labels.csv, study.json}`` for each study (layout
in :mod:`mscc_desktop.synth`), or the demo study with ``--demo``. Prints one line per
study with its slice count and the share of normal / low / high-grade slices.

``mscc-desktop synth OUTDIR --on-real DIR --boxes VOC --variants N`` instead inserts
epidural disease into the real, disease-free CT series under ``DIR`` whose canal boxes are
in ``VOC`` (:mod:`mscc_desktop.synth.real_study`): variant 0 of each series is the series
unchanged, variants 1..N carry lesions. ``--fov-mm`` makes them small-field reconstructions.

Exit codes: 0 success, 1 error (bad option, unwritable folder), 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mscc_desktop.cli import EXIT_ERROR, EXIT_OK
from mscc_desktop.core.dicom.write import TransferSyntax
from mscc_desktop.core.labels import read_labels_csv
from mscc_desktop.synth.params import GeneratorConfig
from mscc_desktop.synth.vertebrae import LEVEL_NAMES, level_index

_SYNTAXES = {
    "explicit": TransferSyntax.EXPLICIT_LE,
    "implicit": TransferSyntax.IMPLICIT_LE,
    "rle": TransferSyntax.RLE_LOSSLESS,
    "jpeg2000": TransferSyntax.JPEG2000_LOSSLESS,
    "jpegls": TransferSyntax.JPEGLS_LOSSLESS,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", help="output folder (one sub-folder per study)")
    parser.add_argument("--studies", type=int, default=1, help="number of studies (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--start", type=int, default=0, help="index of the first study")
    parser.add_argument("--prefix", default="synth_", help="study folder prefix")
    parser.add_argument("--matrix", type=int, default=512, help="image size in pixels")
    parser.add_argument(
        "--levels",
        default="C7-L3",
        help=f"first-last level covered (default C7-L3; {LEVEL_NAMES[1]}..{LEVEL_NAMES[-2]})",
    )
    parser.add_argument(
        "--slice-spacing", type=float, default=None, help="mm between slices (default: varied)"
    )
    parser.add_argument("--max-slices", type=int, default=None, help="cap slices per study")
    parser.add_argument(
        "--class-mix",
        default="0.8,0.1,0.1",
        help="target share of normal,low,high-grade slices (default 0.8,0.1,0.1)",
    )
    parser.add_argument(
        "--no-disease",
        type=float,
        default=0.25,
        help="share of studies without epidural disease (default 0.25)",
    )
    parser.add_argument(
        "--transfer-syntax", choices=sorted(_SYNTAXES), default="explicit", help="pixel encoding"
    )
    parser.add_argument("--overwrite", action="store_true", help="regenerate existing studies")
    parser.add_argument("--demo", action="store_true", help="write the demo study to OUTDIR/demo")
    real = parser.add_argument_group("disease inserted into real CT")
    real.add_argument(
        "--on-real",
        metavar="DIR",
        help="insert epidural disease into the real CT series under DIR (read only)",
    )
    real.add_argument(
        "--boxes",
        metavar="VOC_DIR",
        help="canal boxes of DIR's slices (Pascal VOC; <path> relative to --data-root)",
    )
    real.add_argument(
        "--data-root",
        metavar="ROOT",
        help="folder the VOC paths are relative to (default: DIR's parent chain is searched)",
    )
    real.add_argument(
        "--variants", type=int, default=4, help="diseased variants per series (default 4)"
    )
    real.add_argument(
        "--fov-mm",
        type=float,
        default=None,
        help="write small-field reconstructions of this field of view (mm) instead",
    )
    real.add_argument("--patient", help="patient name for every series (default: Patient ID)")


def _config(args: argparse.Namespace) -> GeneratorConfig:
    first, sep, last = str(args.levels).upper().partition("-")
    if not sep:
        raise ValueError(f"--levels must look like C7-L3, got {args.levels!r}")
    if level_index(first) >= level_index(last):
        raise ValueError(f"--levels {args.levels}: the first level must be above the last")
    parts = [float(x) for x in str(args.class_mix).split(",")]
    if len(parts) != 3:
        raise ValueError(f"--class-mix needs three numbers, got {args.class_mix!r}")
    total = sum(parts)
    mix = (parts[0] / total, parts[1] / total, parts[2] / total)
    return GeneratorConfig(
        matrix=args.matrix,
        first_level=first,
        last_level=last,
        slice_spacing_mm=args.slice_spacing,
        max_slices=args.max_slices,
        class_mix=mix,
        no_disease_fraction=args.no_disease,
    )


def _progress(fraction: float, text: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{fraction * 100:5.1f}%  {text:<40}")
        if fraction >= 1.0:
            sys.stderr.write("\r" + " " * 60 + "\r")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from mscc_desktop.synth.demo import ensure_demo_study
    from mscc_desktop.synth.output import LABELS_FILE, generate_dataset

    try:
        config = _config(args)
    except ValueError as error:
        print(f"mscc-desktop synth: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.studies < 1 and not args.demo:
        print("mscc-desktop synth: --studies must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    outdir = Path(args.outdir)
    started = time.perf_counter()
    if args.on_real:
        return _run_on_real(args, outdir, started)
    if args.demo:
        dicom = ensure_demo_study(outdir, matrix=args.matrix, progress=_progress)
        print(f"demo study: {dicom}")
        return EXIT_OK
    try:
        folders = generate_dataset(
            outdir,
            args.studies,
            args.seed,
            config,
            start=args.start,
            prefix=args.prefix,
            transfer_syntax=_SYNTAXES[args.transfer_syntax],
            overwrite=args.overwrite,
            progress=_progress,
        )
    except OSError as error:
        print(f"mscc-desktop synth: cannot write {outdir}: {error}", file=sys.stderr)
        return EXIT_ERROR
    totals = [0, 0, 0]
    for folder in folders:
        labels = read_labels_csv(folder / LABELS_FILE)
        counts = [sum(1 for lab in labels if lab.group.position == k) for k in range(3)]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        shares = "/".join(f"{100 * c / max(len(labels), 1):.0f}" for c in counts)
        print(f"{folder.name}: {len(labels)} slices, normal/low/high % {shares}")
    n = max(sum(totals), 1)
    print(
        f"{len(folders)} studies in {time.perf_counter() - started:.1f} s; all slices "
        f"normal/low/high % {'/'.join(f'{100 * c / n:.1f}' for c in totals)}"
    )
    return EXIT_OK


def _data_root(folder: Path, boxes: set[str], given: str | None) -> Path | None:
    """``given``, or the nearest folder above ``folder`` relative to which the box paths
    name files under ``folder``."""
    if given:
        return Path(given)
    for candidate in (folder, *folder.resolve().parents):
        if any((candidate / relative).is_file() for relative in list(boxes)[:200]):
            return candidate
    return None


def _run_on_real(args: argparse.Namespace, outdir: Path, started: float) -> int:
    from mscc_desktop.synth.real_study import (
        boxes_by_file,
        describe,
        insert_dataset,
        real_series_in,
        reframed,
    )

    folder = Path(args.on_real)
    if not folder.exists():
        print(f"mscc-desktop synth: {folder} does not exist", file=sys.stderr)
        return EXIT_ERROR
    if not args.boxes:
        print("mscc-desktop synth: --on-real needs --boxes (canal boxes of its slices)",
              file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    boxes = boxes_by_file(args.boxes)
    root = _data_root(folder, set(boxes), args.data_root)
    if root is None or not boxes:
        print(f"mscc-desktop synth: no box in {args.boxes} names a file under {folder}; "
              "give --data-root", file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    if args.variants < 0:
        print("mscc-desktop synth: --variants must be 0 or more", file=sys.stderr)
        return EXIT_ERROR
    import numpy as np

    series = real_series_in(folder, root, boxes, patient=args.patient)
    if not series:
        print(f"mscc-desktop synth: no boxed axial series under {folder}", file=sys.stderr)
        return EXIT_ERROR
    if args.fov_mm:
        rng = np.random.default_rng(args.seed)
        series = [reframed(s, args.fov_mm, rng) for s in series]
    try:
        folders = insert_dataset(
            series,
            outdir,
            variants=args.variants,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=_progress,
        )
    except OSError as error:
        print(f"mscc-desktop synth: cannot write {outdir}: {error}", file=sys.stderr)
        return EXIT_ERROR
    for written in folders:
        counts = describe(written)
        print(f"{written.name}: {counts['slices']} graded slices, normal/low/high "
              f"{counts['normal']}/{counts['low']}/{counts['high']}")  # fmt: skip
    print(f"{len(folders)} studies from {len(series)} real series in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    return EXIT_OK
