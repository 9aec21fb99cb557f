"""The installer recipe without building it: what it keeps out, what ``--version`` says in a
bundle, the GUI self-check, and the Linux install script on a stand-in app folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import bundle_contents as bc
import pytest

from mscc_desktop.cli import version
from tests.installer.conftest import INSTALLER, REPO


# ------------------------------------------------------------------------ what goes in
@pytest.mark.parametrize(
    "module",
    ["torch", "torch.nn", "torchvision.ops", "mscc_desktop.training", "mscc_desktop.training.cli"],
)
def test_training_stack_is_excluded(module: str) -> None:
    assert bc.is_excluded_module(module)


@pytest.mark.parametrize(
    "module", ["mscc_desktop.inference.backends.torch", "onnxruntime", "mscc_desktop.gui.app"]
)
def test_the_app_itself_is_not_excluded(module: str) -> None:
    assert not bc.is_excluded_module(module)


def test_cuda_provider_is_kept_unless_the_build_is_cpu_only() -> None:
    cuda = "onnxruntime/capi/libonnxruntime_providers_cuda.so"
    assert not bc.drop_binary(cuda, cpu_only=False)
    assert bc.drop_binary(cuda, cpu_only=True)
    assert bc.drop_binary("onnxruntime/capi/libonnxruntime_providers_tensorrt.so", cpu_only=False)
    assert not bc.drop_binary("onnxruntime/capi/libonnxruntime.so.1.31.1", cpu_only=True)


def test_platform_plugins_the_app_needs_are_kept() -> None:
    for plugin in ("libqxcb.so", "libqoffscreen.so", "libqwayland.so"):
        assert not bc.drop_binary(f"PySide6/Qt/plugins/platforms/{plugin}", cpu_only=True)
    assert bc.drop_binary("PySide6/Qt/plugins/generic/libqtuiotouchplugin.so", cpu_only=False)
    assert bc.drop_data("PySide6/Qt/translations/qtbase_de.qm")


def test_every_runtime_hook_and_the_entry_script_exist() -> None:
    assert (INSTALLER / bc.ENTRY_SCRIPT).is_file()
    for hook in bc.RUNTIME_HOOKS:
        assert (INSTALLER / hook).is_file()
    for module in bc.LAUNCHER_MODULES:
        assert (INSTALLER / "launcher" / f"{module}.py").is_file()


def test_offline_hook_disables_onnxruntime_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    source = (INSTALLER / "rthooks" / "pyi_rth_mscc_offline.py").read_text(encoding="utf-8")
    exec(compile(source, "pyi_rth_mscc_offline.py", "exec"), {})
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"


# ------------------------------------------------------------------------ --version
def _frozen(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(root), raising=False)
    monkeypatch.delenv("MSCC_MODELS_DIR", raising=False)


def _record(models: list[dict[str, str]]) -> dict[str, object]:
    return {
        "app_version": "9.9.9",
        "built_utc": "2024-01-02T03:04:05Z",
        "git_commit": "0123456789abcdef0123",
        "git_dirty": False,
        "platform": "linux-x86_64",
        "python": "3.11.7",
        "pyinstaller": "6.22.3",
        "onnxruntime": "1.31.1",
        "cuda_provider": True,
        "models": models,
    }


def test_version_in_a_bundle_prints_build_and_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.installer.model_folder import tiny_default_model

    model = tiny_default_model(tmp_path / "models")
    sha = json.loads((model / "manifest.json").read_text(encoding="utf-8"))["model_sha256"]
    record = _record([{"id": model.name, "version": "0.0.0-test", "sha256": sha}])
    (tmp_path / version.BUILD_INFO_NAME).write_text(json.dumps(record), encoding="utf-8")
    _frozen(monkeypatch, tmp_path)

    text = version.version_text()

    assert "bundle: linux-x86_64, built 2024-01-02T03:04:05Z from commit 0123456789ab" in text
    assert f"model sha256: {sha}" in text
    assert f"bundled model: {model.name} 0.0.0-test sha256 {sha}" in text
    (model_line,) = [line for line in text.splitlines() if line.startswith("model: ")]
    assert f"(sha256 {sha[:12]})" in model_line
    assert "WARNING" not in text


def test_version_warns_when_the_installed_model_is_not_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.installer.model_folder import tiny_default_model

    tiny_default_model(tmp_path / "models")
    record = _record([{"id": "mscc-compact-synth", "version": "1", "sha256": "f" * 64}])
    (tmp_path / version.BUILD_INFO_NAME).write_text(json.dumps(record), encoding="utf-8")
    _frozen(monkeypatch, tmp_path)

    assert "WARNING: the installed default model is not the one" in version.version_text()


def test_version_in_a_bundle_without_its_record_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _frozen(monkeypatch, tmp_path)
    text = version.version_text()
    assert "build record mscc_build_info.json missing" in text
    assert "model: none installed" in text


def test_version_from_source_names_python_and_runtime() -> None:
    text = version.version_text()
    assert text.startswith("mscc-desktop ")
    assert "running from: Python package" in text
    assert "inference: ONNX Runtime" in text


# ------------------------------------------------------------------------ GUI self-check
@pytest.mark.parametrize(("mode", "expected"), [("shown", 0), ("nonsense", 2)])
def test_gui_self_check_from_the_source_tree(tmp_path: Path, mode: str, expected: int) -> None:
    report = tmp_path / "report.json"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "MSCC_DATA_DIR": str(tmp_path / "data"),
        "MSCC_GUI_SMOKE": mode,
        "MSCC_GUI_SMOKE_REPORT": str(report),
    }
    done = subprocess.run(
        [sys.executable, str(INSTALLER / bc.ENTRY_SCRIPT)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == expected, done.stderr[-2000:]
    if expected == 0:
        data = json.loads(report.read_text(encoding="utf-8"))
        assert data["outcome"] == "main window shown"
        assert data["window_visible"] is True
        assert "not for clinical use" in data["window_title"]
        assert (tmp_path / "data").is_dir()  # first start created the data folder


# ------------------------------------------------------------------------ install.sh
def _stand_in_app(folder: Path) -> Path:
    """An unpacked-bundle look-alike: executable, _internal/, share/ as the build lays out."""
    sys.path.insert(0, str(REPO / "scripts"))
    import build_installer

    folder.mkdir()
    (folder / "_internal").mkdir()
    exe = folder / bc.APP_NAME
    exe.write_text('#!/bin/sh\necho "stand-in mscc-desktop $*"\n', encoding="utf-8")
    exe.chmod(0o755)
    build_installer.add_linux_integration(folder)
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux install script")
def test_install_script_registers_the_app_and_uninstalls_cleanly(tmp_path: Path) -> None:
    app = _stand_in_app(tmp_path / "unpacked")
    home = tmp_path / "home"
    (home / ".local/share/mscc-desktop").mkdir(parents=True)  # the reader's data
    env = {"HOME": str(home), "PATH": os.defpath}

    done = subprocess.run(
        ["sh", str(app / "install.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

    installed = home / ".local/opt/mscc-desktop"
    desktop = home / ".local/share/applications/mscc-desktop.desktop"
    entry = desktop.read_text(encoding="utf-8")
    assert f"Exec={installed}/mscc-desktop %f" in entry
    assert "MimeType=application/dicom;" in entry
    assert (home / ".local/share/icons/hicolor/48x48/apps/mscc-desktop.png").is_file()
    assert (home / ".local/share/icons/hicolor/scalable/apps/mscc-desktop.svg").is_file()
    assert "DICOMDIR" in (home / ".local/share/mime/packages/mscc-desktop.xml").read_text("utf-8")
    command = home / ".local/bin/mscc-desktop"
    assert subprocess.run([str(command), "--version"], capture_output=True, text=True).stdout
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(desktop)], check=True)

    # A second install replaces the first in place.
    again = subprocess.run(["sh", str(app / "install.sh")], env=env, capture_output=True)
    assert again.returncode == 0

    removed = subprocess.run(
        ["sh", str(installed / "install.sh"), "--uninstall"], env=env, capture_output=True
    )
    assert removed.returncode == 0, removed.stderr
    assert not installed.exists()
    assert not desktop.exists()
    assert not command.is_symlink()
    assert (home / ".local/share/mscc-desktop").is_dir()  # reader's data kept


def test_install_script_refuses_a_system_install_without_root(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: a system install would be allowed")
    app = _stand_in_app(tmp_path / "unpacked")
    done = subprocess.run(["sh", str(app / "install.sh"), "--system"], capture_output=True)
    assert done.returncode != 0
    assert b"needs root" in done.stderr


# ------------------------------------------------------------------------ build checks
def _build_script() -> ModuleType:
    sys.path.insert(0, str(REPO / "scripts"))
    import build_installer

    return build_installer


def test_archive_entries_are_world_readable_and_root_owned(tmp_path: Path) -> None:
    """A manifest written 0600 (mkstemp) must not stay private in a system install."""
    import tarfile

    build = _build_script()
    app = tmp_path / "app"
    (app / "_internal/models/m").mkdir(parents=True)
    private = app / "_internal/models/m/manifest.json"
    private.write_text("{}", encoding="utf-8")
    private.chmod(0o600)
    exe = app / "mscc-desktop"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o700)

    archive = build.make_archive(app, tmp_path / "a.tar.gz", "top")

    with tarfile.open(archive) as tar:
        modes = {m.name: (m.mode, m.uid, m.gid) for m in tar.getmembers()}
    assert modes["top/_internal/models/m/manifest.json"] == (0o644, 0, 0)
    assert modes["top/mscc-desktop"] == (0o755, 0, 0)
    assert modes["top/_internal"] == (0o755, 0, 0)


def test_bundle_check_finds_torch_and_missing_pieces(tmp_path: Path) -> None:
    build = _build_script()
    app = tmp_path / "app"
    (app / "_internal/torch").mkdir(parents=True)
    (app / "_internal/torch/__init__.pyc").write_bytes(b"")

    problems = build.verify_bundle(app, cpu_only=False)

    assert any("forbidden 'torch'" in p for p in problems)
    if sys.platform.startswith("linux"):
        assert any("mscc_build_info.json" in p for p in problems)
        assert any("CUDA provider missing" in p for p in problems)
