"""Schema of the results store, as sqlite-utils migrations.

Every schema change is a new migration appended to :data:`MIGRATIONS` and a bump of
:data:`SCHEMA_VERSION`; each migration ends by writing ``PRAGMA user_version`` so that older
software can refuse a store made by newer software before touching it. Migrations run inside
the caller's write transaction (see :func:`mscc_desktop.storage.connection.prepare_store`).

Integrity rules live in the schema itself, not only in Python, so that no code path can
break them:

* an analysis cannot be inserted as ``complete``; it becomes complete only by an UPDATE that
  a trigger checks against the number of slice and lesion rows it claims (and the save does
  both in one transaction): a half-written analysis never looks complete;
* the audit log refuses UPDATE and DELETE (``RAISE(ABORT)`` triggers);
* closed vocabularies are CHECK constraints; rows reference their parents by foreign key.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "mscc"
SCHEMA_VERSION = 5
"""The ``user_version`` this software writes; a store with a higher one is refused."""

MIGRATIONS = Migrations(MIGRATION_SET)

_INITIAL_SCHEMA = """
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL DEFAULT '',
    patient_name TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL DEFAULT '',
    sex TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    -- Never merge two people: a differing name or birth date is a different patient row.
    UNIQUE (patient_id, patient_name, birth_date)
);

CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    patient_ref INTEGER NOT NULL REFERENCES patients(id),
    study_key TEXT NOT NULL,  -- Study Instance UID, or 'folder:<path>' when it has none
    study_instance_uid TEXT NOT NULL DEFAULT '',
    study_id TEXT NOT NULL DEFAULT '',
    study_date TEXT NOT NULL DEFAULT '',
    study_time TEXT NOT NULL DEFAULT '',
    study_description TEXT NOT NULL DEFAULT '',
    accession_number TEXT NOT NULL DEFAULT '',
    institution_name TEXT NOT NULL DEFAULT '',
    referring_physician TEXT NOT NULL DEFAULT '',
    review_status TEXT NOT NULL DEFAULT 'unreviewed'
        CHECK (review_status IN ('unreviewed', 'in_progress', 'reviewed')),
    review_status_by TEXT,
    review_status_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (patient_ref, study_key)
);

CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    study_ref INTEGER NOT NULL REFERENCES studies(id),
    series_instance_uid TEXT NOT NULL DEFAULT '',
    source_path TEXT NOT NULL,
    part TEXT NOT NULL DEFAULT '',  -- tells apart volumes split from one Series Instance UID
    fingerprint TEXT NOT NULL,
    n_files INTEGER NOT NULL,
    series_number INTEGER,
    series_description TEXT NOT NULL DEFAULT '',
    modality TEXT NOT NULL DEFAULT '',
    manufacturer TEXT NOT NULL DEFAULT '',
    manufacturer_model TEXT NOT NULL DEFAULT '',
    kvp REAL,
    convolution_kernel TEXT NOT NULL DEFAULT '',
    contrast_agent TEXT NOT NULL DEFAULT '',
    body_part TEXT NOT NULL DEFAULT '',
    frame_of_reference_uid TEXT NOT NULL DEFAULT '',
    image_type TEXT NOT NULL DEFAULT '[]',  -- JSON list
    transfer_syntaxes TEXT NOT NULL DEFAULT '[]',  -- JSON list
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    fingerprint_changed_at TEXT,
    UNIQUE (study_ref, series_instance_uid, source_path, part)
);

CREATE TABLE analyses (
    id INTEGER PRIMARY KEY,
    series_ref INTEGER NOT NULL REFERENCES series(id),
    status TEXT NOT NULL CHECK (status IN
        ('running', 'complete', 'failed', 'cancelled', 'interrupted', 'refused')),
    source_fingerprint TEXT NOT NULL,  -- series fingerprint of the files that were analysed
    stale_at TEXT,  -- set while the series' fingerprint differs from source_fingerprint
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    backend TEXT NOT NULL,
    device TEXT NOT NULL,
    synthetic_only INTEGER NOT NULL,
    threshold_high REAL NOT NULL,
    threshold_any_mscc REAL NOT NULL,
    threshold_canal_score REAL NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration_s REAL,
    notices TEXT NOT NULL DEFAULT '[]',  -- JSON list of Notice.to_dict()
    software_version TEXT NOT NULL,
    user TEXT NOT NULL,
    error TEXT,
    has_findings INTEGER NOT NULL DEFAULT 0,
    n_slices INTEGER NOT NULL DEFAULT 0,
    n_lesions INTEGER NOT NULL DEFAULT 0,
    high_grade INTEGER,
    max_group TEXT CHECK (max_group IS NULL OR max_group IN ('normal', 'low', 'high')),
    n_high_slices INTEGER,
    n_low_slices INTEGER,
    n_canal_not_found INTEGER,
    max_p_high REAL,
    owner_host TEXT NOT NULL DEFAULT '',
    owner_pid INTEGER NOT NULL DEFAULT 0,
    owner_token TEXT NOT NULL DEFAULT '',
    CHECK (status NOT IN ('complete', 'refused', 'failed', 'cancelled')
           OR finished_at IS NOT NULL),
    CHECK (status != 'complete' OR has_findings = 1)
);
CREATE INDEX analyses_by_series_model ON analyses (series_ref, model_id, model_sha256, status);
CREATE INDEX analyses_by_status ON analyses (status);

CREATE TABLE analysis_slices (
    analysis_ref INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    slice_index INTEGER NOT NULL,
    z_mm REAL NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    box_x0 REAL,
    box_y0 REAL,
    box_x1 REAL,
    box_y1 REAL,
    detection_score REAL NOT NULL,
    p_normal REAL,
    p_low REAL,
    p_high REAL,
    grade_group TEXT CHECK (grade_group IS NULL OR grade_group IN ('normal', 'low', 'high')),
    windows_used TEXT NOT NULL DEFAULT '',  -- comma-separated WindowPreset values
    PRIMARY KEY (analysis_ref, slice_index)
) WITHOUT ROWID;

CREATE TABLE lesions (
    analysis_ref INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    grade_group TEXT NOT NULL CHECK (grade_group IN ('normal', 'low', 'high')),
    first_slice INTEGER NOT NULL,
    last_slice INTEGER NOT NULL,
    z_from_mm REAL NOT NULL,
    z_to_mm REAL NOT NULL,
    peak_probability REAL NOT NULL,
    key_slice INTEGER NOT NULL,
    n_abnormal_slices INTEGER NOT NULL,
    PRIMARY KEY (analysis_ref, number)
) WITHOUT ROWID;

CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    analysis_ref INTEGER NOT NULL,
    lesion_number INTEGER NOT NULL,
    decision TEXT CHECK (decision IS NULL OR decision IN ('accept', 'reject', 'regrade')),
    regraded_group TEXT CHECK (regraded_group IS NULL OR regraded_group IN
        ('normal', 'low', 'high')),
    vertebral_level TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    UNIQUE (analysis_ref, lesion_number),
    FOREIGN KEY (analysis_ref, lesion_number) REFERENCES lesions(analysis_ref, number),
    CHECK ((decision IS 'regrade') = (regraded_group IS NOT NULL))
);

-- Keyed by slice index: frames of one multi-frame file share a SOP Instance UID, and the
-- index is stable while the source files are unchanged (a change makes results stale).
CREATE TABLE key_images (
    series_ref INTEGER NOT NULL REFERENCES series(id),
    slice_index INTEGER NOT NULL,
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    marked INTEGER NOT NULL,
    user TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (series_ref, slice_index)
) WITHOUT ROWID;

CREATE TABLE recent_folders (
    path TEXT PRIMARY KEY,
    opened_at TEXT NOT NULL,
    times_opened INTEGER NOT NULL DEFAULT 1
);

-- No foreign keys here: the log must outlive anything it mentions.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    study_ref INTEGER,
    series_ref INTEGER,
    analysis_ref INTEGER,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_analysis ON audit_log (analysis_ref);
CREATE INDEX audit_by_study ON audit_log (study_ref);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');
END;

CREATE TRIGGER analyses_insert_not_complete BEFORE INSERT ON analyses
WHEN NEW.status = 'complete'
BEGIN
    SELECT RAISE(ABORT, 'insert an analysis as running, add its rows, then complete it');
END;

CREATE TRIGGER analyses_complete_needs_rows BEFORE UPDATE OF status ON analyses
WHEN NEW.status = 'complete' AND (
    (SELECT count(*) FROM analysis_slices WHERE analysis_ref = NEW.id) != NEW.n_slices
    OR (SELECT count(*) FROM lesions WHERE analysis_ref = NEW.id) != NEW.n_lesions)
BEGIN
    SELECT RAISE(ABORT, 'analysis rows missing: cannot mark it complete');
END;
"""


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    db.executescript(_INITIAL_SCHEMA)
    db.execute("PRAGMA user_version = 1")


# What the model card says about the probabilities an analysis stored: the temperature the
# pipeline scaled them with (1.0: none, as for every analysis made before this column) and
# the model's plain-language limitations (a JSON list), shown on every later report.
# Statement by statement: executescript() would first commit the caller's transaction.
_MODEL_CALIBRATION = (
    "ALTER TABLE analyses ADD COLUMN probability_temperature REAL NOT NULL DEFAULT 1.0",
    "ALTER TABLE analyses ADD COLUMN model_limitations TEXT NOT NULL DEFAULT '[]'",
)


@MIGRATIONS(name="0002_model_calibration")
def _model_calibration(db: Database) -> None:
    for statement in _MODEL_CALIBRATION:
        db.execute(statement)
    db.execute("PRAGMA user_version = 2")


# What was sent to which DICOM peer: one row per instance and attempt round, shown with the
# study ("send log"). No foreign key to analyses: a send of a study's exports outlives them.
_SEND_LOG = (
    """CREATE TABLE send_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    study_ref INTEGER REFERENCES studies(id),
    series_ref INTEGER REFERENCES series(id),
    analysis_ref INTEGER,
    destination TEXT NOT NULL,  -- the destination's name and AE title@host:port
    kind TEXT NOT NULL,  -- what was sent: sr, kos, sc, pdf, other
    sop_class_uid TEXT NOT NULL DEFAULT '',
    sop_instance_uid TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'cancelled')),
    dimse_status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT ''
)""",
    "CREATE INDEX send_log_by_study ON send_log (study_ref)",
)


@MIGRATIONS(name="0003_send_log")
def _send_log(db: Database) -> None:
    for statement in _SEND_LOG:
        db.execute(statement)
    db.execute("PRAGMA user_version = 3")


# The reader's whole-study verdict "no MSCC" (most staging CTs): one action that labels every
# slice of the study normal for the site's own training data.
_STUDY_VERDICT = (
    "ALTER TABLE studies ADD COLUMN no_mscc INTEGER NOT NULL DEFAULT 0 CHECK (no_mscc IN (0, 1))",
    "ALTER TABLE studies ADD COLUMN no_mscc_by TEXT",
    "ALTER TABLE studies ADD COLUMN no_mscc_at TEXT",
)


@MIGRATIONS(name="0004_study_no_mscc")
def _study_no_mscc(db: Database) -> None:
    for statement in _STUDY_VERDICT:
        db.execute(statement)
    db.execute("PRAGMA user_version = 4")


# The vertebral numbering the reader confirmed for an analysis: the automatic count's
# per-slice levels as proposed (a JSON list, null where none) and the reader's shift of the
# whole numbering (+1: one level towards the feet), with who and when. One row per analysis,
# replaced when the reader confirms again; the audit log keeps every confirmation.
_LEVEL_NUMBERING = (
    """CREATE TABLE level_numbering (
    analysis_ref INTEGER PRIMARY KEY REFERENCES analyses(id),
    proposed_levels TEXT NOT NULL,
    shift INTEGER NOT NULL DEFAULT 0 CHECK (shift BETWEEN -5 AND 5),
    reason TEXT NOT NULL DEFAULT '',
    confidence REAL NOT NULL DEFAULT 0.0,
    user TEXT NOT NULL,
    confirmed_at TEXT NOT NULL
)""",
)


@MIGRATIONS(name="0005_level_numbering")
def _level_numbering(db: Database) -> None:
    for statement in _LEVEL_NUMBERING:
        db.execute(statement)
    db.execute("PRAGMA user_version = 5")


MIGRATION_NAMES: tuple[str, ...] = (
    "0001_initial",
    "0002_model_calibration",
    "0003_send_log",
    "0004_study_no_mscc",
    "0005_level_numbering",
)
"""Every migration this software knows, in order (a store with others is from newer software)."""
