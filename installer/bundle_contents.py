"""What goes into the installed app and what stays out: one list for every platform.

Read by ``mscc-desktop.spec`` (PyInstaller) and by ``scripts/build_installer.py`` (which checks
the finished bundle against it), so the recipe and its verification cannot drift apart.
Plain data and small pure functions only: the spec imports this module inside PyInstaller.
"""

from __future__ import annotations

import fnmatch
import sys

APP_NAME = "mscc-desktop"
"""Executable, folder and desktop-entry name."""

ENTRY_SCRIPT = "launcher/mscc_desktop_launcher.py"
"""The frozen main script, relative to ``installer/``."""

LAUNCHER_MODULES = ("mscc_gui_smoke",)
"""Modules beside the entry script that the bundle carries (imported only when asked for)."""

RUNTIME_HOOKS = (
    "rthooks/pyi_rth_mscc_offline.py",
    "rthooks/pyi_rth_mscc_network_audit.py",
)
"""PyInstaller run-time hooks, relative to ``installer/``, in the order they run."""

# --------------------------------------------------------------------------- kept out
EXCLUDED_PACKAGES: tuple[str, ...] = (
    # The training extra: torch is 1-2 GB and the installed app runs ONNX Runtime only.
    "torch",
    "torchvision",
    "torchaudio",
    "torchgen",
    "functorch",
    "triton",
    "onnx",  # export-time checker, not needed to run ONNX files
    "onnxscript",
    "nvidia",  # pip CUDA wheels; the GPU path uses the workstation's CUDA installation
    "cuda",  # cuda-python bindings, found through an optional import; ONNX Runtime needs none
    "mscc_desktop.training",
    "sympy",
    "networkx",
    "tensorboard",
    # Test and developer tools.
    "pytest",
    "_pytest",
    "pytestqt",
    "hypothesis",
    "mypy",
    "ruff",
    "importlinter",
    "grimp",
    "PyInstaller",
    "pip",
    # (ssl stays: DICOM associations with a PACS may use TLS. Nothing talks to the internet,
    # and the DICOM listener is off until a user turns it on; test_bundle checks that no
    # connection is attempted by the bundle's commands.)
    "setuptools",
    "IPython",
    "jupyter_client",
    "notebook",
    # Optional extras some libraries import lazily; the app uses none of them.
    "matplotlib",
    "pandas",
    "tkinter",
    "_tkinter",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "pyqtgraph.opengl",
    "pyqtgraph.examples",
    "pyqtgraph.jupyter",
    "OpenGL",
    "cupy",
    "h5py",
    "zarr",
    "dask",
)
"""Top-level packages (and sub-packages) the bundle must not contain."""

FORBIDDEN_IN_BUNDLE: tuple[str, ...] = (
    "torch",
    "torchvision",
    "torchgen",
    "functorch",
    "libtorch*",
    "libc10*",
    "mscc_desktop/training",
    "nvidia",
)
"""Names that must not appear anywhere in the finished bundle (checked after the build)."""

# Qt modules the app never uses; PySide6's hooks would otherwise follow pyqtgraph's optional
# imports into them (QML, Quick, Network, PDF, multimedia...). Not QtOpenGL/QtOpenGLWidgets:
# pyqtgraph imports them unconditionally (pyqtgraph/Qt/OpenGLHelpers.py).
EXCLUDED_QT_MODULES: tuple[str, ...] = (
    "PySide6.QtNetwork",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtPdf",
    "PySide6.QtPdfWidgets",
    "PySide6.QtMultimedia",
    "PySide6.QtWebEngineCore",
    "PySide6.QtWebEngineWidgets",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtUiTools",
    "PySide6.QtSql",
    "PySide6.QtTest",
    "PySide6.QtDBus",
    "PySide6.Qt3DCore",
    "PySide6.QtCharts",
    "PySide6.QtDataVisualization",
)

# Binaries dropped after analysis (fnmatch on the destination path, '/' separators).
DROPPED_BINARIES: tuple[str, ...] = (
    # TensorRT provider: needs TensorRT, which no workstation install brings.
    "*libonnxruntime_providers_tensorrt*",
    "*onnxruntime_providers_tensorrt*.dll",
    # CUDA runtime libraries found on the build machine: the GPU path uses the ones installed
    # with the workstation's CUDA/cuDNN so that all of them come from one consistent set.
    "*libcudart.so*",
    "*libcublas*",
    "*libcudnn*",
    "*libcurand*",
    "*libcufft*",
    "*libnvrtc*",
    "*libnvJitLink*",
    # Qt platform plugins for embedded/remote displays; desktops need xcb or wayland,
    # tests and headless checks need offscreen.
    "*/plugins/platforms/libqeglfs.so",
    "*/plugins/platforms/libqlinuxfb.so",
    "*/plugins/platforms/libqvnc.so",
    "*/plugins/platforms/libqvkkhrdisplay.so",
    "*/plugins/platforms/libqminimalegl.so",
    "*/plugins/egldeviceintegrations/*",
    "*libQt6EglFSDeviceIntegration*",
    "*libQt6EglFsKmsSupport*",
    # Qt's network-facing plugins: the app never opens a connection (the TUIO plugin
    # listens for touch events on a UDP port).
    "*/plugins/tls/*",
    "*/plugins/networkinformation/*",
    "*/plugins/generic/libqtuiotouchplugin.so",
    # GTK platform theme: the app has its own theme, and the plugin would load the
    # workstation's GTK against the cairo/pango copies of the build machine.
    "*/plugins/platformthemes/libqgtk3.so",
    # Libraries that only the plugins above needed (the build checks with ldd that every
    # remaining binary still finds all of its libraries).
    *(
        f"*{name}*"
        for name in (
            "libQt6Network.so",
            "libgssapi_krb5.so",
            "libkrb5.so",
            "libk5crypto.so",
            "libkrb5support.so",
            "libcom_err.so",
            "libkeyutils.so",
            "libatk-1.0.so",
            "libcairo-gobject.so",
            "libcairo.so",
            "libpango-1.0.so",
            "libpangocairo-1.0.so",
            "libpangoft2-1.0.so",
            "libgdk_pixbuf-2.0.so",
            "libharfbuzz.so",
            "libgraphite2.so",
            "libthai.so",
            "libdatrie.so",
            "libfribidi.so",
            "libpixman-1.so",
            "libgio-2.0.so",
            "libgmodule-2.0.so",
            "libgobject-2.0.so",
            "libmount.so",
            "libblkid.so",
            "libselinux.so",
            "libXrender.so",
            "libXext.so",
            "libXau.so",
            "libXdmcp.so",
            "libbsd.so",
            "libmd.so",
            "libjpeg.so",
        )
    ),
)

CUDA_PROVIDER_BINARIES: tuple[str, ...] = (
    "*libonnxruntime_providers_cuda*",
    "*onnxruntime_providers_cuda*.dll",
)
"""Dropped only for a CPU-only build (``--cpu-only``): ~280 MB that only a GPU uses."""

DROPPED_DATA: tuple[str, ...] = (
    # Qt's own translations: the interface is English only, and half-translated standard
    # dialogs read worse than English ones.
    "*/Qt/translations/*",
    "*/__pycache__/*",
)

REQUIRED_IN_BUNDLE: tuple[str, ...] = (
    "mscc_build_info.json",
    "base_library.zip",
    "resources/icons/mscc-desktop.svg",
    "onnxruntime/capi/onnxruntime_pybind11_state*",
    "onnxruntime/capi/libonnxruntime*.so*",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqxcb.so",
    "PySide6/Qt/plugins/platforms/libqwayland*.so",
    "_openjpeg.cpython-*",
    "_libjpeg.cpython-*",
    "rle/rle.cpython-*",
    "_CharLS.cpython-*",
    "reportlab/fonts/Vera.ttf",
    "highdicom/_standard/*.json",
    "pylibjpeg_openjpeg-*.dist-info/entry_points.txt",
    "pylibjpeg_libjpeg-*.dist-info/entry_points.txt",
    "pylibjpeg_rle-*.dist-info/entry_points.txt",
    "mscc_desktop*-info/*",
)
"""Glob patterns (relative to the bundle's library folder) a Linux bundle must contain."""

LIBRARIES_FROM_THE_WORKSTATION: tuple[str, ...] = (
    # NVIDIA driver, CUDA 13 runtime and cuDNN 9: installed with the GPU, loaded by ONNX
    # Runtime's CUDA provider only when a GPU is used.
    "libcuda.so*",
    "libcudart.so*",
    "libcublas.so*",
    "libcublasLt.so*",
    "libcurand.so*",
    "libcufft.so*",
    "libcudnn*.so*",
    "libnvrtc*.so*",
)
"""Libraries a bundled binary may need that the bundle deliberately does not carry."""

# --------------------------------------------------------------------------- pulled in
# pydicom finds pixel decoders at run time: pylibjpeg discovers its plugins through entry
# points (so their distribution metadata must travel), pydicom imports pyjpegls by name.
DECODER_MODULES: tuple[str, ...] = (
    "pylibjpeg",
    "openjpeg",
    "libjpeg",
    "rle",
    "jpeg_ls",
    "pydicom.pixels.decoders.pylibjpeg",
    "pydicom.pixels.decoders.pyjpegls",
    "pydicom.pixels.decoders.rle",
    "pydicom.pixels.encoders.pylibjpeg",
    "pydicom.pixels.encoders.pyjpegls",
    "pydicom.pixels.encoders.native",
)
METADATA_DISTRIBUTIONS: tuple[str, ...] = (
    "mscc-desktop",  # __version__ comes from importlib.metadata
    "pydicom",
    "pylibjpeg",
    "pylibjpeg-openjpeg",
    "pylibjpeg-libjpeg",
    "pylibjpeg-rle",
    "pyjpegls",
    "highdicom",
    "sqlite-utils",
    "reportlab",
    "numpy",
    "PySide6-Essentials",
)
"""Distributions whose ``*.dist-info`` the bundle carries (entry points, versions)."""

ONNXRUNTIME_DISTRIBUTIONS: tuple[str, ...] = ("onnxruntime-gpu", "onnxruntime")
"""The ONNX Runtime wheel installed (GPU build on Linux/Windows; CPU build on macOS, where
no GPU build exists): the first one found is recorded and its metadata bundled."""

DATA_PACKAGES: tuple[str, ...] = ("highdicom", "pyqtgraph")
"""Packages whose data files (JSON tables, colour maps) are read at run time."""

REPORTLAB_FONT_GLOBS: tuple[str, ...] = ("fonts/*.ttf", "fonts/*.afm", "fonts/*.pfb")

REPORT_FONT_CANDIDATES: tuple[tuple[str, str, str], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/doc/fonts-dejavu-core/copyright",
    ),
    (
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
        "/usr/share/licenses/ttf-dejavu/LICENSE",
    ),
)
"""DejaVu Sans on the build machine, bundled as ``resources/fonts/ReportSans*.ttf`` when the
source tree has no report font: PDF exports then draw names in Latin, Greek and Cyrillic
scripts the same way on every workstation (see ``mscc_desktop/reporting/fonts.py``)."""


def is_excluded_module(name: str) -> bool:
    """True when ``name`` is one of :data:`EXCLUDED_PACKAGES` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in EXCLUDED_PACKAGES)


def _matches(dest: str, patterns: tuple[str, ...]) -> bool:
    path = dest.replace("\\", "/")
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch("/" + path, p) for p in patterns)


def drop_binary(dest: str, *, cpu_only: bool) -> bool:
    """True when a collected binary (destination path in the bundle) is left out."""
    patterns = DROPPED_BINARIES + (CUDA_PROVIDER_BINARIES if cpu_only else ())
    return _matches(dest, patterns)


def drop_data(dest: str) -> bool:
    """True when a collected data file (destination path in the bundle) is left out."""
    return _matches(dest, DROPPED_DATA)


def onnxruntime_distribution() -> str:
    """Name of the installed ONNX Runtime distribution (see ONNXRUNTIME_DISTRIBUTIONS)."""
    from importlib.metadata import PackageNotFoundError, version

    for name in ONNXRUNTIME_DISTRIBUTIONS:
        try:
            version(name)
        except PackageNotFoundError:
            continue
        return name
    raise RuntimeError("ONNX Runtime is not installed: pip install -e .")


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-amd64``, ``macos-arm64``: names the archive."""
    import platform

    system = {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(
        sys.platform, sys.platform
    )
    return f"{system}-{platform.machine().lower()}"
