"""``mscc-desktop send``: send an analysed series' results to a PACS (C-STORE).

Writes the DICOM outputs (Secondary Capture key images, Key Object Selection, SR TID 1500 and
the PDF as Encapsulated PDF) into the app's outbox, sends them with retries, and records each
instance in the study's send log and the send in the audit trail. ``--files`` sends DICOM files
as they are instead (e.g. a folder written by ``report --dicom``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK

if TYPE_CHECKING:
    from sqlite_utils import Database

    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.reporting import ReportInputs

EPILOG = """\
examples:
  mscc-desktop send /media/cd/DICOM --to PACS                    results of the analysed series
  mscc-desktop send 1.2.840.113619.2.55.3 --to ORTHANC@10.1.2.3:4242 --deidentify
  mscc-desktop send --files ~/reports/DOE_JOHN_DICOM --to PACS    files already exported

Destinations are set up in Settings > Network (or given as AE@host:port).
exit codes: 0 all sent, 1 some or all failed, 2 nothing to send.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "series",
        nargs="?",
        metavar="SERIES_OR_FOLDER",
        help="DICOM folder or file of the analysed series, or its Series Instance UID",
    )
    parser.add_argument(
        "--to", required=True, metavar="DEST", help="destination name or AE@host:port"
    )
    parser.add_argument("--files", nargs="+", metavar="PATH", help="send these DICOM files/folders")
    parser.add_argument(
        "--deidentify", action="store_true", help="de-identify the exports (PS3.15)"
    )
    parser.add_argument("--series-uid", metavar="UID", help="pick this series in the folder")
    parser.add_argument("--retries", type=int, default=3, help="retries per instance (default 3)")
    parser.add_argument("--backoff", type=float, default=2.0, metavar="S", help="first retry wait")
    parser.add_argument("--db", metavar="FILE", help="results store (default: user data folder)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.append(path)
    return found


def run(args: argparse.Namespace) -> int:
    from mscc_desktop.cli.analyze_output import ProgressBar
    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.network import load_network_settings, send_files

    config = AppConfig.default(db=args.db)
    settings = load_network_settings(config.data_dir)
    node = settings.destination(args.to)
    ae_title = settings.listener.checked().ae_title
    bar = ProgressBar(sys.stderr, enabled=not args.quiet)
    if args.files:
        files = _files(args.files)
        inputs: ReportInputs | None = None
        db: Database | None = None
    else:
        if not args.series:
            print("mscc-desktop send: give the series, or --files", file=sys.stderr)
            return EXIT_NOTHING
        prepared = _export(args, config)
        if prepared is None:
            return EXIT_NOTHING
        db, inputs, files = prepared
    if not files:
        print("mscc-desktop send: nothing to send", file=sys.stderr)
        return EXIT_NOTHING
    try:
        bar.start(f"Sending {len(files)} instance(s) to {node.label}")
        report = send_files(
            files,
            node,
            calling_ae=ae_title,
            tls=settings.tls,
            retries=args.retries,
            backoff_s=args.backoff,
            progress=bar,
        )
        bar.finish(f"{report.n_sent} sent, {report.n_failed} failed")
        if db is not None:
            from mscc_desktop.workflow import record_sent

            record_sent(db, report, inputs=inputs, user=config.user_name)
    finally:
        if db is not None:
            db.close()
    for outcome in report.outcomes:
        if not outcome.sent:
            print(f"failed: {outcome.path.name}: {outcome.error}", file=sys.stderr)
    print(f"{report.n_sent} of {len(report.outcomes)} instance(s) sent to {node.label}")
    return EXIT_OK if report.n_failed == 0 else EXIT_ERROR


def _export(
    args: argparse.Namespace, config: AppConfig
) -> tuple[Database, ReportInputs, list[Path]] | None:
    from mscc_desktop.core.errors import ExportError
    from mscc_desktop.workflow import export_for_sending, outbox_root
    from mscc_desktop.workflow.exports import stored_report_inputs
    from mscc_desktop.workflow.locate import locate_series, open_existing_store

    db = open_existing_store(args.db)
    try:
        located = locate_series(db, args.series, series_uid=args.series_uid)
        if located.note:
            print(f"note: {located.note}", file=sys.stderr)
        inputs = stored_report_inputs(db, located)
    except (LookupError, ExportError) as error:
        db.close()
        print(f"mscc-desktop send: {getattr(error, 'message', error)}", file=sys.stderr)
        return None
    files = export_for_sending(
        inputs,
        outbox_root(config.data_dir),
        deidentify=args.deidentify,
        protected=[located.root],
    )
    return db, inputs, files
