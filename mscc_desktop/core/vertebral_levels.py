"""Vertebral levels: their names in order, and as a reader types them ("T7", "t7", "T7-T8",
"T7-8", "T12–L1").

Valid levels are C1–C7, T1–T12, L1–L5 and S1 (the sacrum as one level, as in a spine
report); a range runs between two of them, is written head end first, and may cross a
junction ("C7-T1", "T12-L1", "L5-S1").
"""

from __future__ import annotations

import re

VERTEBRAL_LEVELS: tuple[str, ...] = (
    *(f"C{n}" for n in range(1, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
    "S1",
)
"""Every level, head first."""

LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(VERTEBRAL_LEVELS)}
"""Position of each level in :data:`VERTEBRAL_LEVELS` (0 for C1)."""

_PART = re.compile(r"^\s*([CTLS])?\s*(\d{1,2})\s*$", re.IGNORECASE)
_HINT = "use C1-C7, T1-T12, L1-L5 or S1, or a range such as T7-T8"


def parse_vertebral_level(text: str) -> str:
    """Validate and normalise a level or range of levels entered by a reader.

    ``"t7"`` → ``"T7"``; ``"T7 - 8"`` and ``"T7–T8"`` → ``"T7-T8"``; ``"T8-T7"`` → ``"T7-T8"``
    (head end first); ``"T7-T7"`` → ``"T7"``; ``""`` → ``""`` (no level entered).

    Raises
    ------
    ValueError
        For anything else ("T13", "L6", "S2", "T7-", "7"), with a message that says what is
        accepted.
    """
    cleaned = text.strip().replace("–", "-").replace("—", "-")  # en and em dashes as typed
    if not cleaned:
        return ""
    parts = cleaned.split("-")
    if len(parts) > 2:
        raise ValueError(f"vertebral level {text!r} is not valid: {_HINT}")
    first, _ = _level(parts[0], region=None, original=text)
    if len(parts) == 1:
        return first
    second, shorthand = _level(parts[1], region=first[0], original=text)
    if shorthand and LEVEL_RANK[second] < LEVEL_RANK[first]:
        # "T7-8" counts on down the spine; "T12-1" could mean T12-L1 or T1-T12: ask.
        raise ValueError(f"vertebral level {text!r} is ambiguous: write both levels in full")
    low, high = sorted((first, second), key=LEVEL_RANK.__getitem__)
    return low if low == high else f"{low}-{high}"


def _level(part: str, *, region: str | None, original: str) -> tuple[str, bool]:
    """The level ``part`` names and whether it borrowed the letter of ``region``."""
    match = _PART.match(part)
    if match is None:
        raise ValueError(f"vertebral level {original!r} is not valid: {_HINT}")
    shorthand = match.group(1) is None
    letter = (region if shorthand else match.group(1)) or ""
    level = f"{letter.upper()}{int(match.group(2))}"
    if level not in LEVEL_RANK:
        raise ValueError(
            f"vertebral level {original!r} is not valid ({level} does not exist): {_HINT}"
        )
    return level, shorthand and region is not None
