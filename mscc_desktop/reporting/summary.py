"""The report's content, decided once for every output: verdict, findings rows, key images.

Pure functions of :class:`~mscc_desktop.reporting.inputs.ReportInputs`. Rules:

* The **verdict** is the AI's until the reader signs the study off; then it is the reader's:
  rejected findings drop out, regraded ones count with the reader's grade.
* **Key images** are the key slice of every finding the reader did not reject, plus every
  slice the reader marked; ordered high grade first, then by probability.
* Every probability shown carries the cut-off of its call (its operating point, see
  :mod:`mscc_desktop.core.operating_point`), from the thresholds the analysis used.
"""

from __future__ import annotations

from dataclasses import dataclass

from mscc_desktop.core.findings import Lesion, SliceResult
from mscc_desktop.core.grades import GROUP_ORDER, GradeGroup
from mscc_desktop.core.operating_point import (
    OperatingPoint,
    lesion_operating_point,
    operating_point,
    slice_operating_point,
)
from mscc_desktop.core.review import Review, ReviewDecision, ReviewStatus
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.palette import GROUP_HEADLINES, UNVERIFIED_TEXT

_RANK = {group: rank for rank, group in enumerate(GROUP_ORDER)}


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One line of the findings table."""

    lesion: Lesion
    level: str  # vertebral level: the reader's, else the confirmed numbering's; "" when none
    position: str  # slices and z range, always
    ai_group: GradeGroup
    final_group: GradeGroup | None  # None: rejected by the reader
    decision: str  # "Accepted", "Rejected", "Regraded to low grade", "Not reviewed"
    comment: str
    reviewer: str
    point: OperatingPoint | None = None  # the AI call's probability and cut-off
    level_from_numbering: bool = False  # ``level`` comes from the confirmed numbering

    @property
    def where(self) -> str:
        """Level when entered, else the slice and z range."""
        return self.level or self.position


@dataclass(frozen=True, slots=True)
class Verdict:
    """The study-level answer, as the result box shows it."""

    group: GradeGroup
    headline: str
    ai_group: GradeGroup
    ai_headline: str
    verified: bool
    status_line: str
    reader_line: str  # who reviewed and what they decided; "" when nobody has yet
    n_high_slices: int
    high_levels: tuple[str, ...]  # where the high-grade findings are: level, else slices


@dataclass(frozen=True, slots=True)
class KeyView:
    """One key image: a slice, what was found on it and why it is shown."""

    slice_index: int
    result: SliceResult | None
    group: GradeGroup | None  # grade shown on the image (the reader's when regraded)
    ai_group: GradeGroup | None
    probability: float  # the model's probability of ``ai_group`` on this slice
    lesion_number: int | None
    level: str
    reader_marked: bool
    point: OperatingPoint | None = None  # the AI call's probability and its cut-off

    @property
    def shown_probability(self) -> float:
        """The number shown with the grade: the one compared with the call's cut-off."""
        return self.point.value if self.point is not None else self.probability

    def _text(self, *, compact: bool) -> str:
        if self.result is None or not self.result.canal_found:
            return "Canal not found"
        ai = self.ai_group or GradeGroup.NORMAL
        point = self.point
        if self.group is not None and self.group is not ai:
            ai_part = f"AI {ai.label.lower()} {self.shown_probability:.2f}"
            if point is not None and not compact:
                ai_part = (
                    f"AI {ai.label.lower()}, {point.measure} {point.value:.2f}, "
                    f"cut-off {point.cut_off:.2f}"
                )
            return f"Reader: {self.group.label} ({ai_part})"
        if point is None:
            return f"{ai.label} · P({ai.value}) {self.probability:.2f}"
        return f"{ai.label} · {point.short_text if compact else point.text}"

    @property
    def grade_text(self) -> str:
        """``"High grade · P(high) 0.27 (called high from 0.08)"`` (captions, headers)."""
        return self._text(compact=False)

    @property
    def compact_grade_text(self) -> str:
        """``"High grade · 0.27 (cut-off 0.08)"``: the label burned into a key-image panel,
        under a header line that carries :attr:`grade_text` in full."""
        return self._text(compact=True)


def _decision_text(review: Review | None) -> str:
    if review is None or review.decision is None:
        return "Not reviewed"
    if review.decision is ReviewDecision.ACCEPT:
        return "Accepted"
    if review.decision is ReviewDecision.REJECT:
        return "Rejected"
    assert review.regraded_group is not None
    return f"Regraded to {review.regraded_group.label.lower()}"


def _final_group(lesion: Lesion, review: Review | None) -> GradeGroup | None:
    if review is None or review.decision is None or review.decision is ReviewDecision.ACCEPT:
        return lesion.group
    if review.decision is ReviewDecision.REJECT:
        return None
    return review.regraded_group


def finding_level(inputs: ReportInputs, lesion: Lesion, review: Review | None) -> tuple[str, bool]:
    """A finding's vertebral level and whether it comes from the confirmed numbering.

    The level the reader typed in the review wins; else, once the reader has confirmed the
    automatic numbering, the levels of the finding's slices; else ``""``. An unconfirmed
    proposal is never reported.
    """
    if review is not None and review.vertebral_level:
        return review.vertebral_level, False
    if inputs.levels is not None:
        level = inputs.levels.level_range(lesion.first_slice, lesion.last_slice)
        return level, bool(level)
    return "", False


def finding_rows(inputs: ReportInputs, identity: ExportIdentity) -> list[FindingRow]:
    """The findings table, in head-to-feet order."""
    rows: list[FindingRow] = []
    thresholds = inputs.result.thresholds
    for lesion in inputs.findings.lesions:
        review = inputs.reviews.get(lesion.number)
        level, from_numbering = finding_level(inputs, lesion, review)
        rows.append(
            FindingRow(
                lesion=lesion,
                level=level,
                level_from_numbering=from_numbering,
                position=f"{lesion.slice_range_text} ({lesion.z_range_text})",
                ai_group=lesion.group,
                final_group=_final_group(lesion, review),
                decision=_decision_text(review),
                comment=identity.comment(review.comment) if review else "",
                reviewer=identity.reader(review.user) if review and review.decision else "",
                point=lesion_operating_point(lesion, inputs.findings, thresholds),
            )
        )
    return rows


def _max_group(groups: list[GradeGroup | None]) -> GradeGroup:
    present = [g for g in groups if g is not None]
    return max(present, key=_RANK.__getitem__) if present else GradeGroup.NORMAL


def verdict(inputs: ReportInputs, rows: list[FindingRow], identity: ExportIdentity) -> Verdict:
    """The result box's answer (see the module docstring)."""
    findings = inputs.findings
    ai_group = findings.max_group
    decided = [r for r in rows if r.decision != "Not reviewed"]
    sign_off = inputs.sign_off
    verified = sign_off.signed_off
    group = _max_group([r.final_group for r in rows]) if verified else ai_group
    counts: dict[str, int] = {}
    for row in decided:
        counts[row.decision.lower()] = counts.get(row.decision.lower(), 0) + 1
    decided_text = ", ".join(f"{n} {what}" for what, n in counts.items())
    reader_line = ""
    if verified:
        who = identity.reader(sign_off.by) or "the reader"
        when = (
            ""
            if identity.deidentified or sign_off.at is None
            else (f" on {sign_off.at.astimezone().strftime('%Y-%m-%d %H:%M')}")
        )
        reader_line = f"Signed off by {who}{when}"
        if rows:
            reader_line += f": {decided_text or 'no finding changed'}"
        status_line = "Verified by a radiologist"
    else:
        status_line = UNVERIFIED_TEXT
        if sign_off.status is ReviewStatus.IN_PROGRESS and rows:
            reader_line = f"Review in progress: {len(decided)} of {len(rows)} findings decided"
            if decided_text:
                reader_line += f" ({decided_text})"
    relevant = [r for r in rows if (r.final_group if verified else r.ai_group) is GradeGroup.HIGH]
    return Verdict(
        group=group,
        headline=GROUP_HEADLINES[group],
        ai_group=ai_group,
        ai_headline=findings.headline,
        verified=verified,
        status_line=status_line,
        reader_line=reader_line,
        n_high_slices=findings.n_high_slices,
        high_levels=tuple(r.level or r.lesion.slice_range_text for r in relevant),
    )


def _slice_probability(result: SliceResult | None, group: GradeGroup | None) -> float:
    if result is None or result.probabilities is None or group is None:
        return 0.0
    return float(result.probabilities[group.position])


def _slice_level(inputs: ReportInputs, index: int) -> str:
    """The confirmed level of one slice ("" when not confirmed or not numbered there)."""
    return "" if inputs.levels is None else inputs.levels.level_at(index) or ""


def key_views(inputs: ReportInputs, rows: list[FindingRow]) -> list[KeyView]:
    """Key images, high grade first (see the module docstring)."""
    by_index = {s.index: s for s in inputs.findings.slices}
    thresholds = inputs.result.thresholds
    views: dict[int, KeyView] = {}
    for row in rows:
        if row.final_group is None:  # rejected by the reader: not a key image
            continue
        index = row.lesion.key_slice
        result = by_index.get(index)
        views[index] = KeyView(
            slice_index=index,
            result=result,
            group=row.final_group,
            ai_group=row.ai_group,
            probability=row.lesion.peak_probability,
            lesion_number=row.lesion.number,
            level=row.level,
            reader_marked=index in inputs.reader_key_slices,
            point=(
                operating_point(result.probabilities, row.ai_group, thresholds)
                if result is not None and result.probabilities is not None
                else None
            ),
        )
    for index in inputs.reader_key_slices:
        if index in views:
            continue
        result = by_index.get(index)
        owner = next(
            (r for r in rows if r.lesion.first_slice <= index <= r.lesion.last_slice), None
        )
        ai_group = result.group if result is not None else None
        views[index] = KeyView(
            slice_index=index,
            result=result,
            group=ai_group,
            ai_group=ai_group,
            probability=_slice_probability(result, ai_group),
            lesion_number=owner.lesion.number if owner else None,
            level=owner.level if owner else _slice_level(inputs, index),
            reader_marked=True,
            point=None if result is None else slice_operating_point(result, thresholds),
        )

    def order(view: KeyView) -> tuple[int, float, int]:
        rank = -1 if view.group is None else _RANK[view.group]
        return (-rank, -view.probability, view.slice_index)

    return sorted(views.values(), key=order)


@dataclass(frozen=True, slots=True)
class ReportContent:
    """Everything decided about one report, for every output format."""

    rows: tuple[FindingRow, ...]
    verdict: Verdict
    key_views: tuple[KeyView, ...]


def report_content(inputs: ReportInputs, identity: ExportIdentity) -> ReportContent:
    """Rows, verdict and key images of one report."""
    rows = finding_rows(inputs, identity)
    return ReportContent(
        rows=tuple(rows),
        verdict=verdict(inputs, rows, identity),
        key_views=tuple(key_views(inputs, rows)),
    )


__all__ = [
    "FindingRow",
    "KeyView",
    "ReportContent",
    "Verdict",
    "finding_rows",
    "key_views",
    "report_content",
    "verdict",
]
