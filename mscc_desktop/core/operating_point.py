"""The operating point beside every probability a reader sees: the number a call rests on
and the cut-off it was compared with.

The model's thresholds are chosen for high sensitivity (few high-grade slices missed), so
they are low: a slice can be called high grade at P(high) 0.27. Shown alone, "High grade ·
P 0.27" reads as "probably not"; with its cut-off, "High grade · P(high) 0.27 (called high
from 0.08)", it reads as what it is: a call well above the model's cut-off by a model that
still gives it about one chance in four. Every view (findings panel, slice overlay, PDF,
key images, command line) takes its wording from here, so the reader meets one phrasing.

A slice is called high grade when P(high) reaches ``Thresholds.high``, low grade when
P(low) + P(high) reaches ``Thresholds.any_mscc`` (:func:`~mscc_desktop.core.findings.classify`).
So a high-grade or normal slice is shown with its P(high) against the high-grade cut-off, and
a low-grade slice with P(low or high) against the low-grade one: the number beside a cut-off
is always the number compared with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mscc_desktop.core.findings import Lesion, SliceResult, StudyFindings, Thresholds
from mscc_desktop.core.grades import GradeGroup

CUT_OFF_LEGEND = (
    "P is the model's probability on the finding's key slice: P(high) for a high-grade "
    "finding, P(low or high) for a low-grade one. The cut-off beside it is the value from "
    "which the model calls that grade."
)
"""The legend of a table of findings with cut-offs (findings panel, PDF)."""
_LOW_CUT_OFF_NOTE = (
    "These cut-offs are set low so that few high-grade slices are missed: a finding can be "
    "called although its probability is below 0.5."
)


def cut_off_legend(thresholds: Thresholds | None = None) -> str:
    """:data:`CUT_OFF_LEGEND`, plus why a called finding can have P below 0.5 when one of
    ``thresholds``' cut-offs is below 0.5 (as the recipe's high-sensitivity ones are)."""
    if thresholds is not None and min(thresholds.high, thresholds.any_mscc) < 0.5:
        return f"{CUT_OFF_LEGEND} {_LOW_CUT_OFF_NOTE}"
    return CUT_OFF_LEGEND


_MEASURE = {GradeGroup.HIGH: "P(high)", GradeGroup.LOW: "P(low or high)"}
_DISEASE = {
    GradeGroup.HIGH: "high-grade compression (Bilsky 1c–3)",
    GradeGroup.LOW: "epidural disease of low or high grade (Bilsky 1a–3)",
}


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """A shown probability and the cut-off of the call it is compared with.

    ``group`` is the slice's call; ``call`` the grade the cut-off decides (HIGH for high-grade
    and normal slices, LOW for low-grade ones); ``value`` is P(high), or P(low) + P(high)
    when ``call`` is LOW.
    """

    group: GradeGroup
    call: GradeGroup
    value: float
    cut_off: float

    @property
    def measure(self) -> str:
        """``"P(high)"`` or ``"P(low or high)"``."""
        return _MEASURE[self.call]

    @property
    def called(self) -> bool:
        """Whether the value reached the cut-off (the slice got ``call``)."""
        return self.value >= self.cut_off

    @property
    def short_text(self) -> str:
        """For a table cell: ``"0.27 (cut-off 0.08)"``."""
        return f"{self.value:.2f} (cut-off {self.cut_off:.2f})"

    @property
    def compact_text(self) -> str:
        """Where space is short (the slice overlay): ``"P(high) 0.27 (cut-off 0.08)"``."""
        return f"{self.measure} {self.short_text}"

    @property
    def text(self) -> str:
        """For a caption or a line of text: ``"P(high) 0.27 (called high from 0.08)"``."""
        return f"{self.measure} {self.value:.2f} (called {self.call.value} from {self.cut_off:.2f})"

    def explanation(self, *, calibrated: bool) -> str:
        """Two or three plain sentences for a tooltip: what the number is, what the cut-off
        is and why it is low, and whether the number is a calibrated probability."""
        value = f"{self.value:.2f}"
        if calibrated:
            what = (
                f"{self.measure} {value} is the model's calibrated probability of "
                f"{_DISEASE[self.call]}: on its calibration studies, about "
                f"{round(self.value * 100)} % of slices given {value} had it."
            )
        else:
            what = (
                f"{self.measure} {value} is the model's score for {_DISEASE[self.call]}; "
                "this model's scores are not calibrated, so it is not a frequency."
            )
        cut = (
            f"The model calls a slice {self.call.label.lower()} from {self.measure} "
            f"{self.cut_off:.2f}, a cut-off set low so that few high-grade slices are missed"
        )
        if self.called and self.value < 0.5:
            cut += ": this slice is called although the model thinks it more likely not."
        else:
            cut += "."
        return f"{what} {cut}"


def slice_operating_point(result: SliceResult, thresholds: Thresholds) -> OperatingPoint | None:
    """The operating point of one slice; ``None`` when it has no grade (canal not found)."""
    if result.probabilities is None or result.group is None:
        return None
    return operating_point(result.probabilities, result.group, thresholds)


def operating_point(
    probabilities: Sequence[float], group: GradeGroup, thresholds: Thresholds
) -> OperatingPoint:
    """The operating point of a slice with these (normal, low, high) probabilities, called
    ``group`` under ``thresholds``."""
    p_low, p_high = float(probabilities[1]), float(probabilities[2])
    if group is GradeGroup.LOW:
        return OperatingPoint(group, GradeGroup.LOW, p_low + p_high, float(thresholds.any_mscc))
    return OperatingPoint(group, GradeGroup.HIGH, p_high, float(thresholds.high))


def lesion_operating_point(
    lesion: Lesion, findings: StudyFindings, thresholds: Thresholds
) -> OperatingPoint | None:
    """The operating point of a finding: that of its key slice, with the finding's grade
    (for a high-grade finding its peak P(high)); ``None`` when the key slice is unknown."""
    key = next((s for s in findings.slices if s.index == lesion.key_slice), None)
    if key is None or key.probabilities is None:
        return None
    return operating_point(key.probabilities, lesion.group, thresholds)


def graded_text(result: SliceResult, thresholds: Thresholds, *, compact: bool = False) -> str:
    """A slice's grade with its operating point, as captions show it: ``"High grade ·
    P(high) 0.27 (called high from 0.08)"``, or with ``compact`` as the slice overlay does:
    ``"High grade · P(high) 0.27 (cut-off 0.08)"``; ``"not graded"`` without a grade."""
    point = slice_operating_point(result, thresholds)
    if point is None:
        return "not graded"
    return f"{point.group.label} · {point.compact_text if compact else point.text}"


__all__ = [
    "CUT_OFF_LEGEND",
    "OperatingPoint",
    "cut_off_legend",
    "graded_text",
    "lesion_operating_point",
    "operating_point",
    "slice_operating_point",
]
