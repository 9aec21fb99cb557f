"""The hospital network: receive studies, send results, query and retrieve (pynetdicom).

No Qt and no store here: the functions below talk DICOM and write files into the managed
folder; the caller that owns the store records what they report (``mscc_desktop.workflow``).

Typical use (``mscc-desktop listen``)::

    settings = load_network_settings(config.data_dir)
    with StorageReceiver(settings.listener, received_root(config.data_dir)) as receiver:
        tracker = ArrivalTracker(settings.listener.quiet_seconds)
        while True:
            events = receiver.events()          # record them in the audit trail
            tracker.add(events)
            for series in tracker.complete():   # register, maybe analyse
                ...
"""

from __future__ import annotations

from pathlib import Path

from mscc_desktop.network.arrivals import ArrivalTracker, SeriesArrival
from mscc_desktop.network.managed_folder import RECEIVED_FOLDER, safe_component
from mscc_desktop.network.nodes import (
    ListenerSettings,
    NetworkSettings,
    RemoteNode,
    TlsSettings,
    load_network_settings,
    save_network_settings,
)
from mscc_desktop.network.query import (
    RemoteStudy,
    RetrieveReport,
    StudyQuery,
    echo,
    find_studies,
    retrieve_study,
)
from mscc_desktop.network.receiver import ReceiverEvent, ReceiverEventKind, StorageReceiver
from mscc_desktop.network.sender import InstanceOutcome, SendReport, send_files


def received_root(data_dir: Path) -> Path:
    """The managed folder that received and retrieved studies are written into."""
    return Path(data_dir) / RECEIVED_FOLDER


__all__ = [
    "ArrivalTracker",
    "InstanceOutcome",
    "ListenerSettings",
    "NetworkSettings",
    "ReceiverEvent",
    "ReceiverEventKind",
    "RemoteNode",
    "RemoteStudy",
    "RetrieveReport",
    "SendReport",
    "SeriesArrival",
    "StorageReceiver",
    "StudyQuery",
    "TlsSettings",
    "echo",
    "find_studies",
    "load_network_settings",
    "received_root",
    "retrieve_study",
    "safe_component",
    "save_network_settings",
    "send_files",
]
