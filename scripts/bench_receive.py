"""Benchmark: receiving 1,000 CT instances, the app's listener beside Orthanc, in one run.

The same sender, DCMTK's ``storescu`` (C++, so the sender is never the Python under test),
sends the same 1,000 uncompressed 512x512 CT instances (~0.5 MB each) over localhost to

* ``app``     - :class:`mscc_desktop.network.StorageReceiver` in its own process (pynetdicom,
  each instance written atomically with fsync into the managed folder), then the series
  registered in a fresh store as the listener does when it goes quiet;
* ``orthanc`` - Orthanc 1.10 (Debian package) with a temporary configuration and storage.

Runs alternate (app, orthanc, app, orthanc, ...). Reported per run: instances/s over the
storescu wall time, the receiver's CPU seconds during the send, and its peak resident memory
(VmHWM). Ratios are app/orthanc medians from the same run. Needs ``orthanc`` and ``dcmtk``.

Usage: ``python scripts/bench_receive.py [--instances 1000] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_RECEIVER = r"""
import json, sys, time, resource
from pathlib import Path
from mscc_desktop.network import ListenerSettings, StorageReceiver, ReceiverEventKind
root, port, expected = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
settings = ListenerSettings(enabled=True, port=port, bind_address="127.0.0.1", reserve_free_mb=0)
receiver = StorageReceiver(settings, root)
receiver.start()
print("ready", flush=True)
stored, events = 0, []
cpu0 = time.process_time()
while stored < expected:
    batch = receiver.events()
    events += batch
    stored += sum(e.kind is ReceiverEventKind.INSTANCE_STORED for e in batch)
    time.sleep(0.01)
cpu_receive = time.process_time() - cpu0
receiver.stop()
# What the listener then does when the series goes quiet: scan and register it.
from mscc_desktop import storage
from mscc_desktop.workflow import ReceiveSession
started = time.perf_counter()
db = storage.open_store(root.parent / "bench.sqlite")
result = ReceiveSession(db, quiet_seconds=1).poll(events, flush=True)
register_s = time.perf_counter() - started
with open("/proc/self/status") as handle:
    hwm = next(int(l.split()[1]) * 1024 for l in handle if l.startswith("VmHWM:"))
print(json.dumps({"cpu_s": cpu_receive, "peak_rss": hwm, "register_s": register_s,
                  "registered": sum(len(r.records) for r in result.registered)}), flush=True)
"""


def generate(folder: Path, n_instances: int) -> None:
    """``n_instances`` files: 100 written by the product's writer, each copied with new UIDs."""
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    from mscc_desktop.core.dicom import CtSeriesSpec, FileNaming, TransferSyntax, write_ct_series
    from mscc_desktop.core.volume import SeriesInfo

    base = folder.parent / "base"
    n_base = min(100, n_instances)
    rng = np.random.default_rng(0)
    rr, cc = np.mgrid[0:512, 0:512]
    body = ((rr - 256) / 200.0) ** 2 + ((cc - 256) / 230.0) ** 2 <= 1
    hu = np.where(body, 40, -1000).astype(np.int16)[None].repeat(n_base, axis=0)
    hu += rng.integers(-15, 16, size=hu.shape, dtype=np.int16)
    spec = CtSeriesSpec(
        pixel_spacing_mm=(0.8, 0.8),
        z_positions_mm=tuple(-1.0 * k for k in range(n_base)),
        slice_thickness_mm=1.0,
        info=SeriesInfo(patient_name="Bench^Receive", patient_id="BR1", series_number=1),
        transfer_syntax=TransferSyntax.EXPLICIT_LE,
        naming=FileNaming.RANDOM,
        seed="bench-receive",
    )
    write_ct_series(hu, spec, base)
    folder.mkdir(parents=True)
    sources = sorted(base.iterdir())
    series_uid = generate_uid()
    for n in range(n_instances):
        ds = dcmread(sources[n % n_base])
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.InstanceNumber = n + 1
        ds.ImagePositionPatient = [-205.0, -205.0, -1.0 * n]
        ds.save_as(folder / f"{n:05d}.dcm", enforce_file_format=True)


def _send(storescu: str, port: int, called: str, folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [storescu, "-aet", "BENCH", "-aec", called, "+sd", "127.0.0.1", str(port), str(folder)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_app(storescu: str, folder: Path, n: int, work: Path) -> dict[str, float]:
    from tests.network.orthanc import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER, str(work / "received"), str(port), str(n)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    wall = _send(storescu, port, "MSCC_DESKTOP", folder)
    stats = json.loads(process.stdout.readline())
    process.wait(timeout=60)
    return {"wall_s": wall, **stats}


def run_orthanc(storescu: str, folder: Path, work: Path) -> dict[str, float]:
    from tests.network.orthanc import start_orthanc

    server = start_orthanc(work / "orthanc")
    if isinstance(server, str):
        raise SystemExit(server)
    try:
        cpu0 = _proc_cpu_s(server.process.pid)
        wall = _send(storescu, server.dicom_port, "ORTHANC", folder)
        stats = {
            "wall_s": wall,
            "cpu_s": _proc_cpu_s(server.process.pid) - cpu0,
            "peak_rss": _proc_hwm(server.process.pid),
            "stored": len(server.instances()),
        }
    finally:
        server.stop()
    return stats


def main() -> int:
    from tests.network.orthanc import dcmtk_tool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    storescu = dcmtk_tool("storescu")
    if storescu is None:
        raise SystemExit("DCMTK's storescu is needed (Debian package dcmtk)")
    results: dict[str, list[dict[str, float]]] = {"app": [], "orthanc": []}
    with tempfile.TemporaryDirectory(prefix="bench-receive-") as tmp:
        data = Path(tmp) / "instances"
        print(f"writing {args.instances} instances ...", file=sys.stderr)
        generate(data, args.instances)
        size = sum(p.stat().st_size for p in data.iterdir())
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for repeat in range(args.repeats):
            for name in ("app", "orthanc"):
                work = Path(tmp) / f"{name}{repeat}"
                work.mkdir()
                if name == "app":
                    result = run_app(storescu, data, args.instances, work)
                else:
                    result = run_orthanc(storescu, data, work)
                results[name].append(result)
                rate = args.instances / result["wall_s"]
                extra = (
                    f", then registered in {result['register_s']:.1f} s"
                    if name == "app"
                    else f", {int(result['stored'])} stored"
                )
                print(
                    f"{name:8s} run {repeat + 1}: {rate:6.1f} instances/s "
                    f"({size / result['wall_s'] / 1e6:5.1f} MB/s), receiver CPU "
                    f"{result['cpu_s']:5.1f} s, peak RSS "
                    f"{result['peak_rss'] / 2**20:6.0f} MiB{extra}"
                )
    medians = {
        name: {
            key: statistics.median(r[key] for r in runs) for key in ("wall_s", "cpu_s", "peak_rss")
        }
        for name, runs in results.items()
    }
    app, orthanc = medians["app"], medians["orthanc"]
    app_rate, orthanc_rate = args.instances / app["wall_s"], args.instances / orthanc["wall_s"]
    ratios = {key: app[key] / orthanc[key] for key in ("wall_s", "cpu_s", "peak_rss")}
    print(
        f"\nmedian, {args.instances} instances ({size / 1e6:.0f} MB): app {app_rate:.0f}/s vs "
        f"Orthanc {orthanc_rate:.0f}/s; ratios app/Orthanc: time {ratios['wall_s']:.2f}, CPU "
        f"{ratios['cpu_s']:.2f}, peak RSS {ratios['peak_rss']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
