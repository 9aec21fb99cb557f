"""What the Models page shows, as plain data and text (no Qt): installed models, their
held-out figures, the site data available for adaptation.

The listing verifies every model file's checksum, so it runs on the I/O pool
(:func:`installed_models` is a plain function).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from mscc_desktop.core.config import DEFAULT_MODEL_ID
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.inference.manifest import ModelManifest
from mscc_desktop.inference.model_folder import list_models
from mscc_desktop.workflow.site_data import SiteDataSummary

# Guard-rail figures of ``adapt`` (its Figures.as_dict keys), in the order shown.
FIGURE_ROWS: tuple[tuple[str, str, bool], ...] = (
    # key, label, guarded (the adapted model must not fall below the base's interval)
    ("high_grade_image_sensitivity", "High-grade sensitivity (per image)", True),
    ("high_grade_image_specificity", "High-grade specificity (per image)", True),
    ("high_grade_auc", "High-grade AUC", False),
    ("three_class_ac1", "Normal / low / high agreement (Gwet's AC1)", True),
)
MIN_PATIENTS = 2  # adapt holds one patient out at least, and adapts on another


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One installed model folder: shipped with the app or adapted at this site."""

    folder: Path
    manifest: ModelManifest | None
    error: str | None
    site: bool

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.error is None

    @property
    def model_id(self) -> str:
        return self.manifest.model_id if self.manifest is not None else self.folder.name

    @property
    def adaptation(self) -> Mapping[str, Any] | None:
        """The provenance and held-out figures ``adapt`` wrote (site models only)."""
        if self.manifest is None:
            return None
        found = self.manifest.evaluation.get("site_adaptation")
        return found if isinstance(found, Mapping) else None

    @property
    def offered(self) -> bool:
        """May be chosen: a shipped model, or a site model not worse than its base."""
        if not self.ok:
            return False
        adaptation = self.adaptation
        return adaptation is None or bool(adaptation.get("offered", False))

    @property
    def root_id(self) -> str:
        """The shipped model behind this one (itself for a shipped model)."""
        adaptation = self.adaptation
        if adaptation is not None and adaptation.get("base_model"):
            return str(adaptation["base_model"])
        return self.model_id


def installed_models(
    models_dir: Path,
    site_dir: Path,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[ListedModel]:
    """The shipped models, then the site's, each verified (checksums read from disk)."""
    report(progress, 0.0, "Checking the installed models")
    found = [ListedModel(m.folder, m.manifest, m.error, False) for m in list_models(models_dir)]
    check_cancel(cancel)
    if site_dir.resolve() != models_dir.resolve():
        found += [ListedModel(m.folder, m.manifest, m.error, True) for m in list_models(site_dir)]
    report(progress, 1.0, "Models checked")
    return found


def find_model(models: Sequence[ListedModel], model_id: str) -> ListedModel | None:
    return next((m for m in models if m.ok and m.model_id == model_id), None)


def figure_text(values: Sequence[float] | None) -> str:
    """``0.911 [0.826–0.964]``; a missing value or interval shows as a dash."""
    if not values:
        return "—"
    value, *interval = (float(v) for v in values)
    if not math.isfinite(value):
        return "—"
    if len(interval) == 2 and all(math.isfinite(v) for v in interval):
        return f"{value:.3f} [{interval[0]:.3f}–{interval[1]:.3f}]"
    return f"{value:.3f} (no interval)"


def below_base(base: Sequence[float] | None, adapted: Sequence[float] | None) -> bool:
    """The guard rail: the adapted value lies below the base's lower 95 % bound."""
    if not base or not adapted or len(base) < 2:
        return False
    low, value = float(base[1]), float(adapted[0])
    return math.isfinite(low) and (not math.isfinite(value) or value < low)


def above_base(base: Sequence[float] | None, adapted: Sequence[float] | None) -> bool:
    if not base or not adapted:
        return False
    return math.isfinite(float(adapted[0])) and float(adapted[0]) > float(base[0]) + 1e-9


def slices_text(counts: Mapping[str, int]) -> str:
    order = ("normal", "low", "high")
    names = {"normal": "normal", "low": "low grade", "high": "high grade"}
    keys = [k for k in order if k in counts] + [k for k in counts if k not in order]
    return ", ".join(f"{int(counts[k])} {names.get(k, k)}" for k in keys) or "none"


def site_data_html(summary: SiteDataSummary | None) -> str:
    """The reviewed studies available for adaptation, and what keeps others out."""
    if summary is None:
        return "The results store is not available, so the site's reviews cannot be read."
    if summary.n_studies == 0:
        text = (
            "<b>No reviewed study yet.</b> Adaptation learns from studies you signed off: "
            "review the findings of a study (accept, reject or regrade each), or mark it "
            "<i>No MSCC</i>, then <i>Mark study as reviewed</i>."
        )
    else:
        text = (
            f"<b>{summary.n_studies} reviewed studies</b> of {summary.n_patients} patients "
            f"({summary.n_series} series); {summary.studies_with_high} with high-grade "
            f"compression.<br>Labelled slices: {slices_text(summary.slices_by_group)}."
        )
    notes = []
    if summary.n_left_out:
        notes.append(
            f"{summary.n_left_out} slices left out (a finding without a verdict, or no canal found)"
        )
    notes += [f"{n} series skipped: {reason}" for reason, n in sorted(summary.skipped.items())]
    if notes:
        text += "<br><span style='color:#9A9A9A'>" + escape("; ".join(notes)) + ".</span>"
    return text


def adapt_blocker(summary: SiteDataSummary | None) -> str:
    """Why Adapt cannot run now, naming the remedy ("" when it can)."""
    if summary is None:
        return "The results store is not available: restart the app, or check the data folder."
    if summary.n_patients < MIN_PATIENTS:
        return (
            f"Adaptation needs reviewed studies of at least {MIN_PATIENTS} patients (one is held "
            f"out to check the result); {summary.n_patients} so far. Review and sign off more "
            "studies."
        )
    return ""


def model_details_html(model: ListedModel, *, in_use: str) -> str:
    """The selected model's card: what it is, where it came from, its limitations."""
    if model.manifest is None:
        return (
            f"<b>{escape(model.folder.name)}</b> is refused: {escape(model.error or '')}<br>"
            "Copy the model folder again from its source, or delete it."
        )
    m = model.manifest
    state = " (in use for new analyses)" if m.model_id == in_use else ""
    parts = [
        f"<b>{escape(m.model_id)}</b> {escape(m.version)}{state}",
        f"sha256 {escape(m.model_sha256)}",
        escape(m.description.strip()),
    ]
    adaptation = model.adaptation
    if adaptation is not None:
        patients = adaptation.get("patients", {})
        parts.append(
            f"Adapted from <b>{escape(str(adaptation.get('base_model', '?')))}</b> "
            f"{escape(str(adaptation.get('base_version', '')))} on "
            f"{escape(str(adaptation.get('date', '?'))[:10])} by "
            f"{escape(str(adaptation.get('user', '?')))}: "
            f"{escape(str(adaptation.get('depth_performed', '')))} on "
            f"{patients.get('adapt', '?')} patients "
            f"({escape(slices_text(adaptation.get('adapt_slices_by_group', {})))} slices), "
            f"checked on {patients.get('held_out', '?')} held-out patients."
        )
        if adaptation.get("note"):
            parts.append(escape(str(adaptation["note"])))
    elif m.model_id == DEFAULT_MODEL_ID:
        parts.append("Shipped with the app (the default model).")
    else:
        parts.append("Installed with the app.")
    if m.limitations:
        items = "".join(f"<li>{escape(text)}</li>" for text in m.limitations)
        parts.append(f"<span style='color:#E0B050'>Limitations:</span><ul>{items}</ul>")
    return "<br>".join(parts)


def verdict_text(adaptation: Mapping[str, Any]) -> tuple[bool, str]:
    """(offered, sentence) for a site model's comparison with its base."""
    if adaptation.get("offered"):
        return True, (
            "Offered: on the held-out patients the adapted model is not worse than its base "
            "(each guarded figure at least the base's lower 95 % bound). Use it for new "
            "analyses with “Use for new analyses”."
        )
    reasons = [str(r) for r in adaptation.get("refused_because", ())]
    return False, (
        "Not offered: "
        + ("; ".join(reasons) or "worse than its base")
        + ". The base model stays in use; review more studies and adapt again."
    )
