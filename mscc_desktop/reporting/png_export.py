"""Key images as PNG files for spine surgeons: a three-window strip and one full-size window.

For every key image (high grade first) two files are written into the export folder:

* ``NN_slice0041_high_strip.png``: bone, abdomen and spine windows side by side;
* ``NN_slice0041_high_spine.png``: one window (spine by default) at full resolution.

Both carry the burned-in annotations of :mod:`.raster`. PNG text chunks record the title,
software, finding and status; with de-identification they hold no identifying value (the
pseudonym only) and say that the export was de-identified. Names are built from slice numbers
and grades, never from DICOM text.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mscc_desktop.core.tasks import CancelToken, ProgressFn, check_cancel, report
from mscc_desktop.core.windows import WindowPreset
from mscc_desktop.reporting.deid import DEID_METHOD_TEXT, ExportIdentity
from mscc_desktop.reporting.inputs import ReportInputs
from mscc_desktop.reporting.layout import display_windows
from mscc_desktop.reporting.palette import INTENDED_USE_TEXT
from mscc_desktop.reporting.raster import key_image
from mscc_desktop.reporting.summary import KeyView, ReportContent
from mscc_desktop.reporting.text import short_identifier


def _metadata(
    inputs: ReportInputs, view: KeyView, identity: ExportIdentity, status: str, windows: str
) -> PngInfo:
    info = PngInfo()
    info.add_text("Title", f"MSCC key image - {short_identifier(identity)}")
    info.add_text("Software", f"mscc-desktop {inputs.software_version}")
    finding = f"Finding {view.lesion_number}: " if view.lesion_number is not None else ""
    info.add_text(
        "Description",
        f"{finding}{view.grade_text}; slice {view.slice_index + 1} of "
        f"{inputs.volume.n_slices}; windows: {windows}; {status}",
    )
    info.add_text("Disclaimer", INTENDED_USE_TEXT)
    if identity.deidentified:
        info.add_text("De-identification", DEID_METHOD_TEXT)
    return info


def key_image_name(number: int, view: KeyView, suffix: str) -> str:
    """``"01_slice0041_high_strip.png"``: order, 1-based slice, grade, kind."""
    grade = view.group.value if view.group is not None else "nocanal"
    return f"{number:02d}_slice{view.slice_index + 1:04d}_{grade}_{suffix}.png"


def write_key_images(
    inputs: ReportInputs,
    content: ReportContent,
    folder: Path,
    *,
    identity: ExportIdentity,
    single_window: WindowPreset | None = WindowPreset.SPINE,
    compress_level: int = 6,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[Path]:
    """Write the strip (and single-window) PNG of every key image into ``folder``.

    ``folder`` must exist and be a fresh export folder (see :func:`.safe_files.atomic_folder`).
    Returns the files written, in key-image order.
    """
    written: list[Path] = []
    verdict = content.verdict
    views = content.key_views
    for number, view in enumerate(views, start=1):
        check_cancel(cancel)
        report(progress, (number - 1) / max(len(views), 1), f"Key image {number} of {len(views)}")
        jobs: list[tuple[str, tuple[WindowPreset, ...]]] = [("strip", display_windows())]
        if single_window is not None:
            jobs.append((single_window.value, (single_window,)))
        for suffix, windows in jobs:
            image: Image.Image = key_image(
                inputs.volume,
                view,
                identity,
                status=verdict.status_line,
                verified=verdict.verified,
                windows=windows,
            )
            path = folder / key_image_name(number, view, suffix)
            names = ", ".join(w.value for w in windows)
            meta = _metadata(inputs, view, identity, verdict.status_line, names)
            image.save(path, format="PNG", pnginfo=meta, compress_level=compress_level)
            written.append(path)
    report(progress, 1.0, "Key images written")
    return written


__all__ = ["key_image_name", "write_key_images"]
