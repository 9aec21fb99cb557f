#!/usr/bin/env python
"""Benchmark the PDF summary: a 400-slice 512 x 512 study with 12 key images (target <= 5 s).

Builds the spine phantom of ``tests/reporting/study.py`` (400 slices, 12 findings so 12 key
images, findings and per-slice results made with ``core.findings.summarise``), then times:

* ``build_pdf`` into memory and ``export_pdf`` to disk (atomic write), median of ``--runs``;
* a baseline in the same run: the same 48 key-image pictures drawn by plain reportlab
  canvas calls (no layout, no overlays), so the report's own overhead is a ratio;
* for information, the PNG key-image and DICOM exports of the same study.

    python scripts/bench_report.py            # prints a table
    python scripts/bench_report.py --json bench_report.json
    python scripts/bench_report.py --pages docs/images   # render the demo report's pages

``--pages DIR`` also writes the PDF of the analysed demo study (``mscc_desktop.synth``, read
with the product's importer, "analysed" by the fake backend from the study's ground-truth
canal boxes and grades, reviewed and signed off) and renders every page to
``DIR/report_page<n>.png``, plus page 1 of the same study before review
(``report_page1_unreviewed.png``).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mscc_desktop.core.findings import (  # noqa: E402
    AnalysisResult,
    ModelProvenance,
    SliceResult,
    Thresholds,
    classify,
    summarise,
)
from mscc_desktop.core.grades import GradeGroup  # noqa: E402
from mscc_desktop.core.volume import Volume  # noqa: E402
from mscc_desktop.reporting import (  # noqa: E402
    Paper,
    build_pdf,
    export_dicom,
    export_identity,
    export_key_images,
    export_pdf,
    report_content,
    report_inputs,
)
from mscc_desktop.reporting.layout import display_windows, windowed  # noqa: E402
from tests.reporting.study import PATIENT, Lesion, spine_phantom  # noqa: E402


def build_study(n_slices: int, n_lesions: int, side: int) -> tuple[Volume, AnalysisResult]:
    spacing_z = 2.0
    lesions = []
    step = n_slices // n_lesions
    for k in range(n_lesions):
        first = k * step + step // 3
        group = GradeGroup.HIGH if k % 2 == 0 else GradeGroup.LOW
        lesions.append(Lesion(first, first + 3, group))
    phantom = spine_phantom(n_slices, shape=(side, side), lesions=lesions)
    z = np.array([-spacing_z * i for i in range(n_slices)])
    uids = tuple(f"1.2.826.0.1.3680043.8.498.7.{i + 1}" for i in range(n_slices))
    info = replace(
        PATIENT,
        series_instance_uid="1.2.826.0.1.3680043.8.498.7",
        study_instance_uid="1.2.826.0.1.3680043.8.498.8",
    )
    volume = Volume(
        hu=phantom.hu,
        z_mm=z,
        positions_mm=np.column_stack([np.zeros(n_slices), np.zeros(n_slices), z]),
        pixel_spacing_mm=(phantom.spacing_mm, phantom.spacing_mm),
        slice_spacing_mm=spacing_z,
        slice_thickness_mm=spacing_z,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        sop_instance_uids=uids,
        source_files=tuple(Path(f"/nonexistent/bench/IM{i:05d}") for i in range(n_slices)),
        frame_indices=(0,) * n_slices,
        info=info,
    )
    thresholds = Thresholds()
    slices = []
    for i, (box, p) in enumerate(zip(phantom.boxes, phantom.probabilities, strict=True)):
        probs = (float(p[0]), float(p[1]), float(p[2]))
        slices.append(
            SliceResult(i, float(z[i]), uids[i], box, 0.98, probs, classify(probs, thresholds))
        )
    now = datetime.now(UTC)
    result = AnalysisResult(
        series_instance_uid=info.series_instance_uid,
        findings=summarise(slices),
        provenance=ModelProvenance(
            "mscc-compact-synth", "1.0.0", "ab" * 32, "onnxruntime 1.31.1", "CPU · 2 threads"
        ),
        thresholds=thresholds,
        notices=(),
        started_at=now,
        finished_at=now,
    )
    return volume, result


def baseline_pdf(volume: Volume, indices: list[int]) -> bytes:
    """Plain reportlab: the same key-image pictures, drawn without layout or overlays."""
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    for n, index in enumerate(indices):
        y = 700 - (n % 4) * 170
        for k, preset in enumerate(display_windows()):
            image = Image.fromarray(windowed(volume, index, preset))
            canvas.drawImage(ImageReader(image), 40 + k * 140, y, 135, 135)
        overview = Image.fromarray(windowed(volume, index, display_windows()[1]))
        overview.thumbnail((256, 256))
        canvas.drawImage(ImageReader(overview), 460, y, 85, 85)
        if n % 4 == 3:
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _demo_probabilities(group: GradeGroup, index: int) -> tuple[float, float, float]:
    wobble = 0.05 * float(np.sin(index * 1.7))
    if group is GradeGroup.HIGH:
        return (0.04, 0.12 - wobble, 0.84 + wobble)
    if group is GradeGroup.LOW:
        return (0.17, 0.73 + wobble, 0.10 - wobble)
    return (0.93 + wobble / 2, 0.05 - wobble / 4, 0.02 - wobble / 4)


def render_demo_pages(out_dir: Path, data_dir: Path) -> list[Path]:
    """The demo study's report, reviewed, rendered page by page (see the module docstring)."""
    import pypdfium2 as pdfium

    from mscc_desktop import storage
    from mscc_desktop.core.dicom import open_folder
    from mscc_desktop.core.labels import read_labels_csv, read_voc_boxes
    from mscc_desktop.inference.pipeline import analyse_volume
    from mscc_desktop.synth import ensure_demo_study
    from mscc_desktop.workflow.report_inputs import load_report_inputs
    from tests.factories.fake_backend import FakeBackend
    from tests.reporting.study import SETTINGS

    dicom = ensure_demo_study(data_dir)
    labels = {row.sop_instance_uid: row for row in read_labels_csv(dicom.parent / "labels.csv")}
    boxes = read_voc_boxes(dicom.parent, labels.values())
    volume = open_folder(dicom).volume
    rows = [labels[uid] for uid in volume.sop_instance_uids]
    backend = FakeBackend(
        slice_probabilities=[_demo_probabilities(r.group, r.slice_index) for r in rows],
        slice_boxes=[boxes.get(r.sop_instance_uid) for r in rows],
        slice_shape=(volume.hu.shape[1], volume.hu.shape[2]),
        detector_size=SETTINGS.detector_size,
        runtime="onnxruntime 1.31.1",
        device="CPU · 2 threads",
    )
    result = analyse_volume(volume, backend, SETTINGS, prefetch=False)
    db = storage.open_memory_store()
    series = storage.register_volume(db, volume, user="ct-tech")
    analysis_id = storage.save_analysis(db, series, result, user="ct-tech")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def render(pdf_bytes: bytes, names: list[str]) -> None:
        pdf = pdfium.PdfDocument(pdf_bytes)
        for page, name in zip(pdf, names, strict=False):
            path = out_dir / name
            page.render(scale=110 / 72).to_pil().save(path, optimize=True)
            written.append(path)
        pdf.close()

    identity = export_identity(volume.info, deidentify=False)
    before = io.BytesIO()
    build_pdf(load_report_inputs(db, volume, series_id=series.id), before, identity=identity)
    render(before.getvalue(), ["report_page1_unreviewed.png"])
    assert result.findings is not None
    for lesion in result.findings.lesions:
        level = rows[lesion.key_slice].vertebral_level.split("/")[0]
        decision = storage.ReviewDecision.ACCEPT
        regrade = None
        if lesion.group is GradeGroup.HIGH and level == "T6":
            decision, regrade = storage.ReviewDecision.REGRADE, GradeGroup.LOW
        storage.save_review(
            db,
            analysis_id,
            lesion.number,
            decision=decision,
            regraded_group=regrade,
            vertebral_level=level,
            user="Dr A. Reader",
        )
    storage.set_study_review_status(
        db, series.study_id, storage.ReviewStatus.REVIEWED, user="Dr A. Reader"
    )
    reviewed = io.BytesIO()
    pages = build_pdf(
        load_report_inputs(db, volume, series_id=series.id), reviewed, identity=identity
    )
    render(reviewed.getvalue(), [f"report_page{n}.png" for n in range(1, pages + 1)])
    return written


def timed(function, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, value = [], None
    for _ in range(runs):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--key-images", type=int, default=12)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--pages", metavar="DIR", help="render the demo report's pages here")
    parser.add_argument("--demo-dir", metavar="DIR", help="where the demo study is generated")
    args = parser.parse_args()
    if args.pages:
        with tempfile.TemporaryDirectory() as scratch:
            data_dir = Path(args.demo_dir) if args.demo_dir else Path(scratch)
            for path in render_demo_pages(Path(args.pages), data_dir):
                print(path)

    start = time.perf_counter()
    volume, result = build_study(args.slices, args.key_images, args.side)
    setup_s = time.perf_counter() - start
    inputs = report_inputs(volume, result)
    identity = export_identity(volume.info, deidentify=False)
    views = report_content(inputs, identity).key_views
    indices = [v.slice_index for v in views]
    build_pdf(inputs, io.BytesIO(), identity=identity)  # warm-up: fonts, imports

    figures: dict[str, object] = {
        "machine": f"{platform.node()} · {platform.processor() or platform.machine()}",
        "python": platform.python_version(),
        "slices": args.slices,
        "side_px": args.side,
        "key_images": len(views),
        "setup_s": round(setup_s, 2),
    }
    memory_s, pages = timed(
        lambda: build_pdf(inputs, io.BytesIO(), identity=identity, paper=Paper.A4), args.runs
    )
    baseline_s, _ = timed(lambda: baseline_pdf(volume, indices), args.runs)
    with tempfile.TemporaryDirectory() as folder:
        disk_s, written = timed(lambda: export_pdf(inputs, Path(folder) / "pdf"), args.runs)
        size = written.path.stat().st_size  # type: ignore[attr-defined]
        png_s, _ = timed(lambda: export_key_images(inputs, Path(folder) / "png"), 1)
        dicom_s, _ = timed(lambda: export_dicom(inputs, Path(folder) / "dcm"), 1)
        deid_s, _ = timed(lambda: export_pdf(inputs, Path(folder) / "deid", deidentify=True), 1)
    figures.update(
        pages=pages,
        pdf_bytes=size,
        build_pdf_s=round(memory_s, 3),
        export_pdf_s=round(disk_s, 3),
        export_pdf_deidentified_s=round(deid_s, 3),
        baseline_plain_reportlab_s=round(baseline_s, 3),
        ratio_to_baseline=round(disk_s / baseline_s, 2),
        export_png_s=round(png_s, 3),
        export_dicom_s=round(dicom_s, 3),
        target_s=5.0,
        meets_target=disk_s <= 5.0,
    )
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:{width}s}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if disk_s <= 5.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
