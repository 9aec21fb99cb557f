"""``mscc-desktop studies``: list what the local results store holds, flagged studies first.

Patient names and IDs go to stdout for the user to read, never to the log. Exit codes: 0 when
the store lists at least one study, 2 when there is no store or it is empty, 1 on a store error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TextIO

from mscc_desktop.cli import EXIT_NOTHING, EXIT_OK
from mscc_desktop.storage import StudyListEntry, default_store_path, list_studies, open_store

logger = logging.getLogger(__name__)

_STATUS_TEXT = {
    "not_analysed": "not analysed",
    "in_progress": "in progress",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="FILE", help="results store file (default: in the user data folder)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the list as JSON instead of a table"
    )


def run(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_store_path()
    if not path.is_file():
        print(f"No results store at {path}: nothing has been analysed yet.", file=sys.stderr)
        return EXIT_NOTHING
    db = open_store(path, read_only=True)  # listing never changes the store
    try:
        entries = list_studies(db)
    finally:
        db.close()
    logger.info("store lists %d studies", len(entries))  # a count only: no patient data
    if args.json:
        json.dump([entry_json(e) for e in entries], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(entries, path, sys.stdout)
    return EXIT_OK if entries else EXIT_NOTHING


def entry_json(entry: StudyListEntry) -> dict[str, object]:
    """One study as plain JSON values (patient data included: this goes to the user)."""
    return {
        "study_id": entry.study_id,
        "study_instance_uid": entry.study_instance_uid,
        "patient_name": entry.patient_name,
        "patient_id": entry.patient_id,
        "study_date": entry.study_date,
        "study_description": entry.study_description,
        "accession_number": entry.accession_number,
        "n_series": entry.n_series,
        "status": entry.status.value,
        "high_grade": entry.high_grade,
        "max_group": None if entry.max_group is None else entry.max_group.value,
        "max_p_high": entry.max_p_high,
        "max_p_high_cut_off": entry.max_p_high_cut_off,
        "n_lesions": entry.n_lesions,
        "review_status": entry.review_status.value,
        "last_analysed_at": (
            None if entry.last_analysed_at is None else entry.last_analysed_at.isoformat()
        ),
        "source_paths": [str(p) for p in entry.source_paths],
    }


def print_table(entries: list[StudyListEntry], path: Path, out: TextIO) -> None:
    """The human-readable list: one line per study, flagged ones marked and first."""
    out.write(f"{len(entries)} studies in {path}\n")
    if not entries:
        return
    header = (
        "",
        "Patient",
        "ID",
        "Date",
        "Description",
        "Status",
        "Grade",
        "P(high)",
        "Cut-off",
        "Review",
    )
    rows = [header]
    for e in entries:
        rows.append(
            (
                "HIGH" if e.high_grade else "",
                e.patient_name.replace("^", " ").strip() or "(no name)",
                e.patient_id,
                _date(e.study_date),
                e.study_description,
                _STATUS_TEXT.get(e.status.value, e.status.value),
                "" if e.max_group is None else e.max_group.label,
                "" if e.max_p_high is None else f"{e.max_p_high:.2f}",
                "" if e.max_p_high_cut_off is None else f"{e.max_p_high_cut_off:.2f}",
                _STATUS_TEXT.get(e.review_status.value, e.review_status.value),
            )
        )
    widths = [min(max(len(row[i]) for row in rows), 32) for i in range(len(header))]
    for row in rows:
        cells = (cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row))
        out.write("  ".join(cells).rstrip() + "\n")


def _date(dicom_date: str) -> str:
    if len(dicom_date) == 8 and dicom_date.isdigit():
        return f"{dicom_date[:4]}-{dicom_date[4:6]}-{dicom_date[6:]}"
    return dicom_date
