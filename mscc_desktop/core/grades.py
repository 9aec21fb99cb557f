"""Bilsky epidural spinal cord compression (ESCC) grades and the paper's three groups."""

from __future__ import annotations

from enum import StrEnum


class BilskyGrade(StrEnum):
    """Spine Oncology Study Group ESCC scale (Bilsky et al. 2010)."""

    G0 = "0"  # bone-only disease, no epidural extension
    G1A = "1a"  # epidural impingement, thecal sac not deformed
    G1B = "1b"  # thecal sac deformed, spinal cord not abutted
    G1C = "1c"  # thecal sac deformed, cord abutted but not compressed
    G2 = "2"  # cord compressed, CSF still visible around the cord
    G3 = "3"  # cord compressed, no CSF visible around the cord

    @property
    def group(self) -> GradeGroup:
        return GRADE_TO_GROUP[self]

    @property
    def description(self) -> str:
        return BILSKY_DESCRIPTIONS[self]


class GradeGroup(StrEnum):
    """The paper's three classes, in model output order."""

    NORMAL = "normal"  # Bilsky 0 or no disease
    LOW = "low"  # 1a / 1b: usually radiotherapy
    HIGH = "high"  # 1c / 2 / 3: usually surgical decompression, then radiotherapy

    @property
    def position(self) -> int:
        """Index of this group in every probability vector (see :data:`GROUP_ORDER`)."""
        return GROUP_ORDER.index(self)

    @property
    def label(self) -> str:
        return {"normal": "Normal", "low": "Low grade", "high": "High grade"}[self.value]


GROUP_ORDER: tuple[GradeGroup, ...] = (GradeGroup.NORMAL, GradeGroup.LOW, GradeGroup.HIGH)
"""Class order of every model output and probability vector."""

GRADE_TO_GROUP: dict[BilskyGrade, GradeGroup] = {
    BilskyGrade.G0: GradeGroup.NORMAL,
    BilskyGrade.G1A: GradeGroup.LOW,
    BilskyGrade.G1B: GradeGroup.LOW,
    BilskyGrade.G1C: GradeGroup.HIGH,
    BilskyGrade.G2: GradeGroup.HIGH,
    BilskyGrade.G3: GradeGroup.HIGH,
}

BILSKY_DESCRIPTIONS: dict[BilskyGrade, str] = {
    BilskyGrade.G0: "Bone-only disease, no epidural extension",
    BilskyGrade.G1A: "Epidural impingement, thecal sac not deformed",
    BilskyGrade.G1B: "Thecal sac deformed, spinal cord not abutted",
    BilskyGrade.G1C: "Thecal sac deformed, cord abutted but not compressed",
    BilskyGrade.G2: "Cord compressed, CSF still visible around the cord",
    BilskyGrade.G3: "Cord compressed, no CSF visible around the cord",
}


def parse_group(text: str) -> GradeGroup:
    """Read a grade group or a fine Bilsky grade written by a person or a CSV file.

    Accepts group names ("normal", "low", "high", "low-grade", any case) and Bilsky grades
    ("0", "1a", ..., "3", optionally prefixed "Bilsky "). A bare "1" is rejected: it is not a
    Bilsky grade, and reading it as the low-grade class index would guess. Raises
    ``ValueError`` that lists the accepted spellings.
    """
    cleaned = text.strip().lower().removeprefix("bilsky").strip()
    aliases = {
        "normal": GradeGroup.NORMAL,
        "none": GradeGroup.NORMAL,
        "low": GradeGroup.LOW,
        "low grade": GradeGroup.LOW,
        "low-grade": GradeGroup.LOW,
        "high": GradeGroup.HIGH,
        "high grade": GradeGroup.HIGH,
        "high-grade": GradeGroup.HIGH,
    }
    if cleaned in aliases:
        return aliases[cleaned]
    try:
        return BilskyGrade(cleaned).group
    except ValueError:
        raise ValueError(
            f"unknown grade {text!r}: use normal/low/high or a Bilsky grade 0, 1a, 1b, 1c, 2, 3"
        ) from None
