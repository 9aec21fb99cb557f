"""A finding never attaches to the wrong patient or to files that changed after the analysis.

* Folders mixing two patients in ways identity attributes alone get wrong (no UIDs, one ID
  for two names, one name and ID for two birth dates, an emptied identity) never load as
  one volume: every volume holds one patient's files.
* A series whose files change on disk after ``mscc-desktop analyze`` stored its results
  is noticed on the next run (fingerprint): the old analysis is marked stale, audited, no
  longer offered as current, and the new one is; restoring the files revives the old one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from mscc_desktop import storage
from mscc_desktop.cli import EXIT_OK, main
from mscc_desktop.core.dicom import load_series, open_folder, pick_series, scan_folder
from mscc_desktop.core.review import StudyStatus
from mscc_desktop.core.volume import SeriesInfo
from mscc_desktop.inference import backends
from tests.factories.dicom_factory import rewrite, series_info, strip_uids, write_series
from tests.factories.fake_backend import FakeBackend
from tests.factories.model_settings import FAKE_SETTINGS
from tests.inference.phantoms import phantom_slice

SHARED = {
    "study_instance_uid": "1.2.826.0.1.3680043.8.498.5150",
    "series_instance_uid": "1.2.826.0.1.3680043.8.498.5151",
}


def _identity(path: Path) -> tuple[str, str, str]:
    ds = dcmread(path, stop_before_pixels=True)
    return tuple(str(ds.get(k, "")) for k in ("PatientID", "PatientName", "PatientBirthDate"))  # type: ignore[return-value]


MIXES: dict[str, tuple[SeriesInfo, SeriesInfo, bool]] = {
    # name: (first patient, second patient, strip the UIDs of both)
    "no UIDs at all": (
        series_info(patient_id="P1", patient_name="First^Patient"),
        series_info(patient_id="P2", patient_name="Second^Patient"),
        True,
    ),
    "one ID, two names": (
        series_info(patient_id="123456", patient_name="Smith^John", **SHARED),
        series_info(patient_id="123456", patient_name="Jones^Mary", **SHARED),
        False,
    ),
    "one name and ID, two birth dates": (
        series_info(patient_id="P7", patient_name="Lee^Kim", patient_birth_date="1950", **SHARED),
        series_info(patient_id="P7", patient_name="Lee^Kim", patient_birth_date="1980", **SHARED),
        False,
    ),
    "identity emptied by an anonymiser": (
        series_info(patient_id="P9", patient_name="Known^Person", **SHARED),
        series_info(patient_id="", patient_name="", patient_birth_date="", **SHARED),
        False,
    ),
}  # fmt: skip


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_a_folder_mixing_two_patients_never_becomes_one_volume(tmp_path: Path, mix: str) -> None:
    first_info, second_info, strip = MIXES[mix]
    # Same geometry, slices interleaved half a spacing apart: one volume would look plausible.
    first = write_series(tmp_path, info=first_info, seed="one", spacing_mm=2.5)
    second = write_series(tmp_path, info=second_info, seed="two", spacing_mm=2.5, z0_mm=-1.25)
    if strip:
        strip_uids([*first.paths, *second.paths])
    scan = scan_folder(tmp_path, workers=1)
    assert len(scan.patients) == 2, mix
    for entry in scan.series:
        assert len({_identity(path) for path in entry.files}) == 1, mix
        volume = load_series(entry, workers=1)
        assert volume.n_slices == 12
        assert len({_identity(path) for path in volume.source_files}) == 1
        expected = first.hu if volume.info.patient_id == first_info.patient_id else second.hu
        if first_info.patient_id == second_info.patient_id:  # tell them apart by z
            expected = first.hu if volume.z_mm[0] == 0.0 else second.hu
        assert np.array_equal(volume.hu, expected)
    chosen = pick_series(scan.series).chosen
    assert chosen is not None and len({_identity(p) for p in chosen.files}) == 1
    assert len({_identity(p) for p in open_folder(tmp_path, workers=1).volume.source_files}) == 1


# ------------------------------------------------------------------- changed source files
SETTINGS = FAKE_SETTINGS


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "load_model_settings", lambda *_a, **_k: SETTINGS)
    monkeypatch.setattr(
        backends,
        "create_backend",
        lambda *_a, **_k: FakeBackend(grade_means=(0.5,) * 3, grade_stds=(0.25,) * 3),
    )


def _analyses(db_path: Path) -> list[dict[str, object]]:
    db = storage.open_store(db_path)
    try:
        return list(
            db.query("SELECT id, status, stale_at, source_fingerprint FROM analyses ORDER BY id")
        )
    finally:
        db.close()


def test_files_changed_after_analysis_make_the_old_results_stale(
    tmp_path: Path, fake_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    hu = np.stack([phantom_slice(fill=1.0 if 4 <= k <= 6 else 0.0) for k in range(12)])
    info = series_info(contrast_agent="IOPAMIDOL", patient_id="STALE1")
    made = write_series(tmp_path / "study", hu=hu, info=info, spacing_mm=4.0, seed="stale")
    db_path = tmp_path / "out" / "store.sqlite"
    backup = tmp_path / "backup"
    shutil.copytree(made.folder, backup)  # copy2: times kept

    assert main(["analyze", str(made.folder), "--db", str(db_path), "-q"]) == EXIT_OK
    (first,) = _analyses(db_path)
    assert first["status"] == "complete" and first["stale_at"] is None

    def edit(ds: object) -> None:  # e.g. a re-export that changed a slice
        ds.PixelData = bytes(len(ds.PixelData))  # type: ignore[attr-defined]

    rewrite(made.paths[5], edit)
    assert main(["analyze", str(made.folder), "--db", str(db_path), "-q"]) == EXIT_OK
    old, new = _analyses(db_path)
    assert old["stale_at"] is not None and new["stale_at"] is None
    assert old["source_fingerprint"] != new["source_fingerprint"]
    db = storage.open_store(db_path)
    try:
        (series,) = storage.series_for_study(db, storage.list_studies(db)[0].study_id)
        current = storage.load_latest_analysis(
            db, series.id, model_id=SETTINGS.model_id, model_sha256=SETTINGS.model_sha256
        )
        assert current is not None and current.id == new["id"]
        stale = storage.load_analysis(db, int(old["id"]))  # type: ignore[call-overload]
        assert stale.stale and "changed after this analysis" in stale.notices[-1].message
        actions = [entry.action for entry in storage.audit_entries(db)]
        assert storage.AuditAction.SOURCE_CHANGED in actions
    finally:
        db.close()

    # Files restored from the backup: the first analysis describes them again.
    shutil.rmtree(made.folder)
    shutil.copytree(backup, made.folder)
    db = storage.open_store(db_path)
    try:
        volume = load_series(scan_folder(made.folder, workers=1).series[0], workers=1)
        record = storage.register_volume(db, volume)
        assert record.stale_marked == 1  # the second analysis is now the stale one
        revived = storage.load_latest_analysis(
            db, record.id, model_id=SETTINGS.model_id, model_sha256=SETTINGS.model_sha256
        )
        assert revived is not None and revived.id == old["id"]
        assert storage.list_studies(db)[0].status is not StudyStatus.STALE
    finally:
        db.close()
