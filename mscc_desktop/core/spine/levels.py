"""Vertebral levels per slice: the estimate the program proposes and the reader's fix.

:func:`~mscc_desktop.core.spine.level_estimate.estimate_levels` returns a
:class:`LevelEstimate`: one level name (``"T7"``) or ``None`` per slice of the volume, the
landmarks it counted from, and whether it dares to propose anything at all. When it is unsure
(no first or last rib in view, a rib count that is not 12, irregular ribs) every slice is
``None`` and :attr:`LevelEstimate.reason` says why, so the GUI shows the reason instead of a
guess. The reader confirms the proposal or moves the whole numbering one level up or down
with :meth:`LevelEstimate.shifted` (an off-by-one is the usual error of any count).

Level names are those of :data:`~mscc_desktop.core.vertebral_levels.VERTEBRAL_LEVELS` (the
ones a reader types and the store accepts): C1-C7, T1-T12, L1-L5 and S1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from mscc_desktop.core.vertebral_levels import LEVEL_RANK, VERTEBRAL_LEVELS


def shift_level(name: str | None, by: int) -> str | None:
    """``name`` moved ``by`` levels towards the feet (``"T12", 1`` → ``"L1"``); ``None`` off the
    end of the spine or for ``None``."""
    if name is None:
        return None
    rank = LEVEL_RANK[name] + by
    return VERTEBRAL_LEVELS[rank] if 0 <= rank < len(VERTEBRAL_LEVELS) else None


def levels_range(levels: Sequence[str | None], first_slice: int, last_slice: int) -> str:
    """The levels a run of slices covers, as a reader writes it: ``"T7"``, ``"T7-T8"``; ``""``
    when none of those slices has a level (``levels`` is one name or ``None`` per slice)."""
    lo, hi = sorted((first_slice, last_slice))
    names = [n for n in levels[max(lo, 0) : hi + 1] if n is not None]
    if not names:
        return ""
    ranked = sorted(set(names), key=LEVEL_RANK.__getitem__)
    return ranked[0] if len(ranked) == 1 else f"{ranked[0]}-{ranked[-1]}"


class LevelStatus(StrEnum):
    PROPOSED = "proposed"  # levels are filled in for the reader to confirm or shift
    UNSURE = "unsure"  # nothing is proposed; ``reason`` says why


class LandmarkKind(StrEnum):
    FIRST_RIB = "first_rib"  # the highest rib pair, with a rib-free vertebra above it: T1
    LAST_RIB = "last_rib"  # the lowest rib pair, with a rib-free vertebra below it: T12


@dataclass(frozen=True, slots=True)
class Landmark:
    """A landmark the count is anchored at: which one, its level, and where it was seen."""

    kind: LandmarkKind
    level: str
    z_mm: float
    slice_index: int


@dataclass(frozen=True, slots=True)
class LevelSpan:
    """One level's extent along the stack, for labels beside a sagittal view.

    ``z_top_mm > z_bottom_mm``; the slices are those whose level is ``name``.
    """

    name: str
    z_top_mm: float
    z_bottom_mm: float
    first_slice: int
    last_slice: int


@dataclass(frozen=True, slots=True)
class LevelEstimate:
    """Vertebral level of every slice (head first, as the volume's slices) and why.

    Attributes
    ----------
    levels
        ``(slice,)`` level names or ``None`` (not estimated there, or everything ``None`` when
        :attr:`status` is UNSURE).
    status, reason
        Whether a numbering is proposed; ``reason`` is one sentence for the reader either
        way ("Counted from the first rib (T1) at z = 102 mm and the last rib (T12) at ...",
        or "No first or last rib in view: ...").
    confidence
        0..1, how well the evidence agreed (both anchors and a regular rib ladder near 1).
    landmarks
        The anchors the count starts from.
    rib_pairs_z_mm
        z of every rib pair found, head first (for drawing and for checking by eye).
    boundaries_mm
        ``((upper level, lower level, z), ...)`` the z where one level meets the next.
    shift
        How many levels the reader has moved the automatic numbering (+1 = one towards the
        feet); 0 as estimated.
    """

    levels: tuple[str | None, ...]
    status: LevelStatus
    reason: str
    confidence: float
    landmarks: tuple[Landmark, ...] = ()
    rib_pairs_z_mm: tuple[float, ...] = ()
    boundaries_mm: tuple[tuple[str, str, float], ...] = ()
    shift: int = 0
    slice_z_mm: tuple[float, ...] = field(default=(), repr=False)

    @property
    def proposed(self) -> bool:
        return self.status is LevelStatus.PROPOSED

    def level_at(self, slice_index: int) -> str | None:
        """The level of one slice (``None`` where nothing is proposed)."""
        return self.levels[slice_index]

    def level_range(self, first_slice: int, last_slice: int) -> str:
        """The levels a run of slices covers, as a reader writes it: ``"T7"``, ``"T7-T8"``.

        ``""`` when none of the slices has a level. Accepted by
        ``core.vertebral_levels.parse_vertebral_level``.
        """
        return levels_range(self.levels, first_slice, last_slice)

    def spans(self) -> tuple[LevelSpan, ...]:
        """Runs of slices with the same level, head first (labels beside the sagittal view).

        A span's z extent runs half-way to the neighbouring slices of other levels.
        """
        spans: list[LevelSpan] = []
        z = self.slice_z_mm
        k = 0
        n = len(self.levels)
        while k < n:
            name = self.levels[k]
            end = k
            while end + 1 < n and self.levels[end + 1] == name:
                end += 1
            if name is not None:
                top = z[k] if k == 0 else 0.5 * (z[k - 1] + z[k])
                bottom = z[end] if end == n - 1 else 0.5 * (z[end] + z[end + 1])
                spans.append(LevelSpan(name, float(top), float(bottom), k, end))
            k = end + 1
        return tuple(spans)

    def shifted(self, by: int) -> LevelEstimate:
        """The same estimate with every level moved ``by`` levels (+1: one towards the feet).

        The reader's one-action fix for an off-by-one count. Shifting an UNSURE estimate
        changes nothing (there is nothing to shift). Levels pushed off the spine become None.
        """
        if not self.proposed or by == 0:
            return self
        return replace(
            self,
            levels=tuple(shift_level(name, by) for name in self.levels),
            boundaries_mm=tuple(
                (upper, lower, z)
                for a, b, z in self.boundaries_mm
                if (upper := shift_level(a, by)) is not None
                and (lower := shift_level(b, by)) is not None
            ),
            landmarks=tuple(
                replace(mark, level=level)
                for mark in self.landmarks
                if (level := shift_level(mark.level, by)) is not None
            ),
            shift=self.shift + by,
        )


def unsure(
    n_slices: int, reason: str, slice_z_mm: Sequence[float] | npt.NDArray[np.float64] = ()
) -> LevelEstimate:
    """An estimate that proposes nothing, with the reason shown to the reader."""
    return LevelEstimate(
        levels=(None,) * n_slices,
        status=LevelStatus.UNSURE,
        reason=reason,
        confidence=0.0,
        slice_z_mm=tuple(float(z) for z in slice_z_mm),
    )


@dataclass(frozen=True, slots=True)
class LevelNumbering:
    """A confirmed numbering: the program's proposal per slice, the reader's shift, who, when.

    ``proposed_levels[k]`` is slice ``k``'s level as proposed (``None`` where nothing was);
    ``shift`` counts levels towards the feet (+1: what was proposed as T7 is T8).
    """

    analysis_id: int
    proposed_levels: tuple[str | None, ...]
    shift: int
    reason: str
    confidence: float
    user: str
    confirmed_at: datetime

    @property
    def levels(self) -> tuple[str | None, ...]:
        """The confirmed level of every slice (the proposal moved by :attr:`shift`)."""
        return tuple(shift_level(name, self.shift) for name in self.proposed_levels)

    def level_at(self, slice_index: int) -> str | None:
        """Confirmed level of one slice; ``None`` outside the numbering or the stack."""
        if 0 <= slice_index < len(self.proposed_levels):
            return shift_level(self.proposed_levels[slice_index], self.shift)
        return None

    def level_range(self, first_slice: int, last_slice: int) -> str:
        """The confirmed levels a run of slices covers: ``"T7"``, ``"T7-T8"``; ``""`` if none."""
        return levels_range(self.levels, first_slice, last_slice)

    @property
    def extent(self) -> str:
        """The confirmed levels from the first to the last numbered slice (``"C7-T12"``)."""
        return self.level_range(0, len(self.proposed_levels) - 1)

    @property
    def shift_text(self) -> str:
        """How the reader moved the count, in words ("as proposed", "shifted 1 level down")."""
        if self.shift == 0:
            return "as proposed"
        way = "down (towards the feet)" if self.shift > 0 else "up (towards the head)"
        n = abs(self.shift)
        return f"shifted {n} level{'' if n == 1 else 's'} {way}"
