"""Shared helpers of the evaluation tests: peer fixtures and small reading builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.evaluation import ImageReading, Readings

FIXTURES = Path(__file__).resolve().parents[2] / "scripts" / "irrcac_reference" / "fixtures"

# Hallinan et al., Front. Oncol. 2023;13:1151073, Table 11 (per CT study, high-grade MSCC):
# 50 studies positive and 16 negative in the reference; each reader's counts follow from the
# published sensitivity and specificity (e.g. DL 94.0% = 47/50, 68.75% = 11/16).
# name: (tp, n_positive, tn, n_negative, published AC1, CI low, CI high, AUC, AUC CI low, high)
PAPER_TABLE_11: dict[str, tuple[int, int, int, int, float, float, float, float, float, float]] = {
    "DL algorithm": (47, 50, 11, 16, 0.813, 0.678, 0.949, 0.814, 0.692, 0.936),
    "Rad 1": (38, 50, 16, 16, 0.673, 0.489, 0.857, 0.880, 0.820, 0.940),
    "Rad 2": (47, 50, 11, 16, 0.813, 0.678, 0.949, 0.814, 0.692, 0.936),
    "Rad 3": (45, 50, 15, 16, 0.849, 0.725, 0.974, 0.919, 0.844, 0.993),
    "Rad 4": (38, 50, 13, 16, 0.603, 0.401, 0.804, 0.786, 0.671, 0.902),
    "Original report": (22, 50, 11, 16, 0.027, -0.232, 0.286, 0.564, 0.427, 0.700),
}


def load_fixture(name: str) -> dict[str, Any]:
    """One JSON fixture written by scripts/irrcac_reference/build_fixtures.sh."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def readings(
    name: str,
    rows: list[tuple[str, str, str]],
    *,
    probabilities: list[tuple[float, float, float]] | None = None,
    degenerative: set[str] | None = None,
) -> Readings:
    """Readings from (study, image, group) rows; ``degenerative`` holds flagged image ids."""
    flagged = degenerative or set()
    images = tuple(
        ImageReading(
            study,
            image,
            GradeGroup(group),
            None if probabilities is None else probabilities[i],
            image in flagged,
        )
        for i, (study, image, group) in enumerate(rows)
    )
    return Readings(name, images, source=f"{name}.csv")
