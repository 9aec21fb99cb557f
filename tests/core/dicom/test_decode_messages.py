"""What a reader is told when pixel data cannot be decoded: the real cause and a fitting remedy.

Issue 25: damaged data in a supported syntax was reported as "no installed decoder handles its
transfer syntax", and a truncated uncompressed file was told to convert itself to an
uncompressed syntax. Each cause now has its own words and its own remedy.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mscc_desktop.core.dicom.decode import decoder_installed, syntax_name
from mscc_desktop.core.dicom.load import load_series
from mscc_desktop.core.dicom.scan import scan_folder
from mscc_desktop.core.dicom.write import FileNaming, TransferSyntax
from mscc_desktop.core.errors import DicomReadError
from tests.factories import dicom_factory as factory

COPY_AGAIN = "copy the series again"
CONVERT = "gdcmconv"
NOT_INSTALLED = "no installed decoder"


def _message_for(folder: Path) -> str:
    (entry,) = scan_folder(folder).series
    with pytest.raises(DicomReadError) as caught:
        load_series(entry, workers=1)
    return caught.value.message


def _damage_middle(path: Path, seed: int = 0) -> None:
    """Overwrite 8 bytes in the last 60 % of the file (the compressed stream), its end intact."""
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(8):
        index = rng.randrange(len(data) - int(0.6 * len(data)), len(data) - 10)
        data[index] = rng.randrange(256)
    path.write_bytes(bytes(data))


def test_damaged_data_in_a_supported_syntax_is_called_damaged(tmp_path: Path) -> None:
    made = factory.write_series(
        tmp_path, n_slices=1, transfer_syntax=TransferSyntax.JPEGLS_LOSSLESS,
        naming=FileNaming.SEQUENTIAL,
    )  # fmt: skip
    _damage_middle(made.paths[0])
    message = _message_for(tmp_path)
    assert "IM00001.dcm" in message
    assert "damaged" in message and "JPEG-LS Lossless" in message  # the syntax by name
    assert NOT_INSTALLED not in message and CONVERT not in message
    assert COPY_AGAIN in message


def test_a_cut_short_uncompressed_file_is_not_told_to_convert_to_uncompressed(
    tmp_path: Path,
) -> None:
    made = factory.write_series(tmp_path, n_slices=3, naming=FileNaming.SEQUENTIAL)
    for path in made.paths:
        path.write_bytes(path.read_bytes()[:-2000])
    message = _message_for(tmp_path)
    assert "cut short or damaged" in message and "Explicit VR Little Endian" in message
    assert CONVERT not in message and "uncompressed" not in message
    assert COPY_AGAIN in message


def test_damaged_jpeg_lossless_names_the_decoder_s_reason(
    real_data_dir: Path, tmp_path: Path
) -> None:
    """The case of the issue: a libjpeg "misplaced marker" in a JPEG Lossless SV1 file."""
    source = (
        real_data_dir / "robustness"
        / "CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm"
    )  # fmt: skip
    data = bytearray(source.read_bytes())
    del data[131933 : 131933 + 271]  # a chunk of the scan gone; the stream still ends in EOI
    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "slice.dcm").write_bytes(bytes(data))
    message = _message_for(folder)
    assert "damaged" in message and "misplaced marker" in message
    assert "JPEG Lossless, Non-Hierarchical, First-Order Prediction" in message
    assert NOT_INSTALLED not in message and CONVERT not in message and COPY_AGAIN in message


def test_only_a_syntax_without_a_decoder_is_called_unsupported() -> None:
    assert not decoder_installed("1.2.840.10008.1.2.4.53")  # JPEG spectral selection
    for syntax in TransferSyntax:
        assert decoder_installed(syntax.value), syntax
    assert syntax_name("1.2.840.10008.1.2.4.53").startswith("JPEG Spectral Selection")
    assert syntax_name("1.2.3.4") == "1.2.3.4"  # unknown UIDs are shown as they are
