"""A real Orthanc PACS for tests: started on localhost with a temporary configuration.

Debian's ``orthanc`` package (``.ci/run`` installs it). :func:`start_orthanc` returns ``None``
with the reason when the binary is absent, so tests can skip saying why. The REST API (on
127.0.0.1 only) uploads test files and tells Orthanc to push them to the app.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ORTHANC_AE = "ORTHANC"
APP_AE = "MSCC_DESKTOP"


def orthanc_binary() -> str | None:
    return (
        shutil.which("Orthanc")
        or shutil.which("orthanc")
        or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    )


def dcmtk_tool(name: str) -> str | None:
    """A DCMTK command (``storescp``, ``storescu``), never pynetdicom's same-named apps that a
    virtual environment puts first on PATH."""
    for folder in ("/usr/bin", "/usr/local/bin"):
        candidate = Path(folder) / name
        if candidate.exists():
            run = subprocess.run([str(candidate), "--version"], capture_output=True, text=True)
            if "dcmtk" in (run.stdout + run.stderr).lower():
                return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Orthanc:
    process: subprocess.Popen[bytes]
    http_port: int
    dicom_port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def rest(
        self, method: str, path: str, body: bytes | dict[str, Any] | list[Any] | None = None
    ) -> Any:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(payload)
        return payload

    def upload(self, files: list[Path]) -> list[str]:
        """Upload DICOM files; their Orthanc instance ids."""
        return [self.rest("POST", "/instances", Path(f).read_bytes())["ID"] for f in files]

    def add_modality(self, name: str, ae_title: str, port: int, host: str = "127.0.0.1") -> None:
        self.rest("PUT", f"/modalities/{name}", {"AET": ae_title, "Host": host, "Port": port})

    def push(self, modality: str, resources: list[str]) -> Any:
        """C-STORE ``resources`` (instance/series/study ids) to ``modality``; waits for it."""
        return self.rest(
            "POST", f"/modalities/{modality}/store", {"Resources": resources, "Synchronous": True}
        )

    def instances(self) -> list[str]:
        return list(self.rest("GET", "/instances"))

    def instance_file(self, instance_id: str) -> bytes:
        return bytes(self.rest("GET", f"/instances/{instance_id}/file"))

    def instance_tags(self, instance_id: str) -> dict[str, Any]:
        return dict(self.rest("GET", f"/instances/{instance_id}/simplified-tags"))

    def clear(self) -> None:
        for patient in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{patient}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_orthanc(folder: Path, *, app_port: int | None = None) -> Orthanc | str:
    """Start Orthanc in ``folder``; the server, or the reason it cannot run."""
    binary = orthanc_binary()
    if binary is None:
        return "Orthanc is not installed (Debian package 'orthanc'; .ci/run installs it)"
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    modalities = {"mscc": [APP_AE, "127.0.0.1", app_port]} if app_port else {}
    config = {
        "Name": "mscc-test-orthanc",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AE,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomModalities": modalities,
        "DicomModalitiesInDatabase": True,
        "StorageCompression": False,
        "Plugins": [],
        "ConcurrentJobs": 2,
        "DicomScpTimeout": 30,
        "UnknownSopClassAccepted": True,
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - kept open for the process
    process = subprocess.Popen(
        [binary, "--logdir=" + str(folder), str(folder / "orthanc.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Orthanc(process, http_port, dicom_port, folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (folder / "orthanc.log").read_text(errors="replace")[-800:]
            return f"Orthanc exited at start (code {process.returncode}): {tail}"
        try:
            server.rest("GET", "/system")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    server.stop()
    return "Orthanc did not answer on its HTTP port within 60 s"
