"""Measure how fast the installed app starts: ``--version``, main window shown, model ready.

    python installer/measure_startup.py dist/mscc-desktop [--repeats 5] [--drop-caches]

Every run is a first start: a new empty home folder (so the data folder and the results
store are created, as on a new workstation), a clean environment, Qt offscreen. Times are
wall-clock from launching the executable, measured outside it:

* ``version``: until ``mscc-desktop --version`` exits;
* ``window``:  until the app prints that its main window was shown (``MSCC_GUI_SMOKE=shown``);
* ``model``:   until the model is loaded and ready to analyse (``MSCC_GUI_SMOKE=model``).

Runs rotate through the three so that none always gets the warmest cache. With
``--drop-caches`` (root on Linux) the kernel's page cache is emptied before every run:
that is a cold start as after a reboot; without it, the bundle's files are in memory, as
when the app is started again. Prints a Markdown table and writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("version", "window", "model")


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="ascii")


def one_run(executable: Path, mode: str) -> float:
    """Seconds from launch to the mode's end point, in a fresh home folder."""
    with tempfile.TemporaryDirectory(prefix="mscc-start-") as home:
        env = {
            "HOME": home,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "QT_QPA_PLATFORM": "offscreen",
        }
        argv = [str(executable)]
        if mode == "version":
            argv.append("--version")
        else:
            env["MSCC_GUI_SMOKE"] = "shown" if mode == "window" else "model"
        marker = {"window": "MSCC_GUI_SMOKE shown", "model": "MSCC_GUI_SMOKE model ready"}
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert process.stdout is not None
        elapsed = None
        for line in process.stdout:
            if mode != "version" and line.startswith(marker[mode]):
                elapsed = time.perf_counter() - started
        code = process.wait(timeout=300)
        if mode == "version":
            elapsed = time.perf_counter() - started
        if code != 0 or elapsed is None:
            raise RuntimeError(f"{mode} run failed (exit {code})")
        return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", type=Path, help="the app folder (holding the executable)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--drop-caches", action="store_true", help="cold page cache each run")
    parser.add_argument("--json", type=Path, help="write the raw times here")
    args = parser.parse_args(argv)
    executable = (args.app / "mscc-desktop").resolve()
    if not executable.is_file():
        parser.error(f"{executable} not found")
    one_run(executable, "version")  # not counted: settles the first extraction's I/O
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for repeat in range(args.repeats):
        for mode in MODES[repeat % 3 :] + MODES[: repeat % 3]:
            if args.drop_caches:
                drop_caches()
            times[mode].append(one_run(executable, mode))
    cache = "cold (page cache dropped)" if args.drop_caches else "warm page cache"
    print(f"\n{platform.node()} · {os.cpu_count()} CPUs · {cache} · {args.repeats} runs each")
    print("| start-up | median s | min s | max s |\n|---|---|---|---|")
    for mode in MODES:
        values = times[mode]
        print(
            f"| {mode} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"cache": cache, "times_s": times}, indent=2) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
