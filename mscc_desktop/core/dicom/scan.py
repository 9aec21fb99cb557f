"""Scan a folder tree for DICOM images: header-only reads in parallel, nothing written.

Any file name is considered, with or without extension; a DICOMDIR is honoured (its
records are added to the walk and missing ones reported); symbolic-link loops are cut.
Non-DICOM files are skipped and counted, unreadable ones listed with the reason. Files are
only ever opened for reading.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydicom import dcmread

from mscc_desktop.core.dicom.classify import DEFAULT_MIN_SLICES, SeriesEntry
from mscc_desktop.core.dicom.deflate import InflationRefusedError, looks_deflated, read_deflated
from mscc_desktop.core.dicom.dicomdir import dicomdir_files
from mscc_desktop.core.dicom.headers import DICOMDIR_SOP_CLASS, ImageHeader, image_header
from mscc_desktop.core.dicom.series import PatientEntry, StudyEntry, group_headers
from mscc_desktop.core.errors import NothingToLoadError
from mscc_desktop.core.notices import Notice, NoticeCode, Severity
from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report

logger = logging.getLogger(__name__)

_CHUNK = 32  # files per header-reading task: amortises scheduling, keeps progress smooth
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    b"UR US UT UV".split()
)


class SkipKind(StrEnum):
    NOT_DICOM = "not_dicom"
    UNREADABLE = "unreadable"  # looks like DICOM but cannot be parsed
    NOT_IMAGE = "not_image"  # DICOM without pixels (report, presentation state, ...)
    DICOMDIR = "dicomdir"  # the media directory itself (used, not an image)
    MISSING = "missing"  # listed in a DICOMDIR but not on disk
    INACCESSIBLE = "inaccessible"  # permission or I/O error


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file the scan did not use, and why (the reason never holds patient data)."""

    path: Path
    reason: str
    kind: SkipKind = SkipKind.UNREADABLE


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything a scan found: patients → studies → series, and the files it skipped."""

    root: Path
    patients: tuple[PatientEntry, ...]
    skipped: tuple[SkippedFile, ...]
    n_files: int
    n_images: int
    dicomdir: Path | None = None

    @property
    def studies(self) -> tuple[StudyEntry, ...]:
        return tuple(study for patient in self.patients for study in patient.studies)

    @property
    def series(self) -> tuple[SeriesEntry, ...]:
        return tuple(s for study in self.studies for s in study.series)

    @property
    def n_non_dicom(self) -> int:
        return sum(1 for s in self.skipped if s.kind == SkipKind.NOT_DICOM)

    @property
    def unreadable(self) -> tuple[SkippedFile, ...]:
        return tuple(
            s for s in self.skipped if s.kind not in (SkipKind.NOT_DICOM, SkipKind.DICOMDIR)
        )

    def find(self, key: str) -> SeriesEntry:
        """The series whose ``key`` is ``key`` (raises ``KeyError`` if none)."""
        for entry in self.series:
            if entry.key == key:
                return entry
        raise KeyError(key)


# Skipped files that mean lost or damaged data (a warning), not files that were never images.
_PROBLEM_KINDS = frozenset({SkipKind.UNREADABLE, SkipKind.INACCESSIBLE, SkipKind.MISSING})


def skipped_notices(skipped: Sequence[SkippedFile], *, names_shown: int = 3) -> list[Notice]:
    """The folder's skipped files as notices for the reader, one per reason (problems first),
    naming a few files each. The DICOMDIR itself is used, not skipped, so it is left out."""
    by_reason: dict[tuple[bool, str], list[str]] = {}
    for item in skipped:
        if item.kind is SkipKind.DICOMDIR:
            continue
        key = (item.kind in _PROBLEM_KINDS, item.reason)
        by_reason.setdefault(key, []).append(item.path.name)
    notices = []
    for (problem, reason), names in sorted(by_reason.items(), key=lambda kv: not kv[0][0]):
        shown = ", ".join(names[:names_shown]) + (" ..." if len(names) > names_shown else "")
        notices.append(
            Notice(
                NoticeCode.SKIPPED_FILES,
                f"{len(names)} file(s) skipped: {reason} ({shown}).",
                Severity.WARNING if problem else Severity.INFO,
            )
        )
    return notices


def looks_like_dicom(head: bytes) -> bool:
    """Whether the first bytes of a file can start a DICOM file.

    Either the Part 10 preamble + ``DICM``, or (old ACR-NEMA style files without a preamble)
    a first element in group 0002 or 0008 with a valid VR or a plausible implicit length.
    ``dcmread(force=True)`` alone would "read" a text file, so this gate comes first.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    for order in ("little", "big"):
        group = int.from_bytes(head[0:2], order)  # type: ignore[arg-type]
        element = int.from_bytes(head[2:4], order)  # type: ignore[arg-type]
        if group not in (0x0002, 0x0008) or element > 0x0100:
            continue
        if head[4:6] in _VRS:
            return True
        length = int.from_bytes(head[4:8], order)  # type: ignore[arg-type]
        if order == "little" and length < 0x1000:
            return True
    return False


ReadOutcome = ImageHeader | SkippedFile


def read_header(path: Path) -> ReadOutcome:
    """Header-only read of one file: an :class:`ImageHeader` or why it was skipped."""
    try:
        handle = path.open("rb")
    except OSError as error:
        return SkippedFile(
            path, f"cannot be opened: {error.strerror or error}", SkipKind.INACCESSIBLE
        )
    with handle:
        try:
            head = handle.read(1024)  # the preamble and (usually all of) the file meta
        except OSError as error:
            return SkippedFile(
                path, f"cannot be read: {error.strerror or error}", SkipKind.INACCESSIBLE
            )
        if not looks_like_dicom(head):
            return SkippedFile(path, "not a DICOM file", SkipKind.NOT_DICOM)
        try:
            if looks_deflated(head):  # inflated only as far as its header allows
                ds = read_deflated(path, stop_before_pixels=True)
                offset = 0  # no byte offset into a deflated file means anything
            else:
                handle.seek(0)
                ds = dcmread(handle, stop_before_pixels=True, force=True)
                offset = handle.tell()
        except InflationRefusedError as error:
            return SkippedFile(path, f"refused: {error}")
        # A per-file boundary: pydicom raises many exception types on damaged files (of 1,268
        # mutated files only 1 raised InvalidDicomError). One bad file must not end the scan.
        except Exception as error:  # noqa: BLE001
            return SkippedFile(path, f"damaged or truncated DICOM file ({_short(error)})")
    try:
        sop_class = str(ds.get("SOPClassUID", "") or "")
        meta_class = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "") or "")
        if DICOMDIR_SOP_CLASS in (sop_class, meta_class) or "DirectoryRecordSequence" in ds:
            return SkippedFile(path, "DICOMDIR (media index)", SkipKind.DICOMDIR)
        if "Rows" not in ds or "Columns" not in ds:
            return _without_image(path, sop_class, offset)
        header = image_header(ds, path, offset)
    except Exception as error:  # noqa: BLE001 - same per-file boundary as above
        return SkippedFile(path, f"unusable DICOM header ({_short(error)})")
    if header.rows <= 0 or header.columns <= 0:
        return SkippedFile(path, "image has no rows or columns", SkipKind.UNREADABLE)
    return header


_NON_IMAGE_CLASS_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.481.",  # radiotherapy objects
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, segmentation surfaces
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA
)


def _without_image(path: Path, sop_class: str, offset: int) -> SkippedFile:
    """Why a DICOM file without (0028,0010) Rows is skipped: truncated, or not an image."""
    if sop_class.startswith(_NON_IMAGE_CLASS_PREFIXES):
        return SkippedFile(
            path, "DICOM file without an image (not an image object)", SkipKind.NOT_IMAGE
        )
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    if offset >= size:
        return SkippedFile(
            path,
            "file ends before its image attributes (truncated or damaged)",
            SkipKind.UNREADABLE,
        )
    return SkippedFile(path, "DICOM file without an image", SkipKind.NOT_IMAGE)


def _short(error: BaseException) -> str:
    """Exception type and the start of its message (pydicom messages hold no patient data)."""
    text = str(error).splitlines()[0][:120] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _walk(root: Path, cancel: CancelToken | None) -> Iterator[Path | SkippedFile]:
    """Every regular file under ``root`` once, depth first in name order; links followed."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        check_cancel(cancel)
        folder = stack.pop()
        try:
            info = folder.stat()
            key = (info.st_dev, info.st_ino)
            if key in seen_dirs:  # a symbolic-link loop or a second link to a folder
                continue
            seen_dirs.add(key)
            with os.scandir(folder) as iterator:
                entries = sorted(iterator, key=lambda e: e.name)
        except OSError as error:
            yield SkippedFile(
                folder, f"folder cannot be listed: {error.strerror or error}", SkipKind.INACCESSIBLE
            )
            continue
        subfolders: list[Path] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=True):
                    subfolders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True):
                    stat = entry.stat(follow_symlinks=True)
                    file_key = (stat.st_dev, stat.st_ino)
                    if file_key not in seen_files:
                        seen_files.add(file_key)
                        yield Path(entry.path)
            except OSError as error:  # dangling link, permission
                yield SkippedFile(
                    Path(entry.path),
                    f"cannot be read: {error.strerror or error}",
                    SkipKind.INACCESSIBLE,
                )
        stack.extend(reversed(subfolders))


def _read_chunk(paths: list[Path]) -> list[ReadOutcome]:
    return [read_header(path) for path in paths]


def scan_folder(
    path: str | os.PathLike[str],
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    min_slices: int = DEFAULT_MIN_SLICES,
) -> ScanResult:
    """Find, read (headers only) and group every DICOM image under ``path``.

    Parameters
    ----------
    path
        A folder (searched recursively), a DICOMDIR file, or a single DICOM file.
    progress, cancel
        Progress callback and cancel token (see :mod:`mscc_desktop.core.tasks`).
    workers
        Header-reading threads; default ``min(4, cpu count)``. 1 reads in this thread.
    min_slices
        Series with fewer slices are not analysable.

    Returns
    -------
    ScanResult
        Patients → studies → series (classified), plus every skipped file and why.

    Raises
    ------
    NothingToLoadError
        ``path`` does not exist or is neither a folder nor a file.
    Cancelled
        When ``cancel`` was set.
    """
    target = Path(path)
    if not target.exists():
        raise NothingToLoadError(f"{target} does not exist. Choose an existing folder or file.")
    root = target if target.is_dir() else target.parent
    report(progress, 0.0, "Looking for files")
    skipped: list[SkippedFile] = []
    candidates: list[Path] = []
    dicomdir: Path | None = None
    if target.is_dir():
        for item in _walk(target, cancel):
            if isinstance(item, SkippedFile):
                skipped.append(item)
            else:
                candidates.append(item)
    elif target.is_file():
        candidates.append(target)
    else:
        raise NothingToLoadError(f"{target} is neither a folder nor a file.")
    for candidate in list(candidates):
        if candidate.name.upper() == "DICOMDIR":
            listed, missing = dicomdir_files(candidate)
            dicomdir = dicomdir or candidate
            known = {p.resolve() for p in candidates}
            candidates.extend(p for p in listed if p.resolve() not in known)
            skipped.extend(SkippedFile(p, why, SkipKind.MISSING) for p, why in missing)
    headers, more_skipped = _read_all(candidates, progress, cancel, workers)
    skipped.extend(more_skipped)
    report(progress, 0.97, "Grouping series")
    patients = group_headers(headers, min_slices=min_slices)
    report(progress, 1.0, f"Found {sum(len(s.series) for p in patients for s in p.studies)} series")
    logger.info(
        "scanned %d files: %d images, %d skipped", len(candidates), len(headers), len(skipped)
    )
    return ScanResult(
        root=root,
        patients=patients,
        skipped=tuple(sorted(skipped, key=lambda s: str(s.path))),
        n_files=len(candidates),
        n_images=len(headers),
        dicomdir=dicomdir,
    )


def _read_all(
    paths: list[Path],
    progress: ProgressFn | None,
    cancel: CancelToken | None,
    workers: int | None,
) -> tuple[list[ImageHeader], list[SkippedFile]]:
    total = len(paths)
    chunks = [paths[i : i + _CHUNK] for i in range(0, total, _CHUNK)]
    results: dict[int, list[ReadOutcome]] = {}
    count = workers if workers is not None else min(4, os.cpu_count() or 1)
    done_files = 0
    if count <= 1 or len(chunks) <= 1:
        for number, chunk in enumerate(chunks):
            check_cancel(cancel)
            results[number] = _read_chunk(chunk)
            done_files += len(chunk)
            report(progress, 0.95 * done_files / total, f"Read {done_files} of {total} files")
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="dicom-scan") as pool:
            pending: dict[Future[list[ReadOutcome]], int] = {
                pool.submit(_read_chunk, chunk): number for number, chunk in enumerate(chunks)
            }
            try:
                while pending:
                    check_cancel(cancel)
                    finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        number = pending.pop(future)
                        results[number] = future.result()
                        done_files += len(chunks[number])
                        report(
                            progress,
                            0.95 * done_files / total,
                            f"Read {done_files} of {total} files",
                        )
            finally:
                for future in pending:
                    future.cancel()
    headers: list[ImageHeader] = []
    skipped: list[SkippedFile] = []
    for number in range(len(chunks)):
        for outcome in results[number]:
            if isinstance(outcome, SkippedFile):
                skipped.append(outcome)
            else:
                headers.append(outcome)
    return headers, skipped
