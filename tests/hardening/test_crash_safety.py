"""SIGKILL at random moments of an analysis, of review saving and of an export.

Builds on tests/storage/test_crash_safety.py (which kills a store writer inside SQLite): here
the product's own entry points are killed — the ``analyze`` CLI, review saving, and the
``report`` exporter (PDF, PNG, DICOM) — in a child process (tests/hardening/kill_child.py).
Half the kills come from inside (a profile hook kills the process at its N-th function call,
Python or C: anywhere, including SQLite, fsync and rename), half from outside (the parent
kills it after a random number of progress lines, while it works on).

After every kill: the store passes ``PRAGMA integrity_check`` and its foreign-key check; no
analysis looks complete with missing slices or lesions; every saved analysis has its audit
row; every acknowledged review is there with its audit row; no export file or folder exists
under its final name unless complete (PDF ends with %%EOF and opens, every PNG and DICOM file
of a folder is there and reads back); only dot-named ``.partial`` leftovers may remain. Two
analyze processes on one store at once both finish and corrupt nothing.
"""

from __future__ import annotations

import hashlib
import random
import re
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pydicom import dcmread

from mscc_desktop import storage
from mscc_desktop.reporting.safe_files import PARTIAL_SUFFIX
from tests.hardening.kill_child import N_SLICES, write_studies

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")


@dataclass
class Run:
    returncode: int
    lines: list[str]
    stderr: str


def child(
    *args: str,
    die_after_calls: int = 0,
    kill_after_lines: int = 0,
    marker: str = "",
    lockstep: bool = False,
) -> Run:
    """Run kill_child; kill it from outside after ``kill_after_lines`` lines matching marker.

    With ``lockstep`` the child waits after each marker line until the parent has read it
    (``kill_child --lockstep``): without it a loaded machine let the child commit several
    more saves between printing a line and the parent's kill (seen once in CI: 2 extra).
    """
    command = [sys.executable, "-m", "tests.hardening.kill_child", *args]
    if die_after_calls:
        command += ["--die-after-calls", str(die_after_calls)]
    if lockstep:
        command.append("--lockstep")
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE if lockstep else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    if kill_after_lines:
        seen = 0
        while seen < kill_after_lines:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith(marker):
                seen += 1
                if lockstep and process.stdin is not None:
                    # Let it go on: the kill below lands before or during its next save.
                    try:
                        process.stdin.write("\n")
                        process.stdin.flush()
                    except BrokenPipeError:  # it had finished its last save and exited
                        pass
        process.kill()
    out, err = process.communicate(timeout=300)
    lines += out.splitlines()
    return Run(process.returncode, lines, err)


def calls_of(*args: str) -> int:
    run = child(*args, "--count-calls")
    assert run.returncode == 0, run.stderr[-3000:]
    return int(next(line for line in run.lines if line.startswith("calls ")).split()[1])


def check_store(path: Path, context: str) -> None:
    """The store as the next process finds it, before any recovery runs."""
    if not path.exists():
        return
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == [], context
        if not raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'analyses'").fetchone():
            return
        half_written = raw.execute(
            "SELECT id FROM analyses a WHERE status = 'complete' AND ("
            " n_slices != (SELECT count(*) FROM analysis_slices s WHERE s.analysis_ref = a.id)"
            " OR n_lesions != (SELECT count(*) FROM lesions l WHERE l.analysis_ref = a.id)"
            " OR n_slices != ?)",
            [N_SLICES],
        ).fetchall()
        assert half_written == [], context
        saved = {r[0] for r in raw.execute("SELECT id FROM analyses WHERE status = 'complete'")}
        audited = {
            r[0]
            for r in raw.execute(
                "SELECT analysis_ref FROM audit_log WHERE action = 'analysis_saved'"
            )
        }
        assert saved == audited, context
    finally:
        raw.close()
    db = storage.open_store(path)  # the next instance: nothing stays 'running'
    try:
        running = db.execute("SELECT count(*) FROM analyses WHERE status = 'running'")
        assert running.fetchone() == (0,), context
    finally:
        db.close()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------------- analysis
def kill_analyses(tmp_path: Path, repetitions: int, seed: int) -> int:
    root = tmp_path / "incoming"
    write_studies(root)
    before = tree_digest(root)
    store = tmp_path / "store" / "mscc.sqlite"
    store.parent.mkdir()
    total = calls_of("analyze", str(root), "--db", str(tmp_path / "calibration.sqlite"))
    rng = random.Random(seed)
    killed = 0
    for repetition in range(repetitions):
        if repetition % 2 == 0:
            calls = rng.randint(1, total)
            context = f"repetition {repetition}: self-kill at call {calls} of {total}"
            run = child("analyze", str(root), "--db", str(store), die_after_calls=calls)
        else:
            batches = rng.randint(1, 6)  # two series of three batches
            context = f"repetition {repetition}: killed after {batches} batch(es)"
            run = child(
                "analyze", str(root), "--db", str(store), kill_after_lines=batches, marker="batch"
            )
        assert run.returncode in (0, -signal.SIGKILL), f"{context}: {run.stderr[-3000:]}"
        killed += run.returncode == -signal.SIGKILL
        check_store(store, context)
    final = child("analyze", str(root), "--db", str(store))
    assert final.returncode == 0, final.stderr[-3000:]
    check_store(store, "after a clean run")
    db = storage.open_store(store)
    try:
        for entry in storage.list_studies(db):
            assert entry.status is storage.StudyStatus.COMPLETE and entry.high_grade
    finally:
        db.close()
    assert tree_digest(root) == before  # sources never touched, killed or not
    return killed


def test_killed_analyses_never_corrupt_or_half_save(tmp_path: Path) -> None:
    assert kill_analyses(tmp_path, 6, seed=11) >= 4


@pytest.mark.slow
def test_killed_analyses_100_times(tmp_path: Path) -> None:
    assert kill_analyses(tmp_path, 100, seed=12) >= 80


# ------------------------------------------------------------------------------ reviews
@pytest.fixture
def analysed_store(tmp_path: Path) -> Path:
    store = tmp_path / "store.sqlite"
    root = tmp_path / "incoming"
    write_studies(root)
    assert child("analyze", str(root), "--db", str(store)).returncode == 0
    return store


def kill_reviews(store: Path, repetitions: int, seed: int) -> int:
    total = calls_of("reviews", "--db", str(store), "--count", "30")
    rng = random.Random(seed)
    killed = 0
    for repetition in range(repetitions):
        audit_before = _review_audits(store)
        if repetition % 2 == 0:
            calls = rng.randint(1, total)
            context = f"repetition {repetition}: self-kill at call {calls} of {total}"
            run = child(
                "reviews", "--db", str(store), "--count", "30", "--tag", str(repetition),
                die_after_calls=calls,
            )  # fmt: skip
        else:
            saves = rng.randint(1, 30)
            context = f"repetition {repetition}: killed after {saves} review(s)"
            run = child(
                "reviews", "--db", str(store), "--count", "30", "--tag", str(repetition),
                kill_after_lines=saves, marker="committed", lockstep=True,
            )  # fmt: skip
        assert run.returncode in (0, -signal.SIGKILL), f"{context}: {run.stderr[-3000:]}"
        killed += run.returncode == -signal.SIGKILL
        check_store(store, context)
        acknowledged = [line.split() for line in run.lines if line.startswith("committed ")]
        new_audits = _review_audits(store) - audit_before
        # Every acknowledged save is audited; at most one more committed as the kill came.
        assert len(acknowledged) <= new_audits <= len(acknowledged) + 1, context
        stored = _stored_comments(store)
        last: dict[str, int] = {}
        for _, iteration, lesion in acknowledged:
            last[lesion] = int(iteration)
        for lesion, iteration in last.items():
            run_tag, kept = stored[lesion]
            assert run_tag == repetition, f"{context}: acknowledged review of {lesion} lost"
            # The last acknowledged save of this lesion, or the one in flight at the kill.
            assert kept in (iteration, len(acknowledged)), context
    return killed


def _review_audits(store: Path) -> int:
    raw = sqlite3.connect(store)
    try:
        return int(
            raw.execute("SELECT count(*) FROM audit_log WHERE action='review_saved'").fetchone()[0]
        )
    finally:
        raw.close()


def _stored_comments(store: Path) -> dict[str, tuple[int, int]]:
    raw = sqlite3.connect(store)
    try:
        rows = raw.execute("SELECT analysis_ref, lesion_number, comment FROM reviews").fetchall()
    finally:
        raw.close()
    found = {f"{a}:{n}": re.fullmatch(r"run (\d+) iteration (\d+)", c) for a, n, c in rows}
    return {key: (int(m[1]), int(m[2])) for key, m in found.items() if m}


def test_killed_review_saving_loses_nothing_acknowledged(analysed_store: Path) -> None:
    assert kill_reviews(analysed_store, 4, seed=21) >= 3


@pytest.mark.slow
def test_killed_review_saving_100_times(analysed_store: Path) -> None:
    assert kill_reviews(analysed_store, 100, seed=22) >= 80


# ------------------------------------------------------------------------------- export
def _kind(entry: Path) -> str:
    if entry.suffix == ".pdf":
        return "pdf"
    return "dicom" if "_DICOM" in entry.name else "png"


def check_exports(out: Path, reference: dict[str, list[str]], pages: int, context: str) -> int:
    """Every export under its final name is complete; returns how many there are."""
    complete = 0
    if not out.exists():
        return 0
    for entry in sorted(out.iterdir()):
        if entry.name.startswith("."):
            assert entry.name.endswith(PARTIAL_SUFFIX), f"{context}: stray {entry.name}"
            continue
        kind = _kind(entry)
        if kind == "pdf":
            data = entry.read_bytes()
            assert data.rstrip().endswith(b"%%EOF"), f"{context}: truncated {entry.name}"
            document = pdfium.PdfDocument(data)
            assert len(document) == pages, context
            document.close()
        else:
            names = sorted(p.name for p in entry.iterdir())
            assert names == reference[kind], f"{context}: incomplete {entry.name}"
            for file in entry.iterdir():
                if kind == "png":
                    with Image.open(file) as image:
                        image.verify()
                else:
                    ds = dcmread(file)
                    if "PixelData" in ds:
                        assert ds.pixel_array.size > 0
        complete += 1
    return complete


def kill_exports(tmp_path: Path, repetitions: int, seed: int) -> int:
    root = tmp_path / "incoming"
    (study, _) = write_studies(root)
    store = tmp_path / "store.sqlite"
    assert child("analyze", str(root), "--db", str(store)).returncode == 0
    reference_dir = tmp_path / "reference"
    args = ("export", str(study), "--db", str(store))
    assert child(*args, "--out", str(reference_dir)).returncode == 0
    reference = {
        _kind(e): sorted(p.name for p in e.iterdir()) for e in reference_dir.iterdir() if e.is_dir()
    }
    (pdf,) = reference_dir.glob("*.pdf")
    pages = len(pdfium.PdfDocument(pdf.read_bytes()))
    total = calls_of(*args, "--out", str(tmp_path / "calibration"))
    before = tree_digest(root)
    out = tmp_path / "exports"
    rng = random.Random(seed)
    killed = 0
    for repetition in range(repetitions):
        if repetition % 2 == 0:
            calls = rng.randint(1, total)
            context = f"repetition {repetition}: self-kill at call {calls} of {total}"
            run = child(*args, "--out", str(out), die_after_calls=calls)
        else:
            lines = rng.randint(1, 4)  # three written paths, then "round 0"
            context = f"repetition {repetition}: killed after {lines} line(s)"
            run = child(*args, "--out", str(out), kill_after_lines=lines)
        assert run.returncode in (0, -signal.SIGKILL), f"{context}: {run.stderr[-3000:]}"
        killed += run.returncode == -signal.SIGKILL
        check_exports(out, reference, pages, context)
        check_store(store, context)
    assert tree_digest(root) == before
    return killed


def test_killed_exports_never_leave_a_truncated_file_under_its_final_name(tmp_path: Path) -> None:
    assert kill_exports(tmp_path, 4, seed=31) >= 3


@pytest.mark.slow
def test_killed_exports_100_times(tmp_path: Path) -> None:
    assert kill_exports(tmp_path, 100, seed=32) >= 80


# -------------------------------------------------------------------- two app instances
def test_two_analyze_processes_on_one_store(tmp_path: Path) -> None:
    """Two instances analysing the same folder into one store at the same time."""
    root = tmp_path / "incoming"
    write_studies(root)
    store = tmp_path / "store.sqlite"
    command = [sys.executable, "-m", "tests.hardening.kill_child", "analyze", str(root),
               "--db", str(store)]  # fmt: skip
    processes = [
        subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()[-3000:]
    check_store(store, "two instances")
    db = storage.open_store(store)
    try:
        assert db.execute("SELECT count(*) FROM analyses WHERE status='complete'").fetchone() == (
            4,
        )
        assert db.execute("SELECT count(*) FROM series").fetchone() == (2,)  # not duplicated
        assert len(storage.list_studies(db)) == 2
    finally:
        db.close()
