"""Study workflows that join the services: the network to the store, exports to a PACS.

Qt-free, so the GUI and the CLI call the same sequence. Owns no state of its own: every
function takes the store it writes to, on the thread that owns it. One study, folder to PDF:

* ``study``: scan a folder, pick and load a series (fingerprinted), register it;
* ``model``: find, verify and start the model once (``OpenModel``, ``ModelInfo``);
* ``analysis``: begin, save or end an analysis in the store (``analyse_and_store``);
* ``reading``: what the reader sees and records (stored analysis to show, reviews, ...);
* ``locate``: the series a user names (folder, file or Series Instance UID);
* ``report_inputs`` and ``exports``: a report's inputs from the store, the exports (PDF
  after an analysis with typed ``PdfOptions``) and their audit records. Reporting itself
  never touches the store.

Names are imported on first use (PEP 562): ``from mscc_desktop.workflow import
ReceiveSession`` must not load the reporting stack (reportlab, highdicom) that only sending
needs, because the GUI starts the listener right after its window shows.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mscc_desktop.workflow.pacs_send import (
        export_for_sending,
        outbox_root,
        record_sent,
        sent_kind,
    )
    from mscc_desktop.workflow.received import (
        PollResult,
        ReceiveSession,
        RegisteredSeries,
        ScannedArrival,
        register_received_series,
        register_retrieved,
        register_scanned,
        scan_arrival,
    )

_HOMES = {
    "export_for_sending": "pacs_send",
    "outbox_root": "pacs_send",
    "record_sent": "pacs_send",
    "sent_kind": "pacs_send",
    "PollResult": "received",
    "ReceiveSession": "received",
    "RegisteredSeries": "received",
    "register_received_series": "received",
    "register_retrieved": "received",
    "ScannedArrival": "received",
    "scan_arrival": "received",
    "register_scanned": "received",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "PollResult",
    "ReceiveSession",
    "RegisteredSeries",
    "ScannedArrival",
    "export_for_sending",
    "outbox_root",
    "record_sent",
    "register_received_series",
    "register_retrieved",
    "register_scanned",
    "scan_arrival",
    "sent_kind",
]
