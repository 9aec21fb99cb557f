"""Folder scans: any file name, junk and damaged files, DICOMDIR, links, progress, cancel."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, MediaStorageDirectoryStorage

from mscc_desktop.core.dicom import SkipKind, scan_folder
from mscc_desktop.core.dicom.scan import looks_like_dicom
from mscc_desktop.core.errors import Cancelled, NothingToLoadError
from mscc_desktop.core.tasks import CancelToken
from tests.factories import dicom_factory as factory


def test_finds_images_in_nested_folders_without_extensions(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "a" / "b" / "c", n_slices=12)
    scan = scan_folder(tmp_path)
    assert scan.n_images == 12
    assert len(scan.series) == 1 and scan.series[0].n_slices == 12
    assert all(p.suffix == "" for p in scan.series[0].files)


def test_junk_is_skipped_and_counted_damaged_listed(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    junk = factory.junk_files(tmp_path / "junk")
    truncated = factory.truncated_copy(made.paths[0], tmp_path / "junk" / "cut")
    scan = scan_folder(tmp_path)
    assert scan.n_images == 12
    assert scan.n_non_dicom == len(junk)
    reasons = {s.path: s for s in scan.skipped}
    assert reasons[junk["fake_dcm"]].kind == SkipKind.NOT_DICOM
    assert reasons[truncated].kind == SkipKind.UNREADABLE
    assert "truncated" in reasons[truncated].reason
    assert [s.path for s in scan.unreadable] == [truncated]


def test_text_file_is_not_dicom_even_with_force() -> None:
    assert not looks_like_dicom(b"hello world, this is a text file" * 10)
    assert not looks_like_dicom(b"")
    assert looks_like_dicom(b"\x00" * 128 + b"DICM")
    # An old ACR-NEMA style file: no preamble, starts with an (0008,xxxx) element.
    assert looks_like_dicom(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100")


def test_damaged_header_is_listed_with_a_reason(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    data = bytearray(made.paths[0].read_bytes())
    first = data.index(b"\x08\x00\x05\x00")  # (0008,0005), the first dataset element
    data[first + 4 : first + 12] = b"SQ\x00\x00\xff\xff\xff\xff"  # a sequence that never ends
    broken = tmp_path / "broken"
    broken.write_bytes(bytes(data))
    scan = scan_folder(tmp_path)
    assert scan.n_images == 12
    (skipped,) = scan.unreadable
    assert skipped.path == broken and skipped.kind == SkipKind.UNREADABLE
    assert skipped.reason.startswith("damaged or truncated DICOM file (")


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom complains about every mutation
def test_fuzzed_files_never_break_the_scan(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path / "ok", n_slices=12)
    original = made.paths[0].read_bytes()
    fuzz = tmp_path / "fuzz"
    fuzz.mkdir()
    import numpy as np

    rng = np.random.default_rng(7)
    for index in range(60):
        data = bytearray(original)
        for _ in range(8):
            data[int(rng.integers(132, 1200))] = int(rng.integers(0, 256))
        (fuzz / f"f{index}").write_bytes(bytes(data[: int(rng.integers(150, len(data)))]))
    scan = scan_folder(tmp_path)
    assert scan.n_files == 72
    assert scan.n_images + len(scan.skipped) == 72
    assert all(s.reason for s in scan.skipped)


def test_symlink_loops_are_cut_and_linked_files_counted_once(tmp_path: Path) -> None:
    factory.write_series(tmp_path / "series", n_slices=12)
    os.symlink(tmp_path, tmp_path / "series" / "loop")
    os.symlink(tmp_path / "series", tmp_path / "again")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    scan = scan_folder(tmp_path)
    assert scan.n_images == 12
    assert scan.series[0].n_images == 12


def test_single_file_path(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)
    scan = scan_folder(made.paths[0])
    assert scan.n_images == 1 and scan.n_files == 1


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(NothingToLoadError, match="does not exist"):
        scan_folder(tmp_path / "absent")


def _dicomdir(folder: Path, referenced: list[list[str]]) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.4")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "TEST"
    records = []
    for components in referenced:
        record = Dataset()
        record.DirectoryRecordType = "IMAGE"
        record.ReferencedFileID = components
        records.append(record)
    ds.DirectoryRecordSequence = Sequence(records)
    path = folder / "DICOMDIR"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicomdir_is_used_and_missing_entries_reported(tmp_path: Path) -> None:
    made = factory.write_series(
        tmp_path / "IMAGES", n_slices=12, naming=factory.FileNaming.SEQUENTIAL_NO_EXT
    )
    listed = [["IMAGES", p.name] for p in made.paths] + [["IMAGES", "GONE"], ["..", "ETC"]]
    dicomdir = _dicomdir(tmp_path, listed)
    scan = scan_folder(dicomdir)
    assert scan.dicomdir == dicomdir
    assert scan.n_images == 12
    kinds = {s.kind for s in scan.skipped}
    assert SkipKind.MISSING in kinds and SkipKind.DICOMDIR in kinds
    missing = [s for s in scan.skipped if s.kind == SkipKind.MISSING]
    assert any("outside" in s.reason for s in missing)
    assert any(s.path.name == "GONE" for s in missing)


def test_thousand_file_scan_reports_progress(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path / "src", n_slices=10, rows=8, cols=8)
    many = tmp_path / "many"
    many.mkdir()
    for index in range(1000):
        shutil.copyfile(made.paths[index % 10], many / f"{index:04d}")
    seen: list[float] = []
    scan = scan_folder(many, progress=lambda f, t: seen.append(f), workers=2)
    assert scan.n_files == 1000 and scan.n_images == 1000
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == 1.0
    # 1,000 copies of 10 positions: one series, with duplicates reported.
    assert scan.series[0].n_slices == 10


@pytest.mark.parametrize("workers", [1, 2])
def test_thousand_file_scan_can_be_cancelled(tmp_path: Path, workers: int) -> None:
    made = factory.write_series(tmp_path / "src", n_slices=10, rows=8, cols=8)
    many = tmp_path / "many"
    many.mkdir()
    for index in range(1000):
        shutil.copyfile(made.paths[index % 10], many / f"{index:04d}")
    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, text: str) -> None:
        seen.append(fraction)
        if fraction >= 0.2:
            token.cancel()

    with pytest.raises(Cancelled):
        scan_folder(many, progress=progress, cancel=token, workers=workers)
    assert 0.2 <= max(seen) < 0.9


def test_scan_opens_nothing_for_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    factory.write_series(tmp_path, n_slices=12)
    factory.junk_files(tmp_path)
    modes: list[str] = []
    real_open = Path.open

    def spy(self: Path, mode: str = "r", *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        modes.append(mode)
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", spy)
    before = sorted(os.listdir(tmp_path))
    scan_folder(tmp_path, workers=1)
    assert modes and all(m == "rb" for m in modes)
    assert sorted(os.listdir(tmp_path)) == before


def test_hostile_frame_count_is_refused_during_the_scan(tmp_path: Path) -> None:
    made = factory.write_series(tmp_path, n_slices=12)

    def hostile(ds: Dataset) -> None:
        ds.NumberOfFrames = 2_000_000_000

    factory.rewrite(made.paths[0], hostile)
    scan = scan_folder(tmp_path)
    (skipped,) = scan.unreadable
    assert skipped.path == made.paths[0] and "2000000000 frames" in skipped.reason
    assert scan.n_images == 11
