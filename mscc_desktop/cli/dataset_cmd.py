"""``mscc-desktop dataset``: the site's reviewed studies as training data.

``summary`` counts what the store holds (signed-off studies, labelled slices by group);
``export --reviewed`` writes them in the layout ``train``, ``evaluate --model`` and ``adapt``
read. The export never leaves the machine by itself: it goes where ``--out`` says, and
``--deidentify`` removes patient identity from the copies (an allow-list beyond PS3.15's
Basic Profile).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mscc_desktop.cli import EXIT_NOTHING, EXIT_OK

EPILOG = """\
examples:
  mscc-desktop dataset summary
  mscc-desktop dataset export --reviewed --out /data/site-labels --deidentify
  mscc-desktop dataset export --reviewed --out /data/site-labels --link   (no copies)

Labels: a "no MSCC" study is normal throughout; accepted findings keep their group, rejected
ones are normal, regraded ones take the reader's group; findings with no verdict are left out;
every other slice of a signed-off study is normal.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    sub = parser.add_subparsers(dest="action", required=True)
    summary = sub.add_parser("summary", help="what the store holds for site training")
    summary.add_argument("--db", metavar="FILE", help="results store")
    export = sub.add_parser("export", help="write the reviewed studies as training data")
    export.add_argument(
        "--reviewed", action="store_true", required=True, help="the signed-off studies"
    )
    export.add_argument("--out", required=True, metavar="DIR", help="dataset folder")
    how = export.add_mutually_exclusive_group()
    how.add_argument("--deidentify", action="store_true", help="de-identified copies")
    how.add_argument("--link", action="store_true", help="link to the source folders")
    export.add_argument("--db", metavar="FILE", help="results store")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from mscc_desktop.workflow.locate import open_existing_store
    from mscc_desktop.workflow.site_data import export_reviewed, reviewed_series

    db = open_existing_store(args.db)
    try:
        if args.action == "summary":
            _, summary = reviewed_series(db)
            groups = ", ".join(f"{n} {g}" for g, n in sorted(summary.slices_by_group.items()))
            print(
                f"{summary.n_studies} signed-off studies of {summary.n_patients} patients "
                f"({summary.studies_with_high} with a high-grade finding), {summary.n_series} "
                f"series; labelled slices: {groups or 'none'}; "
                f"{summary.n_left_out} slices left out"
            )
            for reason, count in summary.skipped.items():
                print(f"  {count} series skipped: {reason}")
            return EXIT_OK if summary.n_series else EXIT_NOTHING
        from mscc_desktop.cli.analyze_output import ProgressBar

        bar = ProgressBar(sys.stderr, enabled=not args.quiet)
        bar.start("Exporting the reviewed studies")
        result = export_reviewed(
            db, Path(args.out), deidentify=args.deidentify, link=args.link, progress=bar
        )
        bar.finish(f"{result.n_series} series")
        if not result.n_series:
            print(
                "No signed-off study with a current analysis: nothing to export.", file=sys.stderr
            )
            return EXIT_NOTHING
        groups = ", ".join(f"{n} {g}" for g, n in sorted(result.slices_by_group.items()))
        print(
            f"{result.n_series} series of {result.n_patients} patients ({groups}) "
            f"in {result.folder}"
        )
        return EXIT_OK
    finally:
        db.close()
