"""Exports never touch the source, never leave half a file under its final name, and build
file names from hostile DICOM text safely."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mscc_desktop.core.errors import ExportError
from mscc_desktop.reporting import (
    ReportInputs,
    export_dicom,
    export_key_images,
    export_pdf,
    png_export,
    safe_filename,
)
from mscc_desktop.reporting.deid import ExportIdentity
from mscc_desktop.reporting.safe_files import PARTIAL_SUFFIX, atomic_file, check_export_target
from mscc_desktop.reporting.text import export_stem
from tests.reporting.conftest import folder_snapshot
from tests.reporting.study import AnalysedStudy

HOSTILE = [
    "../../etc/passwd",
    "..",
    "a/b\\c",
    "C:\\Windows\\system32",
    "CON",
    "nul.txt",
    "\x00\x01\x1f\x7f name",
    "x" * 500,
    "",
    "   ",
    "..\\..\\boot.ini",
    "Ünïcødé^Nämé",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_filename_is_one_harmless_name(text: str) -> None:
    name = safe_filename(text)
    assert name and len(name) <= 80
    assert "/" not in name and "\\" not in name and ".." not in name and ":" not in name
    assert all(ch.isprintable() and ord(ch) < 128 for ch in name)
    assert name.split(".")[0].upper() not in {"CON", "NUL", "PRN", "AUX"}


@given(st.text(max_size=300))
def test_safe_filename_never_escapes_the_folder(text: str) -> None:
    name = safe_filename(text)
    folder = Path("/export/here")
    assert (folder / name).resolve().parent == folder.resolve()
    assert name not in (".", "..") and len(name) <= 80


def test_patient_name_with_path_separators_stays_in_the_export_folder(tmp_path: Path) -> None:
    from tests.reporting.study import PATIENT

    info = replace(
        PATIENT, patient_name="../../../evil^..\\x", patient_id="../id", study_date="../"
    )
    stem = export_stem(ExportIdentity(info))
    assert "/" not in stem and "\\" not in stem and ".." not in stem
    assert stem.startswith("MSCC_")


def test_target_inside_the_source_folder_is_refused(
    reviewed: AnalysedStudy, reviewed_inputs: ReportInputs
) -> None:
    source = reviewed.folder
    before = folder_snapshot(source.parent)
    for target in (source, source / "reports", source / "sub" / ".." / "x"):
        with pytest.raises(ExportError, match="source DICOM folder"):
            export_pdf(reviewed_inputs, target)
        with pytest.raises(ExportError, match="source DICOM folder"):
            export_dicom(reviewed_inputs, target)
    assert folder_snapshot(source.parent) == before  # not even a folder was created


def test_symlink_into_the_source_is_refused(
    reviewed: AnalysedStudy, reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    link = tmp_path / "innocent"
    link.symlink_to(reviewed.folder, target_is_directory=True)
    with pytest.raises(ExportError):
        export_key_images(reviewed_inputs, link / "out")


def test_protected_folder_is_refused(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    opened = tmp_path / "opened-cd"
    opened.mkdir()
    with pytest.raises(ExportError):
        export_pdf(reviewed_inputs, opened / "reports", protected=[opened])


def test_exports_leave_the_source_byte_identical(
    reviewed: AnalysedStudy, reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    source_root = reviewed.folder.parent
    before = folder_snapshot(source_root)
    stat_before = {p: p.stat().st_mtime_ns for p in source_root.rglob("*")}
    out = tmp_path / "exports"
    for deidentify in (False, True):
        export_pdf(reviewed_inputs, out, deidentify=deidentify)
        export_key_images(reviewed_inputs, out, deidentify=deidentify)
        export_dicom(reviewed_inputs, out, deidentify=deidentify)
    assert folder_snapshot(source_root) == before
    assert {p: p.stat().st_mtime_ns for p in source_root.rglob("*")} == stat_before
    assert len(list(out.iterdir())) == 6


def test_existing_exports_are_never_overwritten(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    first = export_pdf(reviewed_inputs, tmp_path).path
    content = first.read_bytes()
    second = export_pdf(reviewed_inputs, tmp_path).path
    assert second != first and second.name.endswith("_2.pdf")
    assert first.read_bytes() == content


def test_failure_mid_png_export_leaves_nothing_under_the_final_name(
    reviewed_inputs: ReportInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = png_export.key_image

    def failing(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(png_export, "key_image", failing)
    with pytest.raises(OSError):
        export_key_images(reviewed_inputs, tmp_path)
    assert calls["n"] == 3
    assert list(tmp_path.iterdir()) == []  # no folder, no .partial leftover


def test_failure_mid_pdf_leaves_no_pdf(
    reviewed_inputs: ReportInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mscc_desktop.reporting.pdf import pdf_images

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(pdf_images, "windowed", broken)
    with pytest.raises(RuntimeError):
        export_pdf(reviewed_inputs, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_publishes_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "report.pdf"
    with pytest.raises(ValueError), atomic_file(final) as handle:
        handle.write(b"%PDF-1.4 half")
        partials = [p for p in tmp_path.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]
        assert partials and not final.exists()  # written under a temporary name
        raise ValueError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_file(final) as handle:
        handle.write(b"complete")
    assert final.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_unwritable_target_gives_a_clear_error(
    reviewed_inputs: ReportInputs, tmp_path: Path
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError):
        check_export_target(blocker / "sub", sources=[])
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(ExportError, match="Cannot write"):
                export_pdf(reviewed_inputs, locked)
        finally:
            locked.chmod(0o700)


def test_cancelled_exports_leave_nothing(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    from mscc_desktop.core.errors import Cancelled
    from mscc_desktop.core.tasks import CancelToken

    for export in (export_pdf, export_key_images, export_dicom):
        token = CancelToken()
        seen: list[float] = []

        def progress(
            fraction: float, text: str, token: CancelToken = token, seen: list[float] = seen
        ) -> None:
            seen.append(fraction)
            if fraction > 0.3:
                token.cancel()

        with pytest.raises(Cancelled):
            export(reviewed_inputs, tmp_path, progress=progress, cancel=token)
        assert seen and max(seen) < 1.0
    assert list(tmp_path.iterdir()) == []


def test_progress_runs_to_the_end(reviewed_inputs: ReportInputs, tmp_path: Path) -> None:
    seen: list[tuple[float, str]] = []
    export_pdf(reviewed_inputs, tmp_path, progress=lambda f, t: seen.append((f, t)))
    fractions = [f for f, _ in seen]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
