"""Study workflows that join the services: the network to the store, exports to a PACS.

Qt-free, so the GUI and the CLI call the same sequence. Owns no state of its own: every
function takes the store it writes to, on the thread that owns it.
"""

from __future__ import annotations

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
    register_received_series,
    register_retrieved,
)

__all__ = [
    "PollResult",
    "ReceiveSession",
    "RegisteredSeries",
    "export_for_sending",
    "outbox_root",
    "record_sent",
    "register_received_series",
    "register_retrieved",
    "sent_kind",
]
