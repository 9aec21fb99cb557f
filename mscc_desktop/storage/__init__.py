"""The local results store: SQLite through sqlite-utils.

Plain functions over a :class:`sqlite_utils.Database` owned by the GUI thread (or the CLI);
the pipeline's worker threads never write. Typical use::

    from mscc_desktop import storage

    db = storage.open_store()                                 # or open_store(args.db)
    series = storage.register_volume(db, volume, user=config.user_name)
    stored = storage.load_latest_analysis(
        db, series.id, model_id=prov.model_id, model_sha256=prov.model_sha256
    )
    if stored is None:
        analysis_id = storage.begin_analysis(db, series, provenance=prov, thresholds=th)
        ...  # worker runs the pipeline and hands back an AnalysisResult
        storage.save_analysis(db, series, result, analysis_id=analysis_id)
    storage.save_review(db, analysis_id, 1, decision=storage.ReviewDecision.ACCEPT,
                        vertebral_level="T7", user=config.user_name)

Every function that writes does so in one transaction together with its audit-log row.
The reader's vocabulary these functions take and return (``ReviewDecision``, ``Review``,
``ReviewStatus``, ``StudyStatus``, vertebral levels) is defined in :mod:`mscc_desktop.core.review`
and :mod:`mscc_desktop.core.vertebral_levels` and re-exported here for callers of the store.
"""

from __future__ import annotations

from mscc_desktop.core.review import Review, ReviewDecision, ReviewStatus, StudyStatus
from mscc_desktop.core.spine.levels import LevelNumbering
from mscc_desktop.core.vertebral_levels import VERTEBRAL_LEVELS, parse_vertebral_level
from mscc_desktop.storage._sql import write_transaction
from mscc_desktop.storage.analyses import begin_analysis, end_analysis, save_analysis
from mscc_desktop.storage.audit import audit_entries, record_audit, resolve_user
from mscc_desktop.storage.browser import add_recent_folder, list_studies, recent_folders
from mscc_desktop.storage.connection import (
    default_store_path,
    mark_interrupted_analyses,
    open_memory_store,
    open_store,
    prepare_store,
)
from mscc_desktop.storage.fingerprint import fingerprint_files, source_folder
from mscc_desktop.storage.level_numbering import load_level_numbering, save_level_numbering
from mscc_desktop.storage.records import (
    AnalysisSummary,
    AuditAction,
    AuditEntry,
    KeyImage,
    SeriesRecord,
    StoredAnalysis,
    StudyListEntry,
)
from mscc_desktop.storage.results import (
    analysis_history,
    find_latest_analysis,
    load_analysis,
    load_latest_analysis,
)
from mscc_desktop.storage.reviews import (
    key_images,
    load_reviews,
    save_review,
    set_key_image,
    set_study_no_mscc,
    set_study_review_status,
    study_no_mscc,
    study_review_status,
)
from mscc_desktop.storage.schema import SCHEMA_VERSION
from mscc_desktop.storage.send_log import (
    SendLogEntry,
    SendStatus,
    SentInstance,
    record_send,
    send_log,
)
from mscc_desktop.storage.series_rows import (
    get_series,
    known_source_folders,
    load_series_info,
    register_volume,
    series_for_study,
    upsert_series,
)

__all__ = [
    "SCHEMA_VERSION",
    "VERTEBRAL_LEVELS",
    "AnalysisSummary",
    "AuditAction",
    "AuditEntry",
    "KeyImage",
    "LevelNumbering",
    "Review",
    "ReviewDecision",
    "ReviewStatus",
    "SendLogEntry",
    "SendStatus",
    "SentInstance",
    "SeriesRecord",
    "StoredAnalysis",
    "StudyListEntry",
    "StudyStatus",
    "add_recent_folder",
    "analysis_history",
    "audit_entries",
    "begin_analysis",
    "default_store_path",
    "end_analysis",
    "find_latest_analysis",
    "fingerprint_files",
    "get_series",
    "key_images",
    "known_source_folders",
    "list_studies",
    "load_analysis",
    "load_latest_analysis",
    "load_level_numbering",
    "load_reviews",
    "load_series_info",
    "mark_interrupted_analyses",
    "open_memory_store",
    "open_store",
    "parse_vertebral_level",
    "prepare_store",
    "recent_folders",
    "record_audit",
    "record_send",
    "register_volume",
    "resolve_user",
    "save_analysis",
    "save_level_numbering",
    "save_review",
    "send_log",
    "series_for_study",
    "set_key_image",
    "set_study_no_mscc",
    "set_study_review_status",
    "source_folder",
    "study_no_mscc",
    "study_review_status",
    "upsert_series",
    "write_transaction",
]
