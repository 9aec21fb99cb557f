"""``mscc-desktop evaluate``: the paper's statistics for readers (or the model) against a reference.

Examples::

    mscc-desktop evaluate --reference ref.csv --reader "Rad 1=rad1.csv" --reader DL=dl.csv --out ev/
    mscc-desktop evaluate --reference DATA_DIR --reader DL=dl.csv          (labels.csv per study)
    mscc-desktop evaluate --model DATA_DIR --reader "Rad 1=rad1.csv" --out eval/

Without ``--out`` the tables are printed as Markdown and nothing is written. With it, the folder
receives ``evaluation.md``, one CSV per table (``table6_agreement_three_class.csv`` ...
``table11_per_study_high_grade.csv``, ``comparisons.csv``) and ``evaluation.pdf``; with
``--model`` also ``model_readings.csv`` (the model's grades, re-usable with ``--reader``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from mscc_desktop.core.errors import EvaluationInputError, MsccError
from mscc_desktop.evaluation import (
    DEFAULT_RESAMPLES,
    AnalyseStudy,
    EvaluationReport,
    Readings,
    Scheme,
    evaluate_predictions,
    markdown_report,
    model_readings,
    read_labels_folder,
    read_readings_csv,
    write_pdf,
    write_readings_csv,
    write_tables,
)
from mscc_desktop.evaluation.pdf import PDF_FILE

PIPELINE_MODULE = "mscc_desktop.inference.pipeline"
MODEL_READINGS_FILE = "model_readings.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference",
        metavar="PATH",
        help="reference standard: a CSV file (study, image_id, group[, degenerative]) or a "
        "labelled data folder (<study>/labels.csv); default with --model: its labels",
    )
    parser.add_argument(
        "--reader",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a reader's CSV (study, image_id, group[, p_normal, p_low, p_high]); repeatable",
    )
    parser.add_argument(
        "--model",
        metavar="DATA_DIR",
        help="run the current model on a labelled data folder (<study>/dicom + labels.csv) "
        "as one more reader, listed first",
    )
    parser.add_argument("--model-name", default="model", help="the model's name in the tables")
    parser.add_argument(
        "--model-id",
        metavar="ID_OR_DIR",
        help="which model --model runs: an id in the models folder or a model folder "
        "(default: the installed default model)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "onnx-cuda", "onnx-cpu", "torch-cuda", "torch-cpu"),
        help="inference backend for --model (default auto)",
    )
    parser.add_argument("--out", metavar="DIR", help="write Markdown, CSV and PDF here")
    parser.add_argument(
        "--include-degenerative",
        action="store_true",
        help="keep images the reference flags as degenerative (the paper excluded them)",
    )
    parser.add_argument(
        "--compare-to",
        metavar="NAME",
        help="the reader every other reader is compared with (default: the first reader)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples of studies for reader comparisons (default {DEFAULT_RESAMPLES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    parser.add_argument(
        "--write-manifest",
        action="store_true",
        help="with --model: record the model's results (AC1, sensitivity, specificity, AUC, "
        "per study, with CIs) in its manifest's evaluation block, as 'paper_statistics'",
    )


def _reader_spec(spec: str) -> tuple[str, Path]:
    name, sep, file = spec.partition("=")
    if not sep:
        return Path(spec).stem, Path(spec)
    if not name.strip() or not file.strip():
        raise EvaluationInputError(
            f"--reader {spec!r}: write NAME=FILE, e.g. --reader 'Rad 1=rad1.csv'"
        )
    return name.strip(), Path(file.strip())


def _read_reference(path: str) -> Readings:
    location = Path(path)
    if location.is_dir():
        return read_labels_folder(location, name="reference")
    return read_readings_csv(location, name="reference")


def _pipeline_analyser(model_id: str | None, backend_choice: str) -> AnalyseStudy:
    """The function that runs the installed (or given) model on one ``<study>/dicom`` folder.

    The model and backend are loaded once; each call reads the folder's best axial CT series
    and returns its per-slice results. A refused series raises an MsccError naming the folder.
    """
    from mscc_desktop.core.dicom import open_folder
    from mscc_desktop.core.findings import AnalysisStatus, SliceResult
    from mscc_desktop.inference.pipeline import analyse_volume
    from mscc_desktop.workflow.model import open_model

    model = open_model(model_id, backend_choice)
    if model.info.fallback_warning:
        print(f"warning: {model.info.fallback_warning}", file=sys.stderr)

    def analyse(dicom_dir: Path) -> list[SliceResult]:
        volume = open_folder(dicom_dir).volume
        result = analyse_volume(volume, model.backend, model.settings)
        if result.status is not AnalysisStatus.COMPLETE or result.findings is None:
            reasons = "; ".join(n.message for n in result.notices) or result.status.value
            raise MsccError(f"{dicom_dir}: the model did not analyse this series ({reasons}).")
        return list(result.findings.slices)

    return analyse


def _model_reader(
    data_dir: str, reference: Readings, name: str, model_id: str | None, backend: str
) -> Readings:
    if importlib.util.find_spec(PIPELINE_MODULE) is None:
        raise MsccError(
            "--model is not available yet: this installation has no analysis pipeline "
            f"({PIPELINE_MODULE}). Pass saved model grades with --reader model=FILE instead."
        )
    folder = Path(data_dir)

    def progress(fraction: float, text: str, /) -> None:
        print(f"[{fraction:4.0%}] {text}", file=sys.stderr)

    return model_readings(
        folder,
        _pipeline_analyser(model_id, backend),
        reference=reference,
        name=name,
        progress=progress,
    )


def _print_summary(report: EvaluationReport, written: list[Path]) -> None:
    print(f"{report.n_images} images in {report.n_studies} studies; Gwet's AC1 (three grades):")
    for reader in report.readers:
        estimate = reader.agreement[Scheme.THREE_CLASS].ac1
        print(f"  {reader.name}: {estimate.value:.3f} ({estimate.strength.value})")
    for path in written:
        print(f"wrote {path}")


def _write_manifest(report: EvaluationReport, args: argparse.Namespace) -> None:
    """Merge the model's summary into its manifest (other evaluation entries are kept)."""
    from mscc_desktop.evaluation.manifest_block import reader_summary
    from mscc_desktop.inference.backends import resolve_model
    from mscc_desktop.inference.model_folder import update_model_folder

    manifest = resolve_model(args.model_id)
    assert manifest.folder is not None
    summary = reader_summary(report, args.model_name)
    summary["data"] = Path(args.model).resolve().name
    evaluation = {**manifest.evaluation, "paper_statistics": summary}
    updated = update_model_folder(manifest.folder, evaluation=evaluation)
    print(f"recorded in {manifest.folder / 'manifest.json'} (model sha256 {updated.short_sha})")


def run(args: argparse.Namespace) -> int:
    if args.reference is None and args.model is None:
        raise EvaluationInputError(
            "give --reference FILE_OR_FOLDER (or --model DATA_DIR, whose labels are the reference)"
        )
    reference = _read_reference(args.reference if args.reference is not None else args.model)
    readers: list[Readings] = []
    if args.model is not None:
        readers.append(
            _model_reader(args.model, reference, args.model_name, args.model_id, args.backend)
        )
    for spec in args.reader:
        name, file = _reader_spec(spec)
        readers.append(read_readings_csv(file, name=name))
    if not readers:
        raise EvaluationInputError(
            "no reader to evaluate: add --reader NAME=FILE or --model DATA_DIR"
        )
    if args.bootstrap < 1:
        raise EvaluationInputError("--bootstrap must be at least 1")
    if args.write_manifest and args.model is None:
        raise EvaluationInputError(
            "--write-manifest needs --model (it records the model's results)"
        )

    report = evaluate_predictions(
        reference,
        readers,
        include_degenerative=args.include_degenerative,
        compare_to=args.compare_to,
        n_resamples=args.bootstrap,
        seed=args.seed,
    )
    if args.write_manifest:
        _write_manifest(report, args)
    if args.out is None:
        print(markdown_report(report))
        return 0
    out = Path(args.out)
    written = write_tables(report, out)
    if not args.no_pdf:
        written.append(write_pdf(report, out / PDF_FILE))
    if args.model is not None:
        written.append(write_readings_csv(readers[0], out / MODEL_READINGS_FILE))
    _print_summary(report, written)
    return 0
