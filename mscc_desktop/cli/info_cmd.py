"""``mscc-desktop info PATH [--json]``: what a folder holds and which series can be analysed.

Prints patients → studies → series with description, slice count, thickness, spacing,
orientation, transfer syntax, reconstruction kernel and its class, whether each series is
analysable (and why, or why not), why the picked one was picked and the others not (kernel
class, measured noise where the kernels did not decide), every warning, and the skipped files
with the reason. Patient names go to stdout for the user; nothing identifying is logged.

Exit codes: 0 at least one analysable series, 2 none, 1 error (e.g. the path is missing).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from typing import TextIO

from mscc_desktop.cli import EXIT_NOTHING, EXIT_OK
from mscc_desktop.core.dicom import (
    ScanResult,
    SeriesEntry,
    SeriesPick,
    SkipKind,
    pick_series,
    scan_folder,
    transfer_syntax_name,
)
from mscc_desktop.core.notices import Severity

logger = logging.getLogger(__name__)

_MAX_LISTED_NON_DICOM = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="DICOM folder, DICOMDIR or file")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--workers", type=int, default=None, help="header-reading threads (default: automatic)"
    )


def _progress_to(stream: TextIO) -> object:
    def progress(fraction: float, text: str) -> None:
        stream.write(f"\r{fraction * 100:5.1f}%  {text:<40}")
        if fraction >= 1.0:
            stream.write("\r" + " " * 60 + "\r")
        stream.flush()

    return progress


def run(args: argparse.Namespace) -> int:
    progress = _progress_to(sys.stderr) if sys.stderr.isatty() and not args.json else None
    with warnings.catch_warnings():
        # pydicom warns about every odd value it meets; the report below is what matters.
        warnings.simplefilter("ignore")
        scan = scan_folder(args.path, progress=progress, workers=args.workers)  # type: ignore[arg-type]
    picks = {study.key: pick_series(study.series) for study in scan.studies}
    n_analysable = sum(1 for entry in scan.series if entry.analysable)
    logger.info("info: %d series, %d analysable", len(scan.series), n_analysable)
    if args.json:
        json.dump(to_json(scan, picks), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(to_text(scan, picks))
    return EXIT_OK if n_analysable else EXIT_NOTHING


def _date(value: str) -> str:
    return (
        f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value
    )


def _series_facts(entry: SeriesEntry) -> dict[str, object]:
    geometry = entry.frames[0].geometry
    kernel = entry.kernel
    return {
        "key": entry.key,
        "series_number": entry.info.series_number,
        "description": entry.description,
        "modality": entry.info.modality,
        "kind": entry.kind.value,
        "plane": entry.plane.value,
        "plane_angle_deg": round(entry.plane_angle_deg, 2),
        "image_orientation": list(geometry.orientation) if geometry.orientation else None,
        "n_slices": entry.n_slices,
        "n_images": entry.n_images,
        "n_files": len(entry.files),
        "multiframe": entry.is_multiframe,
        "rows": entry.rows,
        "columns": entry.columns,
        "pixel_spacing_mm": list(entry.pixel_spacing_mm) if entry.pixel_spacing_mm else None,
        "slice_thickness_mm": entry.slice_thickness_mm,
        "slice_spacing_mm": entry.slice_spacing_mm,
        "transfer_syntaxes": [
            {"uid": uid, "name": transfer_syntax_name(uid)} for uid in entry.info.transfer_syntaxes
        ],
        "convolution_kernel": entry.info.convolution_kernel,
        "kernel": {"name": kernel.name, "class": kernel.kernel_class.value, "basis": kernel.basis},
        "hu_available": entry.hu_available,
        "analysable": entry.analysable,
        "reasons": list(entry.reasons),
        "notices": [notice.to_dict() for notice in entry.notices],
    }


def to_json(scan: ScanResult, picks: dict[str, SeriesPick]) -> dict[str, object]:
    """The scan as plain JSON-ready data (holds patient data: for the user, not for logs)."""
    patients = []
    for patient in scan.patients:
        studies = []
        for study in patient.studies:
            pick = picks[study.key]
            why_not = {id(entry): why for entry, why in pick.not_picked}
            series = []
            for entry in study.series:
                facts = _series_facts(entry)
                facts["picked"] = entry is pick.chosen
                facts["why_not_picked"] = why_not.get(id(entry))
                facts["noise_hu"] = pick.noise_of(entry)
                series.append(facts)
            studies.append(
                {
                    "study_instance_uid": study.study_instance_uid,
                    "study_date": study.study_date,
                    "description": study.study_description,
                    "accession_number": study.accession_number,
                    "picked_series": pick.chosen.key if pick.chosen else None,
                    "pick_reason": pick.reason,
                    "series": series,
                }
            )
        patients.append(
            {
                "patient_name": patient.patient_name,
                "patient_id": patient.patient_id,
                "patient_birth_date": patient.patient_birth_date,
                "studies": studies,
            }
        )
    return {
        "path": str(scan.root),
        "dicomdir": str(scan.dicomdir) if scan.dicomdir else None,
        "n_files": scan.n_files,
        "n_images": scan.n_images,
        "n_non_dicom": scan.n_non_dicom,
        "n_analysable": sum(1 for entry in scan.series if entry.analysable),
        "patients": patients,
        "skipped": [
            {"path": str(s.path), "kind": s.kind.value, "reason": s.reason} for s in scan.skipped
        ],
    }


def _mm(value: float | None) -> str:
    return f"{value:g} mm" if value else "?"


def _kernel_text(entry: SeriesEntry) -> str:
    kernel = entry.kernel
    if not kernel.name:
        return "not recorded"
    return f"{entry.info.kernel_text} ({kernel.kernel_class.label}: {kernel.basis})"


def _pick_text(entry: SeriesEntry, pick: SeriesPick) -> str:
    """The pick reason without the series facts the "analysable:" line already gives."""
    facts = "; ".join(entry.reasons) + "; "
    return pick.reason[len(facts) :] if pick.reason.startswith(facts) else pick.reason


def _series_text(entry: SeriesEntry, pick: SeriesPick, why_not: str | None) -> list[str]:
    number = entry.info.series_number
    title = f'Series {number if number is not None else "?"} "{entry.description}"'
    mark = "[PICKED] " if entry is pick.chosen else ""
    spacing = entry.pixel_spacing_mm
    pixel = f"{spacing[0]:g}×{spacing[1]:g} mm" if spacing else "?"
    plane = entry.plane.value
    if entry.plane_angle_deg >= 0.5:
        plane += f" (tilted {entry.plane_angle_deg:.1f}°)"
    syntaxes = ", ".join(transfer_syntax_name(uid) for uid in entry.info.transfer_syntaxes)
    lines = [
        f"    {mark}{title}",
        f"      {entry.info.modality or '?'} {plane}, {entry.n_slices} slice(s)"
        f"{' in 1 multi-frame file' if entry.is_multiframe and len(entry.files) == 1 else ''}, "
        f"{entry.rows}×{entry.columns}, pixel {pixel}, thickness {_mm(entry.slice_thickness_mm)}, "
        f"spacing {_mm(entry.slice_spacing_mm)}",
        f"      transfer syntax: {syntaxes or '?'}",
        f"      kernel: {_kernel_text(entry)}",
    ]
    if entry.analysable:
        lines.append("      analysable: " + "; ".join(entry.reasons))
    else:
        lines.append("      NOT analysable: " + "; ".join(entry.reasons))
    if entry is pick.chosen:
        lines.append(f"      picked: {_pick_text(entry, pick)}")
    if why_not and entry.analysable:
        lines.append(f"      not picked: {why_not}")
    for notice in entry.notices:
        if notice.severity == Severity.ERROR and not entry.analysable:
            continue  # the refusal, already given as the reason
        lines.append(f"      {notice.severity.value}: {notice.message}")
    return lines


def to_text(scan: ScanResult, picks: dict[str, SeriesPick]) -> str:
    """The human-readable report."""
    n_analysable = sum(1 for entry in scan.series if entry.analysable)
    lines = [
        f"{scan.root}: {len(scan.patients)} patient(s), {len(scan.studies)} study(ies), "
        f"{len(scan.series)} series from {scan.n_images} image file(s); "
        f"{scan.n_files - scan.n_images} file(s) skipped",
    ]
    if scan.dicomdir:
        lines.append(f"DICOMDIR: {scan.dicomdir}")
    for patient in scan.patients:
        born = f", born {_date(patient.patient_birth_date)}" if patient.patient_birth_date else ""
        lines.append("")
        lines.append(
            f"Patient {patient.patient_name or '(no name)'} "
            f"(ID {patient.patient_id or '(none)'}{born})"
        )
        for study in patient.studies:
            pick = picks[study.key]
            why_not = {id(entry): why for entry, why in pick.not_picked}
            accession = f", accession {study.accession_number}" if study.accession_number else ""
            lines.append(
                f"  Study {_date(study.study_date) or '(no date)'} "
                f'"{study.study_description or "(no description)"}"{accession}'
            )
            for entry in study.series:
                lines.extend(_series_text(entry, pick, why_not.get(id(entry))))
    lines.append("")
    unreadable = [s for s in scan.skipped if s.kind != SkipKind.NOT_DICOM]
    non_dicom = [s for s in scan.skipped if s.kind == SkipKind.NOT_DICOM]
    if unreadable:
        lines.append(f"Files not used ({len(unreadable)}):")
        lines.extend(f"  {s.path}: {s.reason}" for s in unreadable)
    if non_dicom:
        lines.append(f"Non-DICOM files skipped ({len(non_dicom)}):")
        lines.extend(f"  {s.path}" for s in non_dicom[:_MAX_LISTED_NON_DICOM])
        if len(non_dicom) > _MAX_LISTED_NON_DICOM:
            lines.append(f"  ... and {len(non_dicom) - _MAX_LISTED_NON_DICOM} more")
    lines.append(
        f"{n_analysable} analysable series."
        if n_analysable
        else "No analysable series: see the reasons above."
    )
    return "\n".join(lines) + "\n"
