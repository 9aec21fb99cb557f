"""Coverage-guided fuzz targets (atheris): each takes the fuzzer's bytes and checks a contract.

The contract is the app's: bad input gives a clear, typed answer and nothing else. A target
returns quietly for every accepted outcome; anything it lets escape is a finding (atheris
stops, saves the input as ``crash-<sha1>`` and prints the traceback).

* ``scan``: one file through the header reader and series grouping (``scan_folder``): an
  image header or a skipped file with its reason, never an exception.
* ``decode``: the file's pixel data decoded as the loader does (``run_task``, in this process
  so that coverage reaches the decoders): frames or an error text, never an exception. The
  corpus picks the transfer syntax family (one seed folder per family).
* ``load``: the whole path to HU (``scan_folder`` then ``load_series``): a finite volume of
  the declared size, or an ``MsccError``.
* ``manifest``: a model folder's ``manifest.json`` read and verified: a manifest or a
  ``ModelIntegrityError``.
* ``store``: a results store file opened (read-only and read-write): a database or a
  ``StoreError``.

The targets write each input to one reused file under a private temporary folder (the
readers take paths, as the app does).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

_WORK = Path(tempfile.mkdtemp(prefix="mscc-fuzz-"))


def _as_file(data: bytes, name: str = "input.dcm") -> Path:
    folder = _WORK / "case"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(data)
    return path


def scan(data: bytes) -> None:
    from mscc_desktop.core.dicom.headers import ImageHeader
    from mscc_desktop.core.dicom.scan import SkippedFile, read_header, scan_folder

    path = _as_file(data)
    outcome = read_header(path)
    assert isinstance(outcome, ImageHeader | SkippedFile), type(outcome)
    if isinstance(outcome, SkippedFile):
        assert outcome.reason, "a skipped file needs its reason"
    result = scan_folder(path.parent, workers=1)
    assert result.n_files == 1


def decode(data: bytes) -> None:
    from mscc_desktop.core.dicom.decode import DecodeTask, HuRule, run_task
    from mscc_desktop.core.dicom.geometry import display_geometry
    from mscc_desktop.core.dicom.headers import ImageHeader
    from mscc_desktop.core.dicom.load import MAX_SIDE_PIXELS
    from mscc_desktop.core.dicom.scan import read_header

    path = _as_file(data)
    header = read_header(path)
    if not isinstance(header, ImageHeader):
        return
    fmt = header.pixel_format()
    if not (0 < fmt.rows <= MAX_SIDE_PIXELS and 0 < fmt.columns <= MAX_SIDE_PIXELS):
        return  # the loader refuses these before decoding (its size caps)
    if fmt.samples_per_pixel != 1 or fmt.n_frames > 64:
        return
    transform = display_geometry(None, (1.0, 1.0)).transform
    rule = HuRule(slope=1.0, intercept=0.0, to_hu=True)
    task = DecodeTask(path, fmt, ((0, 0, rule),), transform, "float32")
    (result,) = run_task(task)
    if result.error is None:
        assert result.image is not None and result.image.ndim == 2
    else:
        assert result.cause in ("unsupported", "damaged"), result.cause


def load(data: bytes) -> None:
    from mscc_desktop.core.dicom.load import load_series
    from mscc_desktop.core.dicom.scan import scan_folder
    from mscc_desktop.core.errors import MsccError

    path = _as_file(data)
    for entry in scan_folder(path.parent, workers=1).series:
        try:
            volume = load_series(entry, workers=1)
        except MsccError as error:
            assert error.message
            continue
        assert volume.hu.shape[0] == volume.n_slices > 0
        assert np.isfinite(np.asarray(volume.hu, dtype=np.float64)).all()
        assert np.isfinite(volume.z_mm).all()


def manifest(data: bytes) -> None:
    from mscc_desktop.core.errors import ModelIntegrityError
    from mscc_desktop.inference.model_folder import load_model_folder

    path = _as_file(data, "manifest.json")
    for verify in (False, True):  # the fields' checks, then the files' checksums
        try:
            load_model_folder(path.parent, verify=verify)
        except ModelIntegrityError as error:
            assert error.message


def store(data: bytes) -> None:
    from mscc_desktop.core.errors import StoreError
    from mscc_desktop.storage.connection import open_store

    path = _as_file(data, "store.sqlite")
    for read_only in (True, False):
        try:
            db = open_store(path, read_only=read_only, busy_timeout_s=0.1)
        except StoreError as error:
            assert error.message
            continue
        db.close()


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "scan": scan,
    "decode": decode,
    "load": load,
    "manifest": manifest,
    "store": store,
}


def manifest_seed(model_folder: Path) -> bytes:
    """A real manifest as a seed (re-serialised compactly, so mutations reach every field)."""
    return json.dumps(json.loads((model_folder / "manifest.json").read_text())).encode()
