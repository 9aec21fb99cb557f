"""Build the installed app: a one-folder bundle (PyInstaller) and, on Linux, its tar.gz.

From a clean checkout on Linux (Python 3.11)::

    python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"
    .venv/bin/python scripts/build_installer.py

Writes ``dist/mscc-desktop/`` (the app folder: executable, ``_internal/``, ``install.sh``,
desktop entry, icons) and ``dist/mscc-desktop-<version>-linux-<arch>.tar.gz``, then prints
and saves (``dist/build-summary.json``) the bundle's size and the build time.

The bundle holds the GUI, the CLI, ONNX Runtime (with its CUDA provider unless
``--cpu-only``), every ``models/<id>/`` folder (verified; ``--model DIR`` picks others) and
``resources/``; never torch. The finished folder is checked against
``installer/bundle_contents.py`` (nothing forbidden in it, everything required present).
On Windows and macOS the same command builds the app folder / ``.app``; the installer and
disk image steps are in ``installer/windows/BUILD.md`` and ``installer/macos/BUILD.md``.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALLER = REPO / "installer"
SPEC = INSTALLER / "mscc-desktop.spec"
sys.path.insert(0, str(INSTALLER))

import bundle_contents as bc  # noqa: E402

MIB = 1024 * 1024


def _fail(message: str) -> int:
    print(f"build_installer: {message}", file=sys.stderr)
    return 1


def check_environment() -> str | None:
    """Why this Python cannot build the bundle of *this* checkout, or ``None``."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        return 'PyInstaller is missing: pip install -e ".[dev]"'
    try:
        installed = importlib.metadata.version("mscc-desktop")
    except importlib.metadata.PackageNotFoundError:
        return 'mscc-desktop is not installed in this Python: pip install -e ".[dev]"'
    declared = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    if installed != declared:
        return (
            f"the installed mscc-desktop metadata says {installed} but pyproject.toml says "
            f"{declared}; reinstall (pip install -e .) so the bundle reports the right version"
        )
    import mscc_desktop

    package_dir = Path(mscc_desktop.__file__).resolve().parent
    if package_dir != REPO / "mscc_desktop":
        return (
            f"this Python imports mscc_desktop from {package_dir}, not from this checkout; "
            "use an editable install of this checkout (pip install -e .)"
        )
    return None


def run_pyinstaller(args: argparse.Namespace, dist: Path, work: Path) -> None:
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", args.log_level,
        "--distpath", str(dist), "--workpath", str(work),
    ]  # fmt: skip
    if args.clean:
        command.append("--clean")
    command += [str(SPEC), "--"]
    for model in args.model:
        command += ["--model", str(model.resolve())]
    if args.allow_no_model:
        command.append("--allow-no-model")
    if args.cpu_only:
        command.append("--cpu-only")
    env = dict(os.environ)
    # Build-time imports of the package must not pick up a user's model or data overrides.
    env.pop("MSCC_MODELS_DIR", None)
    subprocess.run(command, check=True, cwd=REPO, env=env)


def library_dir(app_dir: Path) -> Path:
    """The bundle's library folder (``sys._MEIPASS``): ``_internal`` (PyInstaller >= 6)."""
    if sys.platform == "darwin" and app_dir.suffix == ".app":
        return app_dir / "Contents" / "Frameworks"
    return app_dir / "_internal"


def _relative_files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*")]


def bundled_modules(executable: Path) -> list[str]:
    """Names of the Python modules frozen into the executable's PYZ archive (pure-Python
    modules live there, not as files, so a file listing alone cannot show them)."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(executable))
    pyz = archive.open_embedded_archive("PYZ.pyz")
    return sorted(pyz.toc)


def verify_bundle(app_dir: Path, *, cpu_only: bool) -> list[str]:
    """Problems with a finished bundle: forbidden content, missing required content."""
    problems: list[str] = []
    lib = library_dir(app_dir)
    names = _relative_files(lib)
    executable = app_dir / bc.APP_NAME
    if executable.is_file():
        frozen = [m for m in bundled_modules(executable) if bc.is_excluded_module(m)]
        if frozen:
            problems.append(f"excluded modules frozen into the app: {frozen[:5]}")
    for pattern in bc.FORBIDDEN_IN_BUNDLE:
        hits = [n for n in names if any(fnmatch.fnmatch(part, pattern) for part in n.split("/"))]
        hits += [n for n in names if fnmatch.fnmatch(n, pattern)]
        if hits:
            problems.append(f"forbidden {pattern!r} in the bundle: {sorted(set(hits))[:3]}")
    if sys.platform.startswith("linux"):
        for pattern in bc.REQUIRED_IN_BUNDLE:
            if not any(fnmatch.fnmatch(n, pattern) for n in names):
                problems.append(f"missing from the bundle: {pattern}")
        cuda = any(fnmatch.fnmatch(n, "*libonnxruntime_providers_cuda*") for n in names)
        if cuda == cpu_only:
            problems.append(
                f"ONNX Runtime CUDA provider {'present' if cuda else 'missing'} "
                f"in a {'CPU-only' if cpu_only else 'GPU-capable'} build"
            )
    return problems


def missing_libraries(app_dir: Path) -> dict[str, list[str]]:
    """ELF files of a Linux bundle whose libraries ``ldd`` cannot find, as the bundle's
    loader will look for them (library folder first); deliberate omissions are left out."""
    lib = library_dir(app_dir)
    env = {**os.environ, "LD_LIBRARY_PATH": str(lib)}
    candidates = [app_dir / bc.APP_NAME] + [
        p for p in lib.rglob("*.so*") if p.is_file() and not p.is_symlink()
    ]
    missing: dict[str, list[str]] = {}
    for path in candidates:
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env)
        names = [
            line.split("=>")[0].strip() for line in done.stdout.splitlines() if "not found" in line
        ]
        names = [
            n for n in names
            if not any(fnmatch.fnmatch(n, p) for p in bc.LIBRARIES_FROM_THE_WORKSTATION)
        ]  # fmt: skip
        if names:
            missing[path.relative_to(app_dir).as_posix()] = names
    return missing


def smoke_test(app_dir: Path) -> list[str]:
    """Start the finished app twice (``--version``; the GUI offscreen until its window
    shows) in a scratch home folder; problems found, or none."""
    import tempfile

    executable = app_dir / bc.APP_NAME
    if sys.platform == "darwin":
        executable = app_dir / "Contents" / "MacOS" / bc.APP_NAME
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mscc-smoke-") as scratch:
        env = {
            "HOME": scratch,
            "PATH": os.defpath,
            "MSCC_DATA_DIR": str(Path(scratch) / "data"),
            "QT_QPA_PLATFORM": "offscreen",
        }
        for label, extra in (("--version", {}), ("GUI", {"MSCC_GUI_SMOKE": "shown"})):
            argv = [str(executable)] + (["--version"] if label == "--version" else [])
            done = subprocess.run(
                argv, env={**env, **extra}, cwd=scratch, capture_output=True, text=True,
                timeout=180,
            )  # fmt: skip
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
                problems.append(f"{label} failed (exit {done.returncode}): " + " | ".join(tail))
    return problems


def required_glibc(app_dir: Path) -> str | None:
    """The newest ``GLIBC_x.y`` symbol version any bundled ELF file needs: the oldest glibc
    (hence Linux distribution) the bundle runs on. ``None`` without ``objdump``."""
    import re

    if shutil.which("objdump") is None:
        return None
    newest = (0, 0)
    files = [app_dir / bc.APP_NAME, *library_dir(app_dir).rglob("*.so*")]
    for path in files:
        if path.is_symlink() or not path.is_file():
            continue
        done = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True)
        for major, minor in re.findall(r"GLIBC_(\d+)\.(\d+)", done.stdout):
            newest = max(newest, (int(major), int(minor)))
    return f"{newest[0]}.{newest[1]}" if newest > (0, 0) else None


def add_linux_integration(app_dir: Path) -> None:
    """install.sh, the desktop entry, the MIME type and the icons, inside the app folder."""
    linux = INSTALLER / "linux"
    shutil.copy2(linux / "install.sh", app_dir / "install.sh")
    (app_dir / "install.sh").chmod(0o755)
    share = app_dir / "share"
    for sub, source, name in (
        ("applications", linux / "mscc-desktop.desktop", "mscc-desktop.desktop"),
        ("mime/packages", linux / "mscc-desktop-mime.xml", "mscc-desktop.xml"),
        ("icons/hicolor/scalable/apps", REPO / "resources/icons/mscc-desktop.svg", None),
    ):
        target = share / sub
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / (name or source.name))
    for png in sorted((REPO / "resources/icons/png").glob("*/mscc-desktop.png")):
        target = share / "icons/hicolor" / png.parent.name / "apps"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, target / png.name)
    shutil.copy2(linux / "README.txt", app_dir / "README.txt")


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Root-owned, world-readable entries: a system install must not inherit a private mode
    # from the build machine (e.g. a 0600 manifest.json written through mkstemp).
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if info.isdir() or info.mode & 0o100:
        info.mode = 0o755
    elif info.isfile():
        info.mode = 0o644
    return info


def make_archive(app_dir: Path, target: Path, top: str) -> Path:
    """A gzip tar of ``app_dir`` under the folder name ``top``, entries sorted."""
    with tarfile.open(target, "w:gz", compresslevel=6) as archive:
        archive.add(app_dir, arcname=top, recursive=False, filter=_normalised)
        for path in sorted(app_dir.rglob("*")):
            archive.add(
                path,
                arcname=f"{top}/{path.relative_to(app_dir).as_posix()}",
                recursive=False,
                filter=_normalised,
            )
    return target


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def largest_parts(lib: Path, count: int = 12) -> list[tuple[str, int]]:
    """The biggest top-level entries of the library folder (what the size is made of)."""
    sizes = []
    for entry in lib.iterdir():
        if entry.is_symlink():  # links into package folders: counted where they point
            continue
        size = folder_bytes(entry) if entry.is_dir() else entry.stat().st_size
        sizes.append((entry.name, size))
    return sorted(sizes, key=lambda item: -item[1])[:count]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="model folder to bundle (repeatable; default: every models/<id>/)",
    )
    parser.add_argument(
        "--allow-no-model", action="store_true", help="build even when there is no model to bundle"
    )
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="leave out ONNX Runtime's CUDA provider (~280 MB smaller)",
    )
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder")
    parser.add_argument(
        "--work",
        type=Path,
        default=REPO / "build" / "pyinstaller",
        help="PyInstaller's work folder (kept between builds to save time)",
    )
    parser.add_argument("--clean", action="store_true", help="ignore PyInstaller's cache")
    parser.add_argument("--no-archive", action="store_true", help="skip the tar.gz")
    parser.add_argument(
        "--no-smoke",
        action="store_true",
        help="skip starting the finished app (--version and the GUI)",
    )
    parser.add_argument("--log-level", default="WARN", help="PyInstaller log level")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_environment()
    if problem:
        return _fail(problem)
    import buildinfo

    if not (args.model or args.allow_no_model or buildinfo.default_model_folders(REPO)):
        return _fail(
            f"no model to bundle: {REPO / 'models'} holds no model folder. Add models/<id>/ "
            "(mscc-desktop export writes one), pass --model DIR, or --allow-no-model."
        )
    version = importlib.metadata.version("mscc-desktop")
    dist = args.dist.resolve()
    pyinstaller_dist = dist / "pyinstaller"
    started = time.perf_counter()
    try:
        run_pyinstaller(args, pyinstaller_dist, args.work.resolve())
    except subprocess.CalledProcessError as error:
        return _fail(f"PyInstaller failed (exit {error.returncode}); see its output above")
    built_s = time.perf_counter() - started

    app_name = f"{bc.APP_NAME}.app" if sys.platform == "darwin" else bc.APP_NAME
    app_dir = dist / app_name
    if app_dir.exists():
        shutil.rmtree(app_dir)
    shutil.move(str(pyinstaller_dist / app_name), app_dir)
    problems = verify_bundle(app_dir, cpu_only=args.cpu_only)
    unresolved: dict[str, list[str]] = {}
    if sys.platform.startswith("linux") and shutil.which("ldd"):
        unresolved = missing_libraries(app_dir)
        problems += [f"{name} needs {', '.join(libs)}" for name, libs in unresolved.items()]
    if not problems and not args.no_smoke:
        problems += smoke_test(app_dir)
    if problems:
        return _fail("the bundle is not right:\n  " + "\n  ".join(problems))

    archive: Path | None = None
    if sys.platform.startswith("linux"):
        add_linux_integration(app_dir)
        if not args.no_archive:
            flavour = "-cpu" if args.cpu_only else ""
            name = f"{bc.APP_NAME}-{version}-{bc.platform_tag()}{flavour}"
            archive = make_archive(app_dir, dist / f"{name}.tar.gz", name)
    total_s = time.perf_counter() - started

    lib = library_dir(app_dir)
    summary = {
        "version": version,
        "platform": bc.platform_tag(),
        "cpu_only": args.cpu_only,
        "app_dir": str(app_dir),
        "app_dir_bytes": folder_bytes(app_dir),
        "archive": str(archive) if archive else None,
        "archive_bytes": archive.stat().st_size if archive else None,
        "pyinstaller_s": round(built_s, 1),
        "total_s": round(total_s, 1),
        "requires_glibc": required_glibc(app_dir) if sys.platform.startswith("linux") else None,
        "largest_parts": [{"name": n, "bytes": b} for n, b in largest_parts(lib)],
        "build_info": json.loads((lib / "mscc_build_info.json").read_text("utf-8")),
    }
    (dist / "build-summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    print(f"\napp folder  {app_dir}  {summary['app_dir_bytes'] / MIB:.0f} MiB")
    if archive:
        print(f"archive     {archive}  {archive.stat().st_size / MIB:.0f} MiB")
    print(f"build time  {total_s:.0f} s (PyInstaller {built_s:.0f} s)")
    if summary["requires_glibc"]:
        print(f"runs on     Linux with glibc >= {summary['requires_glibc']}")
    print("largest parts: " + ", ".join(f"{n} {b / MIB:.0f} MiB" for n, b in largest_parts(lib, 6)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
