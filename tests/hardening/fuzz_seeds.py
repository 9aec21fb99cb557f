"""Seed inputs of the importer fuzzer: small synthetic series and the shared real CT files.

A seed is one series as file bytes. The synthetic seeds come from the product's own writer
(every transfer syntax it writes, single-frame and Enhanced CT multi-frame) and carry a
marker patient name and ID, so the fuzzer can check that no error message or skip reason
ever quotes them. The real seeds are the files under ``$MSCC_REAL_DATA/robustness`` (one
file each), used when that variable is set.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mscc_desktop.core.dicom.write import TransferSyntax
from tests.factories.dicom_factory import multiframe, series_info, write_series

MARKER_NAME = "Zzfuzzname^Qqmarker"
MARKER_ID = "ZZFUZZID7731"
"""Identity of every synthetic seed: must never appear in a message or skip reason."""

REAL_SEED_LIMIT_BYTES = 2_000_000
"""Real files larger than this are left out (they slow every case down, add no structure)."""


@dataclass(frozen=True)
class Seed:
    """One series to mutate: its files' bytes, in a fixed order."""

    name: str
    files: tuple[bytes, ...]
    synthetic: bool


def _read_folder(folder: Path) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


def synthetic_seeds() -> list[Seed]:
    """Three-slice 32×32 series in every writer syntax, and two Enhanced CT files."""
    info = series_info(patient_name=MARKER_NAME, patient_id=MARKER_ID)
    seeds: list[Seed] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as tmp:
        root = Path(tmp)
        for syntax in TransferSyntax:
            folder = root / syntax.name
            write_series(
                folder,
                n_slices=3,
                rows=32,
                cols=32,
                info=info,
                transfer_syntax=syntax,
                seed=f"fuzz-{syntax.name}",
            )
            seeds.append(Seed(f"synthetic-{syntax.name.lower()}", _read_folder(folder), True))
        for syntax in (TransferSyntax.EXPLICIT_LE, TransferSyntax.RLE_LOSSLESS):
            folder = root / f"mf-{syntax.name}"
            folder.mkdir()
            multiframe(folder, n_frames=4, rows=32, cols=32, transfer_syntax=syntax)
            files = _read_folder(folder)
            seeds.append(Seed(f"synthetic-enhanced-{syntax.name.lower()}", files, True))
        # A padded, rescaled (float HU) series exercises the padding and float paths.
        folder = root / "padded"
        mask = np.zeros((3, 32, 32), dtype=bool)
        mask[:, :4, :] = True
        write_series(
            folder,
            n_slices=3,
            rows=32,
            cols=32,
            info=info,
            rescale_slope=0.5,
            pixel_padding_value=0,
            padding_mask=mask,
            seed="fuzz-padded",
        )
        seeds.append(Seed("synthetic-padded-float", _read_folder(folder), True))
    return seeds


def real_seeds(real_data: Path | None = None) -> list[Seed]:
    """Every file under ``robustness/`` of the shared data (empty when it is not set)."""
    base = real_data
    if base is None:
        value = os.environ.get("MSCC_REAL_DATA")
        if not value:
            return []
        base = Path(value)
    folder = base / "robustness"
    if not folder.is_dir():
        return []
    seeds = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.stat().st_size <= REAL_SEED_LIMIT_BYTES:
            name = "real-" + path.relative_to(folder).as_posix().replace("/", "-")
            seeds.append(Seed(name, (path.read_bytes(),), False))
    return seeds


def save_seeds(seeds: list[Seed], folder: Path) -> None:
    """Write seeds as ``folder/<name>/<index>`` files (how worker processes receive them)."""
    for seed in seeds:
        target = folder / seed.name
        target.mkdir(parents=True, exist_ok=True)
        for index, data in enumerate(seed.files):
            (target / f"{index:02d}").write_bytes(data)
        (target / ".synthetic").write_text("1" if seed.synthetic else "0")


def load_seeds(folder: Path) -> list[Seed]:
    """The seeds :func:`save_seeds` wrote, in name order."""
    seeds = []
    for target in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = tuple(
            p.read_bytes() for p in sorted(target.iterdir()) if not p.name.startswith(".")
        )
        synthetic = (target / ".synthetic").read_text() == "1"
        seeds.append(Seed(target.name, files, synthetic))
    return seeds
