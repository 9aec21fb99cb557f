"""The Linux bundle, built from this checkout and run the way a workstation runs it.

One build per session (``scripts/build_installer.py`` into a temporary folder: a few
minutes), then the tar.gz is copied elsewhere, unpacked and run with a clean environment
(no PYTHONPATH, no virtual environment, no Python on PATH, a fresh HOME, cwd outside the
checkout). Where ``unshare`` is permitted (root, or user namespaces) each run also gets
an empty network namespace and a private mount namespace in which the checkout and the
build's Python installation are covered by empty folders, so the bundle provably needs
neither.

Set ``MSCC_TEST_BUNDLE_ARCHIVE`` to an existing tar.gz to test that instead of building.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests.installer.conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="builds the Linux bundle"),
]

APP = "mscc-desktop"
VOLATILE = {"created", "started_at", "finished_at", "duration_s", "source", "store_analysis_id"}
SYNTAXES = ("jpeg2000", "jpegls", "rle", "explicit")
STUDY_SEED = 990_123  # not a training seed (those are below 10^5)
LINGER_S = 20  # ONNX Runtime's telemetry first reached for DNS ~8 s after its first session


@dataclass(frozen=True)
class Bundle:
    folder: Path  # the unpacked app folder
    archive: Path
    model: Path  # the model folder that was bundled
    summary: dict[str, Any]

    @property
    def executable(self) -> Path:
        return self.folder / APP


# ------------------------------------------------------------------------ isolation
@lru_cache(maxsize=1)
def namespaces_problem() -> str | None:
    """Why the runs cannot get their own network and mount namespaces, or None."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"unshare --mount --net is not permitted here: {probe.stderr.strip()}"
    return None


def _hidden_folders(*keep: Path) -> list[Path]:
    """The checkout (with its .venv) and the standard library of the Python that built the
    bundle (not its whole prefix: for a system Python that is /usr), minus any folder that
    holds something the run needs."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    hidden = [REPO.resolve(), stdlib]
    return [h for h in hidden if not any(k.resolve().is_relative_to(h) for k in keep)]


def run_isolated(
    argv: list[str], *, home: Path, cwd: Path, env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``argv`` with a clean environment; in empty net + private mount namespaces with
    the source tree and the build Python covered, where ``unshare`` is permitted."""
    clean = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
        **(env or {}),
    }
    command = argv
    if namespaces_problem() is None:
        paths = [a for a in (*argv, *clean.values()) if a.startswith("/")]
        hidden = _hidden_folders(home, cwd, *(Path(a) for a in paths))
        cover = "".join(f"mount -t tmpfs -o size=1m tmpfs '{p}' && " for p in hidden)
        command = [
            "unshare", "--mount", "--net", "--", "sh", "-c", f'{cover}exec "$@"', "sh", *argv,
        ]  # fmt: skip
    return subprocess.run(
        command, env=clean, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------------ the bundle
@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    from tests.installer.model_folder import model_for_bundle

    work = tmp_path_factory.mktemp("bundle-build")
    model = model_for_bundle(work / "models")
    given = os.environ.get("MSCC_TEST_BUNDLE_ARCHIVE")
    summary: dict[str, Any] = {}
    if given:
        archive = Path(given)
        model = _model_recorded_in(archive, work)
    else:
        dist = work / "dist"
        done = subprocess.run(
            [
                sys.executable, str(REPO / "scripts" / "build_installer.py"),
                "--model", str(model), "--dist", str(dist), "--work", str(work / "pyinstaller"),
            ],
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
        (archive,) = dist.glob(f"{APP}-*.tar.gz")
        summary = json.loads((dist / "build-summary.json").read_text(encoding="utf-8"))
        shutil.rmtree(dist / APP)  # only the archive leaves the build machine
    # A fresh place with no source tree: copy the archive there and unpack it.
    elsewhere = tmp_path_factory.mktemp("workstation")
    copied = Path(shutil.copy2(archive, elsewhere))
    with tarfile.open(copied) as tar:
        tar.extractall(elsewhere, filter="data")
    (folder,) = [p for p in elsewhere.iterdir() if p.is_dir()]
    return Bundle(folder, copied, model, summary)


def _model_recorded_in(archive: Path, work: Path) -> Path:
    """For a given archive: its bundled model folder, unpacked (to run the source side)."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/_internal/models/" in m.name]
        tar.extractall(work / "given", members=members, filter="data")
    (manifest,) = (work / "given").rglob("manifest.json")
    return manifest.parent


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def _manifest(bundle: Bundle) -> dict[str, Any]:
    return dict(json.loads((bundle.model / "manifest.json").read_text(encoding="utf-8")))


# ------------------------------------------------------------------------ tests
def test_bundle_carries_no_torch_and_everything_it_needs(bundle: Bundle) -> None:
    names = [p.relative_to(bundle.folder).as_posix() for p in bundle.folder.rglob("*")]
    torch_like = [n for n in names if re.search(r"(^|/)(torch|torchvision|libtorch)", n)]
    assert torch_like == []
    sys.path.insert(0, str(REPO / "scripts"))
    import build_installer

    modules = build_installer.bundled_modules(bundle.executable)
    assert "mscc_desktop.gui.app" in modules and "mscc_desktop.cli.analyze_cmd" in modules
    assert "mscc_desktop.inference.backends.torch" in modules  # present, fails gracefully
    excluded = [m for m in modules if m.split(".")[0] in ("torch", "torchvision", "onnx")]
    assert excluded == []
    assert not any(m.startswith("mscc_desktop.training") for m in modules)
    lib = "_internal/"
    for needed in (
        "mscc_build_info.json",
        "onnxruntime/capi/libonnxruntime_providers_cuda.so",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        f"models/{bundle.model.name}/manifest.json",
        "resources/icons/mscc-desktop.svg",
    ):
        assert lib + needed in names
    for needed in ("install.sh", "share/applications/mscc-desktop.desktop", "README.txt"):
        assert needed in names


def test_version_prints_version_build_and_model_checksum(bundle: Bundle, home: Path) -> None:
    from mscc_desktop import __version__

    done = run_isolated([str(bundle.executable), "--version"], home=home, cwd=home)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"mscc-desktop {__version__}"
    assert lines[1].startswith("bundle: linux-")
    sha = _manifest(bundle)["model_sha256"]
    assert f"model sha256: {sha}" in lines
    assert f"bundled model: {bundle.model.name} " in done.stdout
    assert "torch backend not installed" in done.stdout
    assert "WARNING" not in done.stdout


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated studies, one per pixel encoding (JPEG 2000, JPEG-LS, RLE, uncompressed)."""
    from mscc_desktop.cli import main

    root = tmp_path_factory.mktemp("studies")
    for index, syntax in enumerate(SYNTAXES):
        code = main([
            "synth", str(root), "--studies", "1", "--start", str(index), "--seed",
            str(STUDY_SEED), "--matrix", "256", "--max-slices", "24", "--transfer-syntax", syntax,
        ])  # fmt: skip
        assert code == 0
    return root


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _assert_same(bundled: Any, source: Any, where: str = "") -> None:
    if isinstance(source, dict):
        assert isinstance(bundled, dict) and bundled.keys() == source.keys(), where
        for key in source:
            _assert_same(bundled[key], source[key], f"{where}/{key}")
    elif isinstance(source, list):
        assert isinstance(bundled, list) and len(bundled) == len(source), where
        for index, (b, s) in enumerate(zip(bundled, source, strict=True)):
            _assert_same(b, s, f"{where}[{index}]")
    elif isinstance(source, float) and not isinstance(source, bool):
        assert math.isclose(bundled, source, rel_tol=1e-6, abs_tol=1e-7), where
    else:
        assert bundled == source, where


def test_analyze_gives_the_same_findings_as_the_source_tree(
    bundle: Bundle, studies: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    source = subprocess.run(
        [sys.executable, "-m", "mscc_desktop", "analyze", str(studies), "--json",
         str(out / "source.json"), "--no-db", "-q", "--backend", "onnx-cpu"],
        env={**os.environ, "MSCC_MODELS_DIR": str(bundle.model.parent),
             "MSCC_DATA_DIR": str(tmp_path / "source-data")},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert source.returncode == 0, source.stderr[-3000:]

    bundled = run_isolated(
        [str(bundle.executable), "analyze", str(studies), "--json", str(out / "bundle.json"),
         "--no-db", "-q", "--backend", "onnx-cpu"],
        home=home, cwd=home,
    )  # fmt: skip
    assert bundled.returncode == 0, bundled.stderr[-3000:]

    theirs = json.loads((out / "bundle.json").read_text(encoding="utf-8"))
    ours = json.loads((out / "source.json").read_text(encoding="utf-8"))
    assert len(ours["series"]) == len(SYNTAXES)
    for series in theirs["series"]:  # every encoding was decoded and analysed
        assert series["analysis"]["status"] == "complete", series.get("error")
        assert series["analysis"]["findings"]["n_slices"] == series["n_slices"] > 0
        graded = [s for s in series["analysis"]["findings"]["slices"] if s["probabilities"]]
        assert graded, "the grader never ran: the comparison would not cover it"
    _assert_same(_comparable(theirs), _comparable(ours))


def test_gui_starts_offscreen_shows_its_window_and_loads_the_model(
    bundle: Bundle, home: Path, tmp_path: Path
) -> None:
    report, shot = tmp_path / "smoke.json", tmp_path / "window.png"
    done = run_isolated(
        [str(bundle.executable)],
        home=home, cwd=home,
        env={"MSCC_GUI_SMOKE": "model", "MSCC_GUI_SMOKE_REPORT": str(report),
             "MSCC_GUI_SMOKE_SCREENSHOT": str(shot)},
    )  # fmt: skip

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["outcome"] == "model ready"
    assert data["window_visible"] is True
    assert "not for clinical use" in data["window_title"]
    assert data["dialogs"] == []
    assert data["model"]["sha256"] == _manifest(bundle)["model_sha256"]
    assert data["model"]["device"].startswith("CPU")  # no GPU here
    # First start created the data folder and the results store in the platform location.
    assert (home / ".local/share/mscc-desktop/mscc.sqlite").is_file()
    from PIL import Image

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 16  # a drawn window, not a blank surface


def test_demo_study_opens_on_first_start(bundle: Bundle, home: Path, tmp_path: Path) -> None:
    report = tmp_path / "smoke.json"
    done = run_isolated(
        [str(bundle.executable), "--demo"],
        home=home, cwd=home,
        env={
            "MSCC_GUI_SMOKE": "demo",
            "MSCC_GUI_SMOKE_REPORT": str(report),
            "MSCC_GUI_SMOKE_TIMEOUT_S": "500",  # the demo is generated first (15 s here)
        },
        timeout=600,
    )  # fmt: skip

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["outcome"] == "demo study open"
    assert any(home.joinpath(".local/share/mscc-desktop").rglob("*.dcm"))


def test_torch_backend_and_training_fail_with_a_clear_message(
    bundle: Bundle, studies: Path, home: Path
) -> None:
    torch = run_isolated(
        [str(bundle.executable), "analyze", str(studies), "--no-db", "-q", "--backend",
         "torch-cpu"],
        home=home, cwd=home,
    )  # fmt: skip
    assert torch.returncode == 1
    assert "needs PyTorch, which is not installed" in torch.stderr
    assert "Traceback" not in torch.stderr

    train = run_isolated(
        [str(bundle.executable), "train", "grader", "--data", str(studies), "--out", str(home)],
        home=home,
        cwd=home,
    )
    assert train.returncode == 1
    assert "Training needs PyTorch" in train.stderr
    assert "Traceback" not in train.stderr


# ------------------------------------------------------------------------ network
_NETWORK_FAMILIES = re.compile(r"\b(AF_INET6?|AF_PACKET)\b")


def network_calls(strace_log: Path) -> list[str]:
    """strace lines that create an internet/packet socket or connect/send outside AF_UNIX."""
    found = []
    for line in strace_log.read_text(encoding="utf-8", errors="replace").splitlines():
        call = line.split(maxsplit=1)[-1] if line[:1].isdigit() else line
        if call.startswith(("socket(", "connect(", "sendto(", "sendmsg(", "bind(")) and (
            _NETWORK_FAMILIES.search(call)
        ):
            found.append(line)
    return found


def audit_events(log: Path) -> list[dict[str, Any]]:
    """Non-local network events the bundle's Python audit hook recorded."""
    if not log.is_file():
        return []
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [e for e in events if not e.get("local")]


@pytest.mark.parametrize("session", ["analyze", "gui"])
def test_no_network_access_is_attempted(
    bundle: Bundle, studies: Path, home: Path, tmp_path: Path, session: str
) -> None:
    """Three independent checks: an empty network namespace (nothing could succeed), strace
    on every process for internet sockets (native code included), and the bundle's own
    Python audit hook; plus no telemetry queue written to the home folder."""
    audit = tmp_path / "audit.jsonl"
    argv = [str(bundle.executable)]
    env = {"MSCC_NETWORK_AUDIT_LOG": str(audit)}
    if session == "analyze":
        argv += ["analyze", str(studies), "--no-db", "-q"]
    else:  # the GUI, kept open a while after the model has loaded
        env |= {"MSCC_GUI_SMOKE": "model", "MSCC_GUI_SMOKE_LINGER_S": str(LINGER_S)}
    strace = shutil.which("strace")
    trace = tmp_path / "strace.log"
    if strace:
        argv = [strace, "-f", "-qq", "-e", "trace=%network", "-o", str(trace), *argv]

    done = run_isolated(argv, home=home, cwd=home, env=env)

    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert audit_events(audit) == []
    assert not (home / ".cache" / "Microsoft").exists(), "ONNX Runtime telemetry queue written"
    if strace:
        assert trace.is_file()  # strace really ran
        assert network_calls(trace) == []
    reasons = [r for r in (namespaces_problem(), None if strace else "strace missing") if r]
    if reasons:
        pytest.skip("checked only partly: " + "; ".join(reasons))
