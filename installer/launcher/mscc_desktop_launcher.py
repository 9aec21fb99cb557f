"""Entry point of the installed (frozen) mscc-desktop app.

Does what ``mscc-desktop`` does from a Python install (``mscc_desktop.cli.main``: the
workstation by default, subcommands for headless work), plus two things only a frozen app
needs:

* ``multiprocessing.freeze_support()`` first: DICOM decoding runs in worker processes
  (forkserver on Linux, spawn elsewhere) that re-enter this executable;
* with ``MSCC_GUI_SMOKE`` set, a start-up self-check of the GUI (``mscc_gui_smoke``) that
  the installer test and site IT use to prove the installed app starts and shows its window.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def main() -> int:
    multiprocessing.freeze_support()
    if os.environ.get("MSCC_GUI_SMOKE"):
        from mscc_gui_smoke import run_smoke

        return run_smoke(sys.argv[1:])
    from mscc_desktop.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
