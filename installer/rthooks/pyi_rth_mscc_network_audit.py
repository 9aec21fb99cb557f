"""Run-time hook of the installed app: an opt-in log of every network attempt from Python.

Inactive unless ``MSCC_NETWORK_AUDIT_LOG`` names a file. Then a CPython audit hook (PEP 578,
``sys.addaudithook``) appends one JSON line per network-related event raised anywhere in
the process — creating an internet socket, connecting, binding, sending, resolving a host
name, or opening a URL through urllib/http.client/ftplib/smtplib — with the process id and
the Python frames that caused it. Child processes (the DICOM decode workers) inherit the
variable and log to the same file.

Why this and not ``sitecustomize``/``LD_PRELOAD``: a frozen app ignores site hooks, and this
runs inside the bundle itself, before the application's first import, so it sees exactly
what the installed code does. It cannot see native code that opens sockets without Python
(Qt, ONNX Runtime); the installer test covers that with ``strace`` and an empty network
namespace. Site IT can use the same switch to check the no-network claim on a workstation.
"""

import os
import sys

_EVENTS = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
        "poplib.connect",
        "imaplib.open",
        "nntplib.connect",
        "webbrowser.open",
    }
)
_LOCAL_FAMILIES = frozenset({1})  # AF_UNIX: local IPC (the decode workers' forkserver)


def _install(path: str) -> None:
    import json

    def hook(event: str, args: tuple) -> None:
        if event not in _EVENTS:
            return
        try:
            family = None
            if event == "socket.__new__" and len(args) > 1:
                family = int(args[1])
            elif event.startswith(("socket.connect", "socket.bind", "socket.send")) and args:
                family = int(getattr(args[0], "family", -1))
            frames = []
            frame = sys._getframe(1)
            while frame is not None and len(frames) < 12:
                frames.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                frame = frame.f_back
            line = json.dumps(
                {
                    "pid": os.getpid(),
                    "event": event,
                    "family": family,
                    "local": family in _LOCAL_FAMILIES,
                    "args": [repr(a)[:200] for a in args[1:]],
                    "stack": frames,
                }
            )
            with open(path, "a", encoding="utf-8") as log:
                log.write(line + "\n")
        except Exception:  # noqa: BLE001 - an audit hook must never break the app
            pass

    sys.addaudithook(hook)


_log_path = os.environ.get("MSCC_NETWORK_AUDIT_LOG")
if _log_path:
    _install(_log_path)
