"""``mscc-desktop listen``: receive studies from PACS or a scanner (Storage SCP + C-ECHO).

Runs until Ctrl+C. Settings come from ``network.json`` (the GUI's Settings > Network); the
options below override them for this run only. Every association is audited; each series is
registered in the results store once no instance of it arrived for the quiet time, and with
``--analyse`` it is then analysed as ``mscc-desktop analyze`` would.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mscc_desktop.cli import EXIT_OK

if TYPE_CHECKING:
    from mscc_desktop.network import NetworkSettings, ReceiverEvent
    from mscc_desktop.workflow import ReceiveSession

EPILOG = """\
examples:
  mscc-desktop listen                                  use Settings > Network
  mscc-desktop listen --port 11112 --ae-title MSCC --allow-ae PACS --allow-address 10.1.2.0/24
  mscc-desktop listen --analyse                        analyse each complete CT series

Received studies are kept under the user data folder (received/); the store lists them.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--ae-title", help="this workstation's AE title")
    parser.add_argument("--port", type=int, help="TCP port to listen on")
    parser.add_argument("--bind", metavar="ADDRESS", help="address to listen on (default all)")
    parser.add_argument(
        "--allow-ae", action="append", metavar="AE", help="accept only these calling AE titles"
    )
    parser.add_argument(
        "--allow-address",
        action="append",
        metavar="IP_OR_NET",
        help="accept only callers from these addresses or networks (e.g. 10.1.2.0/24)",
    )
    parser.add_argument("--quiet-time", type=float, metavar="S", help="seconds before complete")
    parser.add_argument(
        "--analyse", action="store_true", help="analyse each complete, analysable CT series"
    )
    parser.add_argument("--db", metavar="FILE", help="results store (default: user data folder)")
    parser.add_argument(
        "--for-seconds", type=float, help=argparse.SUPPRESS
    )  # tests: stop after this long


def _listener(args: argparse.Namespace, data_dir: Path) -> NetworkSettings:
    from mscc_desktop.network import load_network_settings

    settings = load_network_settings(data_dir)
    changes: dict[str, object] = {"enabled": True}
    for option, field in (
        ("ae_title", "ae_title"),
        ("port", "port"),
        ("bind", "bind_address"),
        ("quiet_time", "quiet_seconds"),
    ):
        value = getattr(args, option)
        if value is not None:
            changes[field] = value
    if args.allow_ae:
        changes["allowed_ae_titles"] = tuple(args.allow_ae)
    if args.allow_address:
        changes["allowed_addresses"] = tuple(args.allow_address)
    if args.analyse:
        changes["analyse_when_complete"] = True
    listener = dataclasses.replace(settings.listener, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(settings, listener=listener)


def run(args: argparse.Namespace) -> int:
    from mscc_desktop import storage
    from mscc_desktop.core.config import AppConfig
    from mscc_desktop.network import StorageReceiver, received_root
    from mscc_desktop.workflow import ReceiveSession

    config = AppConfig.default(db=args.db)
    settings = _listener(args, config.data_dir)
    listener = settings.listener.checked()
    db = storage.open_store(config.db_path)
    receiver = StorageReceiver(listener, received_root(config.data_dir), tls=settings.tls)
    session = ReceiveSession(db, quiet_seconds=listener.quiet_seconds, user=config.user_name)
    recovered = session.recover(receiver.root)
    if recovered:
        print(
            f"{recovered} series received before but never registered (the program stopped "
            "first) are registered now, marked possibly incomplete.",
            file=sys.stderr,
        )
    receiver.start()
    print(
        f"Listening as {listener.ae_title} on port {receiver.port}"
        + (" (TLS)" if settings.tls.enabled else "")
        + ". Ctrl+C stops.",
        file=sys.stderr,
        flush=True,
    )
    stop_at = time.monotonic() + args.for_seconds if args.for_seconds else None
    reported: dict[Path, int] = {}
    try:
        while stop_at is None or time.monotonic() < stop_at:
            time.sleep(0.25)
            _poll(session, receiver.events(), reported, listener.analyse_when_complete, args)
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        receiver.stop()
        # Whatever arrived before the stop is complete as far as this run goes.
        _poll(session, receiver.events(), reported, False, args, flush=True)
        db.close()
    return EXIT_OK


def _poll(
    session: ReceiveSession,
    events: list[ReceiverEvent],
    reported: dict[Path, int],
    analyse: bool,
    args: argparse.Namespace,
    *,
    flush: bool = False,
) -> None:
    result = session.poll(events, flush=flush)
    for reason in result.refused:
        print(f"refused: {reason}", file=sys.stderr, flush=True)
    for arrival in session.arriving():
        if reported.get(arrival.series_folder) != arrival.n_instances:
            reported[arrival.series_folder] = arrival.n_instances
            print(
                f"receiving from {arrival.calling_ae or '?'}: {arrival.n_instances} instance(s)",
                file=sys.stderr,
                flush=True,
            )
    for series in result.registered:
        reported.pop(series.arrival.series_folder, None)
        state = " (association aborted: may be incomplete)" if series.arrival.interrupted else ""
        print(
            f"complete: {series.arrival.n_instances} instance(s), "
            f"{len(series.records)} series registered{state} in {series.arrival.series_folder}",
            flush=True,
        )
        if analyse and not series.arrival.interrupted:
            for folder in series.analysable:
                _analyse(folder, args)


def _analyse(folder: Path, args: argparse.Namespace) -> None:
    """Analyse a received series exactly as ``mscc-desktop analyze FOLDER`` does."""
    from mscc_desktop.cli import main

    command = ["analyze", str(folder), "-q"]
    if args.db:
        command += ["--db", str(args.db)]
    code = main(command)
    print(f"analysis of {folder}: exit {code}", flush=True)
