"""The ``mscc-desktop`` command: GUI by default, subcommands for headless work.

Each subcommand lives in its own module ``mscc_desktop.cli.<name>`` with ``add_arguments``
and ``run``; only the chosen one is imported, so ``mscc-desktop info`` never pays for Qt or
onnxruntime and the GUI never pays for torch.

Exit codes (all subcommands): 0 success, 1 error, 2 nothing to do (e.g. no analysable
series), 3 analysis refused for every input, 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from mscc_desktop.core.app_logging import configure_logging
from mscc_desktop.core.errors import Cancelled, MsccError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOTHING = 2
EXIT_REFUSED = 3
EXIT_CANCELLED = 130

SUBCOMMANDS: dict[str, str] = {
    "info": "list patients, studies and series in a folder and which series can be analysed",
    "synth": "generate synthetic staging-CT studies with Bilsky-graded ground truth",
    "analyze": "analyse every analysable series under a folder (batch triage)",
    "studies": "list what the local results store holds",
    "report": "export the PDF summary, key images or DICOM outputs of an analysed series",
    "evaluate": "the paper's agreement and accuracy statistics for readers or the model",
    "train": "train the canal detector or the CWL grader (needs the 'train' extra)",
    "export": "export trained checkpoints to an ONNX model folder (needs the 'train' extra)",
    "models": "list installed models and verify their checksums",
    "listen": "receive studies from PACS or a scanner (DICOM Storage SCP; off unless started)",
    "send": "send an analysed series' results (SR, KOS, key images, PDF) to a PACS",
    "pacs": "check, search and retrieve from a PACS (C-ECHO, C-FIND, C-GET)",
    "dataset": "the site's reviewed studies as labelled training data (summary, export)",
    "adapt": "adapt a model to this site from its reviewed studies, checked against its base",
}


class _Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load_command(name: str) -> _Command:
    # The command table is data (SUBCOMMANDS): its modules are siblings in this package, so
    # loading them by name hides no arrow the import contracts need to see. The arrows out
    # of the CLI (to gui and training) are plain imports inside functions.
    return cast(_Command, importlib.import_module(f"mscc_desktop.cli.{name}_cmd"))


def _version_text() -> str:
    from mscc_desktop.cli.version import version_text

    return version_text()


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mscc-desktop",
        description=(
            "MSCC desktop workstation. Without a subcommand, starts the reading workstation.\n"
            "Subcommands: " + ", ".join(SUBCOMMANDS) + " (use 'mscc-desktop <cmd> --help')."
        ),
        epilog="\n".join(f"  {name:9s} {text}" for name, text in SUBCOMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", help="DICOM folder or file to open")
    parser.add_argument("--demo", action="store_true", help="open the synthetic demo study")
    parser.add_argument("--db", help="results store file (default: in the user data folder)")
    parser.add_argument("--version", action="store_true", help="print version and model, exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mscc-desktop`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            name = args_list[0]
            command = _load_command(name)
            parser = argparse.ArgumentParser(
                prog=f"mscc-desktop {name}", description=SUBCOMMANDS[name]
            )
            parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
            command.add_arguments(parser)
            args = parser.parse_args(args_list[1:])
            configure_logging(args.verbose)
            return command.run(args)
        args = _gui_parser().parse_args(args_list)
        configure_logging(args.verbose)
        if args.version:
            print(_version_text())
            return EXIT_OK
        from mscc_desktop.gui import app as gui_app  # Qt only when the workstation starts

        return int(gui_app.run_app(path=args.path, demo=args.demo, db=args.db))
    except MsccError as error:
        print(f"mscc-desktop: {error.message}", file=sys.stderr)
        return EXIT_ERROR
    except (Cancelled, KeyboardInterrupt):
        print("mscc-desktop: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "EXIT_NOTHING", "EXIT_OK", "SUBCOMMANDS", "main"]
