"""``mscc-desktop pacs``: check, search and retrieve from a PACS (C-ECHO, C-FIND, C-GET).

Retrieved studies go into the same managed folder as received ones and are registered in the
results store, with a ``retrieved`` row in the audit trail.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK

if TYPE_CHECKING:
    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.network import NetworkSettings, RemoteNode

EPILOG = """\
examples:
  mscc-desktop pacs echo PACS
  mscc-desktop pacs find PACS --patient-id 12345 --modality CT --date 20260101-20261231
  mscc-desktop pacs retrieve PACS 1.2.840.113619.2.55.3.604688119
  mscc-desktop pacs destinations                  list what Settings > Network holds

Search results show patient names and IDs on the terminal only; they are never logged.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("destinations", help="list the configured destinations")
    echo = sub.add_parser("echo", help="C-ECHO a destination")
    echo.add_argument("to", metavar="DEST", help="destination name or AE@host:port")
    find = sub.add_parser("find", help="search studies (C-FIND)")
    find.add_argument("to", metavar="DEST")
    find.add_argument("--patient-id", default="")
    find.add_argument("--name", default="", help="patient name; * and ? are wildcards")
    find.add_argument("--date", default="", help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    find.add_argument("--modality", default="", help="e.g. CT")
    get = sub.add_parser("retrieve", help="retrieve a study (C-GET) into the store")
    get.add_argument("to", metavar="DEST")
    get.add_argument("study_uid", metavar="STUDY_UID")
    get.add_argument("--db", metavar="FILE", help="results store (default: user data folder)")
    get.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.network import load_network_settings

    config = AppConfig.default(db=getattr(args, "db", None))
    settings = load_network_settings(config.data_dir)
    if args.action == "destinations":
        for node in settings.destinations:
            print(
                f"{node.name}\t{node.ae_title}@{node.host}:{node.port}"
                + ("\tTLS" if node.tls else "")
            )
        if not settings.destinations:
            print("No destinations: add them in Settings > Network.", file=sys.stderr)
            return EXIT_NOTHING
        return EXIT_OK
    node = settings.destination(args.to)
    ae_title = settings.listener.checked().ae_title
    if args.action == "echo":
        from mscc_desktop.network import echo

        seconds = echo(node, calling_ae=ae_title, tls=settings.tls)
        print(f"{node.label} answered in {seconds * 1000:.0f} ms")
        return EXIT_OK
    if args.action == "find":
        from mscc_desktop.network import StudyQuery, find_studies

        query = StudyQuery(args.patient_id, args.name, args.date, args.modality)
        studies = find_studies(node, query, calling_ae=ae_title, tls=settings.tls)
        for study in studies:
            print(
                "\t".join(
                    [
                        study.study_date,
                        study.patient_id,
                        study.patient_name,
                        "/".join(study.modalities),
                        study.study_description,
                        str(study.n_instances if study.n_instances is not None else "?"),
                        study.study_instance_uid,
                    ]
                )
            )
        print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}", file=sys.stderr)
        return EXIT_OK if studies else EXIT_NOTHING
    return _retrieve(args, config, settings, node, ae_title)


def _retrieve(
    args: argparse.Namespace,
    config: AppConfig,
    settings: NetworkSettings,
    node: RemoteNode,
    ae_title: str,
) -> int:
    from mscc_desktop import storage
    from mscc_desktop.cli.analyze_output import ProgressBar
    from mscc_desktop.network import received_root, retrieve_study
    from mscc_desktop.workflow import register_retrieved

    bar = ProgressBar(sys.stderr, enabled=not args.quiet)
    bar.start(f"Retrieving from {node.label}")
    report = retrieve_study(
        node,
        args.study_uid,
        received_root(config.data_dir),
        calling_ae=ae_title,
        tls=settings.tls,
        reserve_free_mb=settings.listener.reserve_free_mb,
        progress=bar,
    )
    bar.finish(f"{report.n_received} instance(s) received")
    db = storage.open_store(config.db_path)
    try:
        registered = register_retrieved(db, report, source=node, user=config.user_name)
    finally:
        db.close()
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    for series in registered:
        print(f"{series.arrival.n_instances} instance(s) in {series.arrival.series_folder}")
    if not report.n_received:
        print("Nothing was retrieved: check the Study Instance UID.", file=sys.stderr)
        return EXIT_NOTHING
    return EXIT_ERROR if report.errors or report.n_refused else EXIT_OK
