"""``mscc-desktop analyze``: batch triage of every study under a folder.

Scans PATH, picks the best analysable axial CT series of each study (or every analysable
series with ``--all-series``), analyses it, stores the result, and prints a worklist with
high-grade studies first (then by peak P(high)). Source folders are only read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK, EXIT_REFUSED
from mscc_desktop.cli.analyze_output import (
    ProgressBar,
    format_worklist,
    write_json,
)
from mscc_desktop.core.errors import MsccError
from mscc_desktop.core.findings import AnalysisResult, AnalysisStatus
from mscc_desktop.core.notices import NoticeCode, Severity
from mscc_desktop.core.tasks import sub_progress

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from sqlite_utils import Database

    from mscc_desktop.core.dicom import SeriesEntry, StudyEntry
    from mscc_desktop.core.volume import Volume
    from mscc_desktop.workflow.exports import PdfOptions
    from mscc_desktop.workflow.model import OpenModel

EPILOG = """\
exit codes:
  0    every analysable series was analysed (some may have been refused by the input checks)
  1    an error: bad model, store or arguments, or a series failed to load or analyse
       (the others are still analysed, stored and listed)
  2    nothing analysable: no axial CT series under PATH
  3    every analysable series was refused by the input checks (not CT, not axial, no HU)
  130  cancelled (Ctrl+C); analyses finished before that are kept

The worklist goes to stdout (it names patients: it is meant for the reading room), progress
and warnings to stderr. Nothing is ever written inside PATH.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mscc_desktop.inference.backends import BACKEND_CHOICES
    from mscc_desktop.inference.pipeline import DEFAULT_BATCH_SIZE, DEFAULT_GPU_BATCH_SIZE

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("path", metavar="PATH", help="folder (or DICOMDIR/file) to analyse")
    parser.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help="inference backend (default: auto, the fastest that works here)",
    )
    parser.add_argument("--json", metavar="FILE", help="write full machine-readable results")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db", metavar="FILE", help="results store (default: user data folder)")
    store.add_argument("--no-db", action="store_true", help="do not store the results")
    parser.add_argument(
        "--model", metavar="ID_OR_DIR", help="model id or model folder (default: shipped model)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help=f"slices per inference batch (default: {DEFAULT_BATCH_SIZE} on a CPU, "
        f"{DEFAULT_GPU_BATCH_SIZE} on a GPU)",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: cores)")
    parser.add_argument(
        "--all-series",
        action="store_true",
        help="analyse every analysable series, not only the best one of each study",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_pdf_option(parser)


def add_pdf_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--pdf DIR``, ``--paper`` and ``--deidentify`` (the PDF after each analysis)."""
    parser.add_argument(
        "--pdf",
        metavar="DIR",
        help="also write the PDF summary of every analysed series into DIR",
    )
    parser.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF paper size")
    parser.add_argument(
        "--deidentify", action="store_true", help="de-identify the PDF summaries (PS3.15 Basic)"
    )


def pdf_options(args: argparse.Namespace) -> PdfOptions | None:
    """The PDF step ``--pdf``, ``--paper`` and ``--deidentify`` ask for (``None``: no PDF)."""
    from mscc_desktop.reporting import Paper
    from mscc_desktop.workflow.exports import PdfOptions

    if not getattr(args, "pdf", None):
        return None
    return PdfOptions(
        folder=Path(args.pdf),
        paper=Paper(getattr(args, "paper", "a4")),
        deidentify=bool(getattr(args, "deidentify", False)),
    )


def pdf_after_analysis(
    args: argparse.Namespace,
    volume: Volume,
    result: AnalysisResult,
    *,
    db: Database | None = None,
    analysis_id: int | None = None,
    scan_root: Path | None = None,
) -> Path | None:
    """The ``analyze --pdf`` step for one analysed series, from the parsed arguments
    (:func:`mscc_desktop.workflow.exports.pdf_after_analysis` does the work)."""
    from mscc_desktop.workflow.exports import pdf_after_analysis as write_pdf

    return write_pdf(
        volume, result, pdf_options(args), db=db, analysis_id=analysis_id, scan_root=scan_root
    )


@dataclass
class SeriesOutcome:
    """One analysed (or failed) series of the batch, in scan order."""

    study: StudyEntry
    entry: SeriesEntry | None
    result: AnalysisResult | None = None
    error: str = ""
    analysis_id: int | None = None
    n_slices: int = 0
    notes: list[str] = field(default_factory=list)


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _check_outputs(args: argparse.Namespace, source: Path) -> None:
    """Refuse output files inside the source folder (source folders are read-only to us)."""
    root = source if source.is_dir() else source.parent
    for flag, value in (("--json", args.json), ("--db", args.db)):
        if value and _inside(Path(value), root):
            raise MsccError(
                f"{flag} {value} is inside the DICOM folder being analysed; mscc-desktop never "
                "writes into a source folder. Choose a file elsewhere."
            )
    if args.batch_size is not None and args.batch_size < 1:
        raise MsccError("--batch-size must be at least 1.")


def _chosen_series(studies: tuple[StudyEntry, ...], all_series: bool) -> list[SeriesOutcome]:
    from mscc_desktop.core.dicom import pick_series

    outcomes: list[SeriesOutcome] = []
    for study in studies:
        if all_series:
            chosen = [entry for entry in study.series if entry.analysable]
        else:
            pick = pick_series(study.series)
            chosen = [pick.chosen] if pick.chosen is not None else []
        if not chosen:
            reasons = sorted({r for e in study.series for r in e.reasons if not e.analysable})
            outcomes.append(
                SeriesOutcome(study, None, error="no analysable series: " + "; ".join(reasons))
            )
        outcomes.extend(SeriesOutcome(study, entry) for entry in chosen)
    return outcomes


# -------------------------------------------------------------------------------- the batch
def _open_store(args: argparse.Namespace) -> Database | None:
    if args.no_db:
        return None
    from mscc_desktop import storage

    return storage.open_store(args.db)


def _analyse_one(
    outcome: SeriesOutcome,
    *,
    model: OpenModel,
    db: Database | None,
    bar: ProgressBar,
    batch_size: int | None,
    pdf: PdfOptions | None,
    scan_root: Path,
) -> None:
    from mscc_desktop.workflow.analysis import analyse_and_store, load_entry

    assert outcome.entry is not None
    entry = outcome.entry
    volume = load_entry(entry, progress=sub_progress(bar, 0.0, 0.25))
    outcome.n_slices = volume.n_slices
    stored = analyse_and_store(
        volume,
        model,
        db=db,
        part=entry.split_note,
        batch_size=batch_size,
        progress=sub_progress(bar, 0.25, 1.0),
    )
    outcome.result = stored.result
    outcome.analysis_id = stored.analysis_id
    outcome.notes.extend(stored.notes)
    if pdf is None:
        return
    from mscc_desktop.workflow.exports import pdf_after_analysis

    written = pdf_after_analysis(
        volume, stored.result, pdf, db=db, analysis_id=stored.analysis_id, scan_root=scan_root
    )
    if written is not None:
        outcome.notes.append(f"PDF: {written}")


def _exit_code(outcomes: list[SeriesOutcome]) -> int:
    attempted = [o for o in outcomes if o.entry is not None]
    if not attempted:
        return EXIT_NOTHING
    if any(o.error for o in attempted):
        return EXIT_ERROR
    statuses = {o.result.status for o in attempted if o.result is not None}
    if statuses == {AnalysisStatus.REFUSED}:
        return EXIT_REFUSED
    return EXIT_OK


def _summary_line(outcome: SeriesOutcome) -> str:
    result = outcome.result
    if result is None:
        return f"failed: {outcome.error}"
    if result.findings is None:
        errors = [n.message for n in result.notices if n.severity is Severity.ERROR]
        return "refused: " + " ".join(errors)
    findings = result.findings
    peak = max((s.p_high for s in findings.slices), default=0.0)
    line = (
        f"{findings.headline} (peak P(high) {peak:.2f}, called high from "
        f"{result.thresholds.high:.2f}; {len(findings.lesions)} lesion(s)) "
        f"in {result.duration_s:.1f} s"
    )
    # Slices that could not be decoded are not in the analysis: say which and why, here.
    left_out = [n.message for n in result.notices if n.code is NoticeCode.UNDECODABLE_SLICE]
    return " · ".join([line, *outcome.notes, *left_out])


def run(args: argparse.Namespace) -> int:
    from mscc_desktop.workflow.model import open_model
    from mscc_desktop.workflow.study import scan_study_folder

    source = Path(args.path)
    _check_outputs(args, source)
    pdf = pdf_options(args)
    err: TextIO = sys.stderr
    model = open_model(args.model, args.backend, threads=args.threads)
    made_by = model.provenance
    print(
        f"Model {made_by.model_id} {made_by.model_version} on {made_by.backend} · {made_by.device}",
        file=err,
    )
    for text in made_by.limitations:
        print(f"model limitation: {text}", file=err)
    if model.info.fallback_warning:
        print(f"warning: {model.info.fallback_warning}", file=err)
    db = _open_store(args)
    try:
        bar = ProgressBar(err, enabled=not args.quiet)
        bar.start("Scanning")
        scan = scan_study_folder(source, progress=bar)
        bar.finish(f"{scan.n_images} images in {len(scan.studies)} studies")
        if scan.unreadable:
            print(
                f"note: {len(scan.unreadable)} file(s) could not be read and were skipped", file=err
            )
        outcomes = _chosen_series(scan.studies, args.all_series)
        todo = [o for o in outcomes if o.entry is not None]
        for number, outcome in enumerate(todo, start=1):
            assert outcome.entry is not None
            label = f"[{number}/{len(todo)}] {outcome.entry.description}"
            bar.start(label)
            try:
                _analyse_one(
                    outcome,
                    model=model,
                    db=db,
                    bar=bar,
                    batch_size=args.batch_size,
                    pdf=pdf,
                    scan_root=source,
                )
            except MsccError as error:
                outcome.error = error.message
            except Exception as error:  # one series' fault must not stop the whole triage
                logger.exception("analysis of series %d failed", number)
                outcome.error = f"internal error ({type(error).__name__}); see the log"
            bar.finish(f"{label}: {_summary_line(outcome)}")
        print(format_worklist(outcomes), end="")
        if args.json:
            write_json(Path(args.json), outcomes, scan_root=scan.root)
        return _exit_code(outcomes)
    finally:
        if db is not None:
            db.close()
