"""``mscc-desktop report``: the PDF summary, key-image PNGs or DICOM outputs of an analysed series.

Uses the latest complete analysis stored for the series (run ``mscc-desktop analyze`` first)
with the reader's review, and writes into ``--out``, never into the source folder. The steps
are the workflow's (``workflow.locate``, ``workflow.exports``); this module parses and prints.
"""

from __future__ import annotations

import argparse
import sys

from mscc_desktop.cli import EXIT_NOTHING, EXIT_OK
from mscc_desktop.core.errors import ExportError

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
    from mscc_desktop.core.windows import WindowPreset
    from mscc_desktop.reporting import ExportKind, ExportOptions, Paper
    from mscc_desktop.workflow.exports import export_and_record, stored_report_inputs
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
        try:
            inputs = stored_report_inputs(db, located)
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
        results = export_and_record(
            db, inputs, args.out, options, protected=[located.root], progress=progress
        )
        if progress is not None:
            progress.done()
        for result in results:
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


__all__ = ["add_arguments", "run"]
