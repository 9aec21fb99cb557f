"""Run importer fuzz cases in worker processes, each case under a time and memory limit.

The contract under test: for every input, ``scan_folder`` then ``pick_series`` and
``load_series`` of every series either load a sane volume or report the problem (a
``SkippedFile`` with its reason, or an ``MsccError``). Anything else is a failure:

* ``crash``      another exception escaped;
* ``bad_volume`` a volume came back with non-finite positions/spacing/HU or mismatched sizes;
* ``leak``       a skip reason, notice or error message quoted the patient's name or ID;
* ``memory``     resident memory rose more than :data:`MEMORY_GROWTH_LIMIT` above where the
  case started (the address space is capped at :data:`ADDRESS_SPACE_LIMIT` as well);
* ``hang``       the case ran longer than :data:`CASE_TIMEOUT_S` (the worker is killed);
* ``died``       the worker process died (segfault, abort, out of memory).

Workers are spawned (never forked from a pytest process) and replaced after a hang or death.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

CASE_TIMEOUT_S = 5.0
MEMORY_GROWTH_LIMIT = 512 * 1024 * 1024
ADDRESS_SPACE_LIMIT = 3 * 1024 * 1024 * 1024


class Verdict(StrEnum):
    LOADED = "loaded"
    REPORTED = "reported"
    CRASH = "crash"
    BAD_VOLUME = "bad_volume"
    LEAK = "leak"
    MEMORY = "memory"
    HANG = "hang"
    DIED = "died"


FAILURES = frozenset(
    {Verdict.CRASH, Verdict.BAD_VOLUME, Verdict.LEAK, Verdict.MEMORY, Verdict.HANG, Verdict.DIED}
)


@dataclass(frozen=True)
class Outcome:
    case_id: int
    verdict: Verdict
    detail: str
    seconds: float
    seed_name: str = ""
    mutations: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.verdict in FAILURES


def volume_problem(volume: Any) -> str:
    """Why a loaded volume is not sane ("" when it is)."""
    n = volume.hu.shape[0] if volume.hu.ndim == 3 else -1
    if volume.hu.ndim != 3 or n < 1 or min(volume.hu.shape) < 1:
        return f"volume shape {volume.hu.shape}"
    sizes = {len(volume.z_mm), len(volume.sop_instance_uids), len(volume.source_files)}
    if sizes != {n} or volume.positions_mm.shape != (n, 3):
        return f"per-slice sizes {sizes} do not match {n} slices"
    if not (np.all(np.isfinite(volume.z_mm)) and np.all(np.isfinite(volume.positions_mm))):
        return "non-finite slice positions"
    if not (np.isfinite(volume.slice_spacing_mm) and volume.slice_spacing_mm >= 0):
        return f"slice spacing {volume.slice_spacing_mm}"
    if not all(np.isfinite(s) and s > 0 for s in volume.pixel_spacing_mm):
        return f"pixel spacing {volume.pixel_spacing_mm}"
    if volume.hu.dtype.kind == "f" and not np.all(np.isfinite(volume.hu)):
        return "non-finite HU values"
    return ""


def check_import(folder: Path, *, forbidden: tuple[str, ...] = ()) -> tuple[Verdict, str]:
    """Import ``folder`` the way the app does and classify what happened."""
    from mscc_desktop.core.dicom import load_series, pick_series, scan_folder
    from mscc_desktop.core.errors import MsccError

    # Texts the product composes (skip reasons, notices, error messages) may reach a log, so
    # they must never quote the patient. Values shown as what they are (a series
    # description, a modality in a reason) are DICOM data, not checked: a damaged length can
    # make a description run on into the patient's name.
    messages: list[str] = []
    loaded = 0
    try:
        scan = scan_folder(folder, workers=1)
        messages += [skipped.reason for skipped in scan.skipped]
        pick_series(scan.series)
        for entry in scan.series:
            messages += [notice.message for notice in entry.notices]
            try:
                volume = load_series(entry, workers=1)
            except MsccError as error:
                messages.append(error.message)
                continue
            problem = volume_problem(volume)
            if problem:
                return Verdict.BAD_VOLUME, problem
            messages += [notice.message for notice in volume.notices]
            loaded += 1
    except MsccError as error:
        messages.append(error.message)
    except Exception:  # the contract under test: nothing else may escape
        return Verdict.CRASH, traceback.format_exc()
    text = "\n".join(messages).lower()
    for value in forbidden:
        if value.lower() in text:
            line = next(m for m in messages if value.lower() in m.lower())
            return Verdict.LEAK, f"{value!r} quoted in: {line[:300]}"
    return (Verdict.LOADED if loaded else Verdict.REPORTED), f"{loaded} volume(s) loaded"


def write_case_files(files: Iterable[tuple[str, bytes]], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (folder / name).write_bytes(data)
    return folder


def _status_bytes(field: str) -> int:
    """A ``/proc/self/status`` memory figure (``VmRSS``, ``VmHWM``) in bytes."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> None:
    """Start a new high-water mark (Linux >= 4.0), so each case's own peak is measured."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _worker(conn: Any, seeds_dir: str, master_seed: int, memory_limit: int) -> None:
    """Worker process: receive case ids, run them, send :class:`Outcome` back."""
    from tests.hardening.fuzz_mutations import make_case
    from tests.hardening.fuzz_seeds import MARKER_ID, MARKER_NAME, load_seeds

    warnings.simplefilter("ignore")  # pydicom warns on every damaged file
    logging.disable(logging.WARNING)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    seeds = load_seeds(Path(seeds_dir))
    forbidden = (MARKER_NAME.split("^")[0], MARKER_ID)
    with tempfile.TemporaryDirectory(prefix="fuzz-case-") as tmp:
        # Warm-up: import and run every decoder once, so their own memory is not counted.
        for index, seed in enumerate(seeds):
            check_import(write_case_files(_named(seed.files), Path(tmp) / f"warm{index}"))
        conn.send("ready")
        while True:
            case_id = conn.recv()
            if case_id is None:
                return
            started = time.perf_counter()
            _reset_peak()
            before = _status_bytes("VmRSS")
            if case_id < 0:
                # A self-test imports nothing: only its misbehaviour is timed and measured, so
                # its verdict never depends on how long some seed's import takes on a busy box.
                _misbehave(case_id, memory_limit)
                seed_name, mutations = "self-test", ()
                verdict, detail = Verdict.REPORTED, "self-test"
            else:
                case = make_case(seeds, case_id, master_seed)
                seed_name, mutations = case.seed_name, tuple(case.mutations)
                folder = write_case_files(case.files, Path(tmp) / str(case_id))
                forbid = forbidden if case.synthetic else ()
                verdict, detail = check_import(folder, forbidden=forbid)
                shutil.rmtree(folder, ignore_errors=True)
            peak = _status_bytes("VmHWM")  # this case's own peak
            if verdict not in FAILURES and peak - before > memory_limit:
                verdict = Verdict.MEMORY
                detail = f"resident memory grew by {(peak - before) >> 20} MiB in one case"
            conn.send(
                Outcome(
                    case_id,
                    verdict,
                    detail,
                    time.perf_counter() - started,
                    seed_name,
                    mutations,
                )
            )


SELF_TEST_HANG, SELF_TEST_DIE, SELF_TEST_MEMORY = -1, -2, -3
"""Case ids that make a worker misbehave on purpose, to prove the runner catches it."""


def _misbehave(case_id: int, memory_limit: int) -> None:
    if case_id == SELF_TEST_HANG:
        time.sleep(3600)
    elif case_id == SELF_TEST_DIE:
        os._exit(3)
    elif case_id == SELF_TEST_MEMORY:
        hog = np.ones(memory_limit + (64 << 20), dtype=np.uint8)
        _HOGS.append(hog)


_HOGS: list[Any] = []


def _named(files: Iterable[bytes]) -> list[tuple[str, bytes]]:
    return [(f"{index:02d}", data) for index, data in enumerate(files)]


@dataclass
class _Slot:
    process: Any
    conn: Any
    case_id: int | None = None
    started: float = 0.0
    ready: bool = False


def run_cases(
    case_ids: Iterable[int],
    *,
    seeds_dir: Path,
    master_seed: int,
    workers: int = 2,
    timeout_s: float = CASE_TIMEOUT_S,
    memory_growth_limit: int = MEMORY_GROWTH_LIMIT,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every case in ``workers`` spawned processes; returns outcomes in finishing order.

    ``memory_growth_limit`` is the resident growth one case may cause. The runner's self-test
    lowers it: first-touch page faults on this 2-core VM ran at 85-270 MB/s while another
    worker was starting, so a hog above the default limit could outlast a short ``timeout_s``
    and be called a hang.
    """
    context = multiprocessing.get_context("spawn")
    todo = list(case_ids)[::-1]
    outcomes: list[Outcome] = []

    def start() -> _Slot:
        parent, child = context.Pipe()
        process = context.Process(
            target=_worker,
            args=(child, str(seeds_dir), master_seed, memory_growth_limit),
            daemon=True,
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    def finish(slot: _Slot, outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        slot.case_id = None

    slots = [start() for _ in range(max(1, workers))]
    try:
        while todo or any(s.case_id is not None for s in slots):
            for index, slot in enumerate(slots):
                if slot.ready and slot.case_id is None and todo:
                    slot.case_id, slot.started = todo.pop(), time.perf_counter()
                    slot.conn.send(slot.case_id)
                elif slot.case_id is not None and time.perf_counter() - slot.started > timeout_s:
                    slot.process.kill()
                    slot.process.join()
                    finish(slot, Outcome(slot.case_id, Verdict.HANG, f"over {timeout_s} s", 0.0))
                    slots[index] = start()
            ready = multiprocessing.connection.wait([s.conn for s in slots], timeout=0.1)
            for index, slot in enumerate(slots):
                if slot.conn not in ready:
                    continue
                try:
                    message = slot.conn.recv()
                except (EOFError, OSError):
                    slot.process.join()
                    code = slot.process.exitcode
                    if slot.case_id is None and not slot.ready:
                        raise RuntimeError(f"fuzz worker failed to start (exit {code})") from None
                    if slot.case_id is not None:
                        finish(slot, Outcome(slot.case_id, Verdict.DIED, f"exit code {code}", 0.0))
                    slots[index] = start()
                    continue
                if message == "ready":
                    slot.ready = True
                else:
                    finish(slot, message)
    finally:
        for slot in slots:
            if slot.process.is_alive():
                with contextlib.suppress(OSError):
                    slot.conn.send(None)
                slot.process.join(timeout=5)
                if slot.process.is_alive():
                    slot.process.kill()
    return outcomes


def save_failure(case: Any, outcome: Outcome, folder: Path) -> Path:
    """Write a failing case to ``folder/case-<id>/``: ``files/`` and ``case.json``."""
    import json

    target = folder / f"case-{outcome.case_id}"
    write_case_files(case.files, target / "files")
    (target / "case.json").write_text(
        json.dumps(
            {
                "case_id": outcome.case_id,
                "seed": case.seed_name,
                "verdict": outcome.verdict.value,
                "detail": outcome.detail,
                "mutations": case.mutations,
            },
            indent=2,
        )
    )
    return target
