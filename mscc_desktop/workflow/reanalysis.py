"""What changed when a series was analysed again by another model.

Earlier analyses keep the model that made them (the store never rewrites them); re-analysis
with a newly chosen model is a new analysis. This says, in a line, what the new model sees
differently from the last analysis by another model, and whether a reader's review stays
with the earlier one, so a site that switched models (``models --use``) knows what to re-read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from mscc_desktop import storage
from mscc_desktop.core.findings import AnalysisStatus


@dataclass(frozen=True, slots=True)
class ModelChange:
    earlier: storage.AnalysisSummary
    now: storage.AnalysisSummary
    n_reviews_on_earlier: int

    def text(self) -> str:
        """One line, e.g. ``"vs mscc-compact-real 2.0.0: high grade no -> YES, lesions 1 -> 3,
        peak P(high) 0.12 -> 0.67; the reader's 2 reviews stay with the earlier analysis"``."""
        a, b = self.earlier, self.now
        parts = []
        if a.high_grade != b.high_grade:
            parts.append(f"high grade {_flag(a.high_grade)} -> {_flag(b.high_grade)}")
        if a.n_lesions != b.n_lesions:
            parts.append(f"lesions {a.n_lesions} -> {b.n_lesions}")
        if (
            a.max_p_high is not None
            and b.max_p_high is not None
            and abs(a.max_p_high - b.max_p_high) >= 0.005
        ):
            parts.append(f"peak P(high) {a.max_p_high:.2f} -> {b.max_p_high:.2f}")
        line = f"vs {a.model_id} {a.model_version}: " + (", ".join(parts) or "no change")
        if self.n_reviews_on_earlier:
            line += (
                f"; the reader's {self.n_reviews_on_earlier} review(s) stay with the earlier "
                "analysis: review this one"
            )
        return line


def _flag(value: bool | None) -> str:
    return "?" if value is None else ("YES" if value else "no")


def change_since_other_model(db: Database, analysis_id: int) -> ModelChange | None:
    """The comparison with the series' latest complete analysis by another model, if any."""
    series_id = storage.load_analysis(db, analysis_id).series_id
    history = storage.analysis_history(db, series_id)
    now = next((h for h in history if h.id == analysis_id), None)
    if now is None or now.status is not AnalysisStatus.COMPLETE:
        return None
    earlier = next(
        (
            h
            for h in history
            if h.id != analysis_id
            and h.status is AnalysisStatus.COMPLETE
            and (h.model_id, h.model_sha256) != (now.model_id, now.model_sha256)
        ),
        None,
    )
    if earlier is None:
        return None
    reviews = storage.load_reviews(db, earlier.id)
    return ModelChange(earlier, now, sum(r.decision is not None for r in reviews.values()))
