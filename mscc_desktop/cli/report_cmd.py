"""``mscc-desktop report``: the PDF summary, key-image PNGs or DICOM outputs of an analysed series.

Uses the latest complete analysis stored for the series (run ``mscc-desktop analyze`` first)
with the reader's review, and writes into ``--out``, never into the source folder. Also holds
the ``analyze --pdf`` hook (:func:`add_pdf_option`, :func:`pdf_after_analysis`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mscc_desktop.cli import EXIT_NOTHING, EXIT_OK
from mscc_desktop.core.errors import ExportError

if TYPE_CHECKING:
    from sqlite_utils import Database

    from mscc_desktop.core.findings import AnalysisResult
    from mscc_desktop.core.volume import Volume

EPILOG = """\
examples:
  mscc-desktop report /media/cd/DICOM --out ~/reports                 PDF summary (A4)
  mscc-desktop report /media/cd/DICOM --out ~/reports --png --dicom   key images and DICOM
  mscc-desktop report 1.2.840.113619.2.55.3 --out ~/reports --pdf --deidentify --paper letter

exit codes: 0 written, 1 error, 2 nothing to report (no series, or not analysed yet).
Written files are listed on stdout; their names hold the patient's name unless --deidentify.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "series",
        metavar="SERIES_OR_FOLDER",
        help="DICOM folder or file of the series, or its Series Instance UID (from the store)",
    )
    parser.add_argument("--out", metavar="DIR", required=True, help="export folder")
    parser.add_argument("--pdf", action="store_true", help="PDF summary (default)")
    parser.add_argument("--png", action="store_true", help="key images as PNG files")
    parser.add_argument(
        "--dicom",
        action="store_true",
        help="Secondary Capture key images, Key Object Selection, Comprehensive SR and the "
        "PDF as Encapsulated PDF",
    )
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="remove patient identity (DICOM PS3.15 Basic profile; pseudonym, no dates)",
    )
    parser.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF paper size")
    parser.add_argument(
        "--window",
        choices=("bone", "abdomen", "spine"),
        default="spine",
        help="window of the single full-size PNG key images (default: spine)",
    )
    parser.add_argument("--series-uid", metavar="UID", help="pick this series in the folder")
    parser.add_argument("--db", metavar="FILE", help="results store (default: user data folder)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from mscc_desktop import storage
    from mscc_desktop.core.dicom import load_series
    from mscc_desktop.core.windows import WindowPreset
    from mscc_desktop.reporting import (
        ExportKind,
        ExportOptions,
        Paper,
        export_all,
        load_report_inputs,
        record_export,
    )
    from mscc_desktop.workflow.locate import locate_series, open_existing_store

    kinds = {k for k, on in ((ExportKind.PNG, args.png), (ExportKind.DICOM, args.dicom)) if on}
    if args.pdf or not kinds:
        kinds.add(ExportKind.PDF)
    db = open_existing_store(args.db)
    try:
        try:
            located = locate_series(db, args.series, series_uid=args.series_uid)
        except LookupError as error:
            print(f"mscc-desktop report: {error}", file=sys.stderr)
            return EXIT_NOTHING
        if located.note:
            print(f"note: {located.note}", file=sys.stderr)
        entry, root = located.entry, located.root
        volume = load_series(entry)
        record = storage.register_volume(db, volume, part=entry.split_note)
        try:
            inputs = load_report_inputs(db, volume, series_id=record.id)
        except ExportError as error:
            print(f"mscc-desktop report: {error.message}", file=sys.stderr)
            return EXIT_NOTHING
        if inputs.stale:
            print(
                "warning: the source files changed after the analysis; the report says so. "
                "Run 'mscc-desktop analyze' again for current results.",
                file=sys.stderr,
            )
        options = ExportOptions(
            kinds=frozenset(kinds),
            deidentify=args.deidentify,
            paper=Paper(args.paper),
            single_window=WindowPreset(args.window),
        )
        progress = None if args.quiet else _StderrProgress()
        results = export_all(inputs, args.out, options, protected=[root], progress=progress)
        if progress is not None:
            progress.done()
        for result in results:
            record_export(db, inputs, result)
            print(result.path)
        return EXIT_OK
    finally:
        db.close()


class _StderrProgress:
    """Coarse progress on stderr: one line per new step (no terminal control codes)."""

    def __init__(self) -> None:
        self._last = ""

    def __call__(self, fraction: float, text: str, /) -> None:
        if text != self._last and sys.stderr.isatty():
            sys.stderr.write(f"\r{int(fraction * 100):3d}% {text[:60]:60s}")
            sys.stderr.flush()
        self._last = text

    def done(self) -> None:
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 66 + "\r")


# ---------------------------------------------------------------- the analyze --pdf hook
def add_pdf_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--pdf DIR``, ``--paper`` and ``--deidentify`` to the ``analyze`` parser."""
    parser.add_argument(
        "--pdf",
        metavar="DIR",
        help="also write the PDF summary of every analysed series into DIR",
    )
    parser.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF paper size")
    parser.add_argument(
        "--deidentify", action="store_true", help="de-identify the PDF summaries (PS3.15 Basic)"
    )


def pdf_after_analysis(
    args: argparse.Namespace,
    volume: Volume,
    result: AnalysisResult,
    *,
    db: Database | None = None,
    analysis_id: int | None = None,
    scan_root: Path | None = None,
) -> Path | None:
    """The ``analyze --pdf`` step for one analysed series; the PDF path, or ``None``.

    Call it right after the analysis is stored. Refused or failed analyses have nothing to
    report (``None``). With the store it uses the stored analysis (and any review); with
    ``--no-db`` the result in memory. ``scan_root`` (the analysed folder) is refused as a
    target like the series' own folders.

    Raises
    ------
    ExportError
        ``--pdf`` points into the source folder or cannot be written.
    """
    from mscc_desktop.core.findings import AnalysisStatus
    from mscc_desktop.reporting import (
        Paper,
        export_pdf,
        load_report_inputs,
        record_export,
        report_inputs,
    )

    if not getattr(args, "pdf", None) or result.status is not AnalysisStatus.COMPLETE:
        return None
    if db is not None and analysis_id is not None:
        inputs = load_report_inputs(db, volume, analysis_id=analysis_id)
    else:
        inputs = report_inputs(volume, result)
    written = export_pdf(
        inputs,
        args.pdf,
        deidentify=bool(getattr(args, "deidentify", False)),
        paper=Paper(getattr(args, "paper", "a4")),
        protected=[scan_root] if scan_root is not None else (),
    )
    if db is not None:
        record_export(db, inputs, written)
    return written.path


__all__ = ["add_arguments", "add_pdf_option", "pdf_after_analysis", "run"]
