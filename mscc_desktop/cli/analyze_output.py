"""What ``mscc-desktop analyze`` prints and writes: progress bar, worklist, JSON results."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mscc_desktop import __version__
from mscc_desktop.core.findings import AnalysisResult, Lesion, SliceResult
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.notices import Severity

if TYPE_CHECKING:
    from mscc_desktop.cli.analyze_cmd import SeriesOutcome

JSON_FORMAT = "mscc-desktop-analysis"
JSON_FORMAT_VERSION = 1


class ProgressBar:
    """A one-line progress bar on a terminal; start/finish lines only when not a terminal.

    Callable as a :class:`~mscc_desktop.core.tasks.ProgressFn`.
    """

    def __init__(self, stream: TextIO, *, enabled: bool = True, width: int = 28) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = enabled and stream.isatty()
        self._width = width
        self._label = ""
        self._shown = -1

    def start(self, label: str) -> None:
        self._label = label
        self._shown = -1
        if self._enabled and not self._tty:
            print(f"{label} ...", file=self._stream, flush=True)

    def __call__(self, fraction: float, text: str, /) -> None:
        if not self._tty:
            return
        percent = int(fraction * 100)
        if percent == self._shown:
            return
        self._shown = percent
        filled = int(fraction * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        line = f"\r{self._label[:40]:40s} [{bar}] {percent:3d}% {text[:30]:30s}"
        self._stream.write(line)
        self._stream.flush()

    def finish(self, text: str) -> None:
        if not self._enabled:
            return
        if self._tty:
            self._stream.write("\r\x1b[2K")
        print(text, file=self._stream, flush=True)


# -------------------------------------------------------------------------------- worklist
NOT_ANALYSED = "–"
"""Shown for a P(high) or cut-off that does not exist (series not analysed)."""


def _peak_high(result: AnalysisResult | None) -> float:
    if result is None or result.findings is None:
        return -1.0
    return max((s.p_high for s in result.findings.slices), default=0.0)


def _rank(outcome: SeriesOutcome) -> tuple[int, float]:
    result = outcome.result
    if outcome.entry is None:
        return (4, 0.0)
    if result is None:
        return (3, 0.0)
    if result.findings is None:
        return (2, 0.0)
    return (0 if result.findings.high_grade else 1, -_peak_high(result))


def _flag(outcome: SeriesOutcome) -> str:
    result = outcome.result
    if outcome.entry is None:
        return "NONE"
    if result is None:
        return "FAILED"
    if result.findings is None:
        return "REFUSED"
    if result.findings.high_grade:
        return "HIGH"
    return "low" if result.findings.max_group is GradeGroup.LOW else "normal"


def sort_worklist(outcomes: Sequence[SeriesOutcome]) -> list[SeriesOutcome]:
    """High-grade studies first, by peak P(high); then the rest by peak; then refused,
    failed and not analysable (stable within each)."""
    return sorted(outcomes, key=_rank)


WORKLIST_LEGEND = (
    "P(high): the highest probability of high-grade compression on any slice; CUT-OFF: the "
    "P(high) from which the model calls a slice high grade, set low so that few high-grade "
    "slices are missed."
)


def _limitations(outcomes: Sequence[SeriesOutcome]) -> list[str]:
    """The limitation statements of the models that produced these results, once each."""
    seen: list[str] = []
    for outcome in outcomes:
        if outcome.result is not None:
            seen += [t for t in outcome.result.provenance.limitations if t not in seen]
    return seen


def format_worklist(outcomes: Sequence[SeriesOutcome]) -> str:
    """The triage worklist as a fixed-width table (one row per analysed series), with the
    high-grade cut-off beside every peak P(high) and the model's limitations above it."""
    header = (
        f"{'#':>3}  {'FLAG':7} {'P(high)':>7} {'CUT-OFF':>7}  {'LESIONS':>7}  {'KEY SLICES':12} "
        f"{'PATIENT ID':14} {'NAME':22} {'DATE':10} {'ACCESSION':12} SERIES / NOTES"
    )
    synthetic = any(o.result is not None and o.result.provenance.synthetic_only for o in outcomes)
    trained = "synthetic-trained model" if synthetic else "research model"
    lines = ["", f"Worklist (high-grade first; {trained}, not for clinical use)"]
    lines += [f"Model limitation: {text}" for text in _limitations(outcomes)]
    lines += [WORKLIST_LEGEND, header]
    for number, outcome in enumerate(sort_worklist(outcomes), start=1):
        study = outcome.study
        info = outcome.entry.info if outcome.entry is not None else None
        patient_id = info.patient_id if info else ""
        name = info.patient_name if info else ""
        date = study.study_date or (info.study_date if info else "")
        result = outcome.result
        peak = _peak_high(result)
        # A series that was not analysed has no P(high) and no cut-off: a dash, never "nan".
        shown_peak = f"{peak:7.2f}" if peak >= 0 else f"{NOT_ANALYSED:>7}"
        cut_off = f"{result.thresholds.high:7.2f}" if result is not None else f"{NOT_ANALYSED:>7}"
        lesions = keys = ""
        notes = outcome.entry.description if outcome.entry is not None else ""
        if result is not None and result.findings is not None:
            lesions = str(len(result.findings.lesions))
            keys = ",".join(str(k + 1) for k in result.findings.key_slices[:4])
            warnings = sum(n.severity is not Severity.INFO for n in result.notices)
            if warnings:
                notes += f" ({warnings} warning{'s' if warnings > 1 else ''})"
        elif result is not None:
            notes += " - " + "; ".join(
                n.message for n in result.notices if n.severity is Severity.ERROR
            )
        if outcome.error:
            notes += f" - {outcome.error}"
        lines.append(
            f"{number:>3}  {_flag(outcome):7} {shown_peak} {cut_off}  "
            f"{lesions:>7}  {keys:12} {patient_id[:14]:14} {name[:22]:22} {date[:10]:10} "
            f"{study.accession_number[:12]:12} {notes}"
        )
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- JSON
def _slice_dict(s: SliceResult) -> dict[str, Any]:
    return {
        "index": s.index,
        "z_mm": s.z_mm,
        "sop_instance_uid": s.sop_instance_uid,
        "canal_found": s.canal_found,
        "box": None if s.box is None else list(s.box.as_tuple()),
        "detection_score": s.detection_score,
        "probabilities": None if s.probabilities is None else list(s.probabilities),
        "group": None if s.group is None else s.group.value,
        "windows_used": [w.value for w in s.windows_used],
    }


def _lesion_dict(lesion: Lesion) -> dict[str, Any]:
    return {
        "number": lesion.number,
        "group": lesion.group.value,
        "first_slice": lesion.first_slice,
        "last_slice": lesion.last_slice,
        "z_from_mm": lesion.z_from_mm,
        "z_to_mm": lesion.z_to_mm,
        "peak_probability": lesion.peak_probability,
        "key_slice": lesion.key_slice,
        "n_abnormal_slices": lesion.n_abnormal_slices,
        "slice_range_text": lesion.slice_range_text,
    }


def analysis_to_dict(result: AnalysisResult) -> dict[str, Any]:
    """Everything in an :class:`AnalysisResult` as JSON-ready values."""
    prov = result.provenance
    data: dict[str, Any] = {
        "status": result.status.value,
        "series_instance_uid": result.series_instance_uid,
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "duration_s": result.duration_s,
        "model": {
            "id": prov.model_id,
            "version": prov.model_version,
            "sha256": prov.model_sha256,
            "synthetic_only": prov.synthetic_only,
            "probability_temperature": prov.probability_temperature,
            "limitations": list(prov.limitations),
        },
        "backend": {"runtime": prov.backend, "device": prov.device},
        "thresholds": {
            "high": result.thresholds.high,
            "any_mscc": result.thresholds.any_mscc,
            "canal_score": result.thresholds.canal_score,
        },
        "notices": [n.to_dict() for n in result.notices],
        "findings": None,
    }
    findings = result.findings
    if findings is not None:
        data["findings"] = {
            "headline": findings.headline,
            "high_grade": findings.high_grade,
            "max_group": findings.max_group.value,
            "peak_p_high": max((s.p_high for s in findings.slices), default=0.0),
            "n_slices": len(findings.slices),
            "n_high_slices": findings.n_high_slices,
            "n_low_slices": findings.n_low_slices,
            "n_canal_not_found": findings.n_canal_not_found,
            "key_slices": list(findings.key_slices),
            "lesions": [_lesion_dict(lesion) for lesion in findings.lesions],
            "slices": [_slice_dict(s) for s in findings.slices],
        }
    return data


def _outcome_dict(outcome: SeriesOutcome) -> dict[str, Any]:
    study = outcome.study
    info = outcome.entry.info if outcome.entry is not None else None
    return {
        "flag": _flag(outcome),
        "patient_id": info.patient_id if info else "",
        "patient_name": info.patient_name if info else "",
        "study_instance_uid": study.study_instance_uid,
        "study_date": study.study_date,
        "study_description": study.study_description,
        "accession_number": study.accession_number,
        "series_instance_uid": info.series_instance_uid if info else "",
        "series_description": outcome.entry.description if outcome.entry is not None else "",
        "n_slices": outcome.n_slices,
        "store_analysis_id": outcome.analysis_id,
        "error": outcome.error or None,
        "analysis": None if outcome.result is None else analysis_to_dict(outcome.result),
    }


def write_json(path: Path, outcomes: Sequence[SeriesOutcome], *, scan_root: Path) -> None:
    """Write the batch results to ``path`` atomically (a temporary file, then a rename)."""
    document = {
        "format": JSON_FORMAT,
        "format_version": JSON_FORMAT_VERSION,
        "software": f"mscc-desktop {__version__}",
        "created": datetime.now(UTC).isoformat(),
        "source": str(scan_root),
        "series": [_outcome_dict(o) for o in sort_worklist(outcomes)],
    }
    path = path.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1, allow_nan=False)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "JSON_FORMAT",
    "WORKLIST_LEGEND",
    "ProgressBar",
    "analysis_to_dict",
    "format_worklist",
    "sort_worklist",
    "write_json",
]
