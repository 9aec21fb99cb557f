"""Hostile header values, sizes, names and folder layouts: loaded or reported, never a crash.

Extends the importer's own tests (tests/core/dicom) with the hostile cases: absurd declared
sizes (checked against the memory actually used), zero/negative/NaN/inf geometry and rescale,
any numeric text in any numeric attribute (hypothesis), pixel data of the wrong length, 10,000
slices, sequences nested 10,000 deep, odd file names, and symbolic-link loops, FIFOs and
devices in the scanned folder.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mscc_desktop.core.dicom import load_series, scan_folder
from mscc_desktop.core.errors import MsccError, UnusableSeriesError
from mscc_desktop.core.notices import NoticeCode
from tests.factories.dicom_factory import MadeSeries, write_series
from tests.hardening.fuzz_mutations import NUMBER_TEXTS
from tests.hardening.fuzz_runner import volume_problem
from tests.hardening.hostile import many_slice_series, nested_sequence_file, set_raw

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on every bad value


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (the scan runs in this thread: ``workers=1``)."""

    def expired(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def series(folder: Path, n_slices: int = 10, size: int = 32) -> MadeSeries:
    return write_series(folder, n_slices=n_slices, rows=size, cols=size)


# ------------------------------------------------------------------------ absurd sizes
@pytest.mark.parametrize(
    ("rows", "columns", "frames"),
    [(65535, 65535, "1"), (4097, 512, "1"), (4096, 4096, "19999"), (16384, 16384, "5")],
)
def test_absurd_declared_sizes_are_refused_before_allocating(
    tmp_path: Path, rows: int, columns: int, frames: str
) -> None:
    made = series(tmp_path / "s", n_slices=3)
    for path in made.paths:
        set_raw(path, "Rows", "US", rows)
        set_raw(path, "Columns", "US", columns)
        set_raw(path, "NumberOfFrames", "IS", frames)
    tracemalloc.start()
    try:
        scan = scan_folder(tmp_path / "s", workers=1)
        for entry in scan.series:
            with pytest.raises(UnusableSeriesError, match="beyond what can be loaded safely"):
                load_series(entry, workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scan.series, "the files must reach the loader for this test to mean anything"
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB allocated for three tiny files"


def test_billions_of_frames_are_refused_by_the_scan(tmp_path: Path) -> None:
    made = series(tmp_path / "s", n_slices=10)
    set_raw(made.paths[0], "NumberOfFrames", "IS", "2147483647")
    scan = scan_folder(tmp_path / "s", workers=1)
    (skipped,) = scan.unreadable
    assert "2147483647 frames" in skipped.reason
    assert scan.series[0].n_slices == 9


# ------------------------------------------------------------- geometry and rescale values
CASES = [
    # (keyword, VR, value on every file, the refusal the reader sees, reported as BAD_VALUE)
    ("PixelSpacing", "DS", "0\\0", "pixel spacing missing", True),
    ("PixelSpacing", "DS", "-0.8\\-0.8", "pixel spacing missing", True),
    ("PixelSpacing", "DS", "NaN\\NaN", "pixel spacing missing", True),
    ("PixelSpacing", "DS", "inf\\0.8", "pixel spacing missing", True),
    ("PixelSpacing", "DS", "1e308\\1e308", "pixel spacing missing", True),
    ("ImageOrientationPatient", "DS", "0\\0\\0\\0\\0\\0", "orientation missing", True),
    ("ImageOrientationPatient", "DS", "NaN\\0\\0\\0\\1\\0", "orientation missing", True),
    ("ImageOrientationPatient", "DS", "1\\0\\0\\1\\0\\0", "oblique", False),
    ("ImagePositionPatient", "DS", "inf\\0\\0", "orientation missing", True),
    ("RescaleSlope", "DS", "NaN", "not Hounsfield units", True),
    ("RescaleSlope", "DS", "1e308", "not Hounsfield units", True),
    ("RescaleIntercept", "DS", "-inf", "not Hounsfield units", True),
    ("RescaleIntercept", "DS", "9" * 40, "not Hounsfield units", True),
    ("SliceThickness", "DS", "-2.5", None, True),
    ("SliceThickness", "DS", "NaN", None, True),
    ("GantryDetectorTilt", "DS", "Infinity", None, True),
    ("NumberOfFrames", "IS", "NaN", None, True),
    ("NumberOfFrames", "IS", "-1", None, False),
    ("InstanceNumber", "IS", "99999999999999999999", None, False),
    ("WindowWidth", "DS", "0", None, False),
]


@pytest.mark.parametrize(("keyword", "vr", "value", "refusal", "bad_value"), CASES)
def test_unusable_numbers_are_reported_not_fatal(
    tmp_path: Path, keyword: str, vr: str, value: str, refusal: str | None, bad_value: bool
) -> None:
    made = series(tmp_path / "s")
    for path in made.paths:
        set_raw(path, keyword, vr, value)
    (entry,) = scan_folder(tmp_path / "s", workers=1).series
    if refusal is None:
        assert entry.analysable, entry.reasons
    else:
        assert not entry.analysable
        assert refusal in "; ".join(entry.reasons)
    bad = [n.message for n in entry.notices if n.code is NoticeCode.BAD_VALUE]
    assert bool(bad and keyword in bad[0]) is bad_value, entry.notices
    volume = load_series(entry, workers=1)  # loads, with warnings, whatever the verdict
    assert volume_problem(volume) == ""


NUMERIC_KEYWORDS = {
    "PixelSpacing": ("DS", 2),
    "ImagePositionPatient": ("DS", 3),
    "ImageOrientationPatient": ("DS", 6),
    "SliceThickness": ("DS", 1),
    "RescaleSlope": ("DS", 1),
    "RescaleIntercept": ("DS", 1),
    "GantryDetectorTilt": ("DS", 1),
    "WindowCenter": ("DS", 1),
    "WindowWidth": ("DS", 1),
    "NumberOfFrames": ("IS", 1),
    "InstanceNumber": ("IS", 1),
    "SeriesNumber": ("IS", 1),
}
numbers = st.one_of(
    st.sampled_from(NUMBER_TEXTS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(alphabet="0123456789.eE+-naifNIFty \x00", max_size=16),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    made = series(tmp_path_factory.mktemp("template") / "s", n_slices=4, size=16)
    return [p.read_bytes() for p in made.paths]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keyword=st.sampled_from(sorted(NUMERIC_KEYWORDS)),
    values=st.lists(numbers, min_size=0, max_size=7),
    every_file=st.booleans(),
)
def test_any_numeric_text_loads_or_is_reported(
    template: list[bytes], keyword: str, values: list[str], every_file: bool
) -> None:
    vr, _count = NUMERIC_KEYWORDS[keyword]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for index, data in enumerate(template):
            path = folder / f"f{index}"
            path.write_bytes(data)
            if every_file or index == 0:
                set_raw(path, keyword, vr, "\\".join(values)[:64])
        try:
            scan = scan_folder(folder, workers=1)
            for entry in scan.series:
                try:
                    volume = load_series(entry, workers=1)
                except MsccError:
                    continue
                assert volume_problem(volume) == "", (keyword, values)
        except MsccError:
            pass


# ------------------------------------------------------------------------- pixel data
def test_pixel_data_of_the_wrong_length(tmp_path: Path) -> None:
    made = series(tmp_path / "s")
    from pydicom import dcmread

    def rewrite(path: Path, change: bytes) -> None:
        ds = dcmread(path)
        ds.PixelData = change
        ds.save_as(path)

    pixels = {i: dcmread(made.paths[i]).PixelData for i in (2, 5)}
    rewrite(made.paths[2], pixels[2][: len(pixels[2]) // 2])  # short: that slice is reported
    rewrite(made.paths[5], pixels[5] + bytes(64))  # long: the declared part is used
    rewrite(made.paths[7], b"")  # empty: reported
    (entry,) = scan_folder(tmp_path / "s", workers=1).series
    volume = load_series(entry, workers=1)
    assert volume.n_slices == 8
    undecodable = " ".join(
        n.message for n in volume.notices if n.code is NoticeCode.UNDECODABLE_SLICE
    )
    assert made.paths[2].name in undecodable and made.paths[7].name in undecodable
    kept = [index for index in range(10) if index not in (2, 7)]
    assert np.array_equal(volume.hu, made.hu[kept])  # the long one: declared part used


def test_a_truncated_compressed_slice_is_reported_not_shown_half_decoded(tmp_path: Path) -> None:
    """libjpeg would fill in the lost part and show it as a real image (found by the fuzzer)."""
    from mscc_desktop.core.dicom.write import TransferSyntax

    made = write_series(
        tmp_path / "s",
        n_slices=10,
        rows=64,
        cols=64,
        transfer_syntax=TransferSyntax.JPEGLS_LOSSLESS,
    )
    broken = made.paths[4]
    broken.write_bytes(broken.read_bytes()[:-40])  # an interrupted copy
    (entry,) = scan_folder(tmp_path / "s", workers=1).series
    volume = load_series(entry, workers=1)
    assert volume.n_slices == 9
    assert np.array_equal(volume.hu, np.delete(made.hu, 4, axis=0))
    (notice,) = [n for n in volume.notices if n.code is NoticeCode.UNDECODABLE_SLICE]
    assert broken.name in notice.message and "cut short" in notice.message


# ----------------------------------------------------------------- 10,000 slices, linearly
def _scan_and_load_seconds(folder: Path) -> tuple[float, float, int]:
    started = time.perf_counter()
    (entry,) = scan_folder(folder).series
    scanned = time.perf_counter()
    volume = load_series(entry)
    return scanned - started, time.perf_counter() - scanned, volume.n_slices


def test_ten_thousand_slices_scan_group_sort_and_load_in_linear_time(tmp_path: Path) -> None:
    many_slice_series(tmp_path / "small", 1_000)
    many_slice_series(tmp_path / "large", 10_000)
    small_scan, small_load, small_n = _scan_and_load_seconds(tmp_path / "small")
    large_scan, large_load, large_n = _scan_and_load_seconds(tmp_path / "large")
    assert (small_n, large_n) == (1_000, 10_000)
    # Per slice, ten times the slices must not cost three times as much (quadratic: ten).
    scan_ratio = (large_scan / 10_000) / (small_scan / 1_000)
    load_ratio = (large_load / 10_000) / (max(small_load, 1e-3) / 1_000)
    assert scan_ratio < 3.0, (small_scan, large_scan)
    assert load_ratio < 3.0, (small_load, large_load)


# --------------------------------------------------------------------- nested sequences
@pytest.mark.parametrize("depth", [200, 10_000])
def test_deeply_nested_sequences_do_not_break_the_scan(tmp_path: Path, depth: int) -> None:
    made = series(tmp_path / "s")
    nested = nested_sequence_file(made.paths[0], tmp_path / "s" / "NESTED", depth)
    made.paths[0].unlink()
    with time_limit(60):
        scan = scan_folder(tmp_path / "s", workers=1)
    skipped = {s.path: s.reason for s in scan.skipped}
    if nested in skipped:
        assert skipped[nested].startswith(("damaged", "unusable")), skipped[nested]
        assert scan.n_images == 9
    else:
        assert scan.n_images == 10
    (entry,) = scan.series
    assert load_series(entry, workers=1).n_slices == scan.n_images


# -------------------------------------------------------------------------- file names
ODD_NAMES = [
    "IM 0001",
    "ü-Ω-名前",
    "-rf",
    ".hidden",
    "a\\b",
    "new\nline",
    "x" * 250,
    "con",
    "DICOMDIR",
    "\u202ecod.exe",
]


def test_odd_file_names_are_scanned_and_loaded(tmp_path: Path) -> None:
    made = series(tmp_path / "made")
    folder = tmp_path / "odd names"
    folder.mkdir()
    for path, name in zip(made.paths, ODD_NAMES, strict=True):
        (folder / name).write_bytes(path.read_bytes())
    before = sorted(os.listdir(folder))
    (entry,) = scan_folder(folder, workers=1).series
    volume = load_series(entry, workers=1)
    assert volume.n_slices == 10 and np.array_equal(volume.hu, made.hu)
    assert sorted(p.name for p in volume.source_files) == sorted(ODD_NAMES)
    assert sorted(os.listdir(folder)) == before  # nothing written beside them


# ------------------------------------------------------------ links, loops, FIFOs, devices
def test_link_loops_fifos_and_devices_neither_hang_nor_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "cd"
    made = series(root / "series")
    (root / "a").mkdir()
    (root / "b").mkdir()
    os.symlink(root / "b", root / "a" / "to_b")
    os.symlink(root / "a", root / "b" / "to_a")  # a -> b -> a
    os.symlink(root, root / "series" / "up")  # back to the top
    os.symlink(root / "self", root / "self")  # a link to itself (ELOOP)
    os.symlink(made.paths[0], root / "a" / "same_file")  # a second name for one file
    os.symlink("/dev/zero", root / "zero")  # endless data
    os.mkfifo(root / "pipe")  # opening it would block forever
    with time_limit(60):
        scan = scan_folder(root, workers=1)
    assert scan.n_images == 10 and scan.series[0].n_images == 10
    skipped = {s.path.name for s in scan.skipped}
    assert "self" in skipped
    assert "pipe" not in skipped and "zero" not in skipped  # not regular files: not read


def test_dicomdir_cannot_pull_in_files_from_outside_its_folder(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage

    cd = tmp_path / "cd"
    made = series(cd / "IMAGES")
    elsewhere = series(tmp_path / "elsewhere", n_slices=1)  # e.g. another patient's file
    os.symlink(elsewhere.paths[0], cd / "IMAGES" / "LINK")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    records = []
    for components in [
        *(["IMAGES", p.name] for p in made.paths),
        ["IMAGES", "LINK"],  # a link out of the medium
        ["..", "elsewhere", elsewhere.paths[0].name],
        [str(elsewhere.paths[0])],  # an absolute path
        ["IMAGES\\..\\..", "x"],
    ]:
        record = Dataset()
        record.DirectoryRecordType = "IMAGE"
        record.ReferencedFileID = components
        records.append(record)
    ds.DirectoryRecordSequence = Sequence(records)
    ds.save_as(cd / "DICOMDIR", enforce_file_format=True)
    scan = scan_folder(cd / "DICOMDIR", workers=1)
    assert scan.n_images == 10
    assert all(elsewhere.folder not in p.parents for e in scan.series for p in e.files)
    outside = [s for s in scan.skipped if "outside" in s.reason]
    assert len(outside) == 4
