"""The store's records as the GUI and the CLI see them.

The front ends reach the store only through the workflow (issue 22: no module outside
``storage``, ``workflow`` and the CLI imports ``storage``); the rows they show (a study in the
browser, a series, a send-log line) are the store's own frozen records, named here.
"""

from __future__ import annotations

from mscc_desktop.storage.records import SeriesRecord, StoredAnalysis, StudyListEntry
from mscc_desktop.storage.send_log import SendLogEntry, SendStatus

__all__ = ["SendLogEntry", "SendStatus", "SeriesRecord", "StoredAnalysis", "StudyListEntry"]
