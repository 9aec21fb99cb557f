"""Run one coverage-guided fuzz target with atheris (libFuzzer).

    python -m tests.fuzz.run TARGET [--runs N] [--seed S] [--max-time S] [--work DIR]

TARGET is one of ``tests.fuzz.harnesses.HARNESSES`` (``decode-<family>`` for the decoder
target on one transfer-syntax family). The seed corpus is built in ``WORK/corpus/TARGET``
from the product's writer (every syntax it writes, small images) and, when
``$MSCC_REAL_DATA`` is set, the shared real files under ``robustness/`` (up to 600 kB); the
fuzzer adds what reaches new coverage to the same folder, so a later run goes on from there.
A finding is saved as ``WORK/artifacts/TARGET/crash-<sha1>``: minimise it with
``-minimize_crash=1`` (pass libFuzzer flags after ``--``) and keep it under
``tests/fuzz/regressions/TARGET/`` so the smoke test replays it for ever.

Coverage: the app's own modules and pydicom are instrumented; the decoders' C code is not.
The last lines libFuzzer prints hold the executions (``stat::number_of_executed_units``) and
the coverage reached (``cov:`` edges, ``ft:`` features).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_INPUT_BYTES = 600_000  # seeds above this are left out; also libFuzzer's -max_len
FAMILIES = {
    "native": ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"),
    "deflate": ("1.2.840.10008.1.2.1.99",),
    "rle": ("1.2.840.10008.1.2.5",),
    "jpeg": ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
             "1.2.840.10008.1.2.4.70"),
    "jpegls": ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),
    "jpeg2000": ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"),
}  # fmt: skip
TARGETS = ("scan", "load", "manifest", "store", *(f"decode-{f}" for f in FAMILIES))


def _syntax_of(data: bytes) -> str:
    """The file's transfer syntax UID from its meta ("" when it has none or is unreadable)."""
    from io import BytesIO

    from pydicom import dcmread

    try:
        ds = dcmread(BytesIO(data), stop_before_pixels=True, force=True)
        return str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
    except Exception:  # a seed pydicom cannot read has no family
        return ""


def build_corpus(target: str, folder: Path) -> None:
    """Seed ``folder`` for ``target`` (kept when it already holds inputs)."""
    if folder.is_dir() and any(folder.iterdir()):
        return
    folder.mkdir(parents=True, exist_ok=True)
    if target == "manifest":
        from tests.fuzz.harnesses import manifest_seed

        for model in sorted((ROOT / "models").glob("*/manifest.json")):
            (folder / model.parent.name).write_bytes(manifest_seed(model.parent))
        return
    if target == "store":
        from mscc_desktop.storage.connection import open_store

        with tempfile.TemporaryDirectory() as tmp:
            db = open_store(Path(tmp) / "store.sqlite")
            db.close()
            (folder / "empty-store").write_bytes((Path(tmp) / "store.sqlite").read_bytes())
        return
    from tests.hardening.fuzz_seeds import real_seeds, synthetic_seeds

    files = [
        (f"{seed.name}-{i}", data)
        for seed in [*synthetic_seeds(), *real_seeds()]
        for i, data in enumerate(seed.files[:1])  # one file of each series
        if len(data) <= MAX_INPUT_BYTES
    ]
    if target.startswith("decode-"):
        wanted = FAMILIES[target.removeprefix("decode-")]
        files = [(name, data) for name, data in files if _syntax_of(data) in wanted]
    for name, data in files:
        (folder / name).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-time", type=int, default=0, help="seconds (0: no limit)")
    parser.add_argument("--max-len", type=int, default=MAX_INPUT_BYTES)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mscc-fuzz")
    args = parser.parse_args(args_in)

    import atheris

    with atheris.instrument_imports(include=["mscc_desktop", "pydicom"]):
        import mscc_desktop.core.dicom.decode
        import mscc_desktop.core.dicom.deflate
        import mscc_desktop.core.dicom.headers
        import mscc_desktop.core.dicom.load
        import mscc_desktop.core.dicom.scan
        import mscc_desktop.inference.manifest
        import mscc_desktop.inference.model_folder
        import mscc_desktop.storage.connection  # noqa: F401 - instrumented for coverage
    from tests.fuzz.harnesses import HARNESSES

    corpus = args.work / "corpus" / args.target
    artifacts = args.work / "artifacts" / args.target
    artifacts.mkdir(parents=True, exist_ok=True)
    build_corpus(args.target, corpus)
    harness = HARNESSES[args.target.split("-")[0]]
    flags = [
        f"-runs={args.runs}", f"-seed={args.seed}", f"-max_len={args.max_len}",
        f"-artifact_prefix={artifacts}/", "-print_final_stats=1", "-timeout=20",
        "-rss_limit_mb=3072",
    ]  # fmt: skip
    if args.max_time:
        flags.append(f"-max_total_time={args.max_time}")
    atheris.Setup([sys.argv[0], *flags, *extra, str(corpus)], harness)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
