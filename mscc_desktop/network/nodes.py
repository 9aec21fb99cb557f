"""Who the workstation talks to on the hospital network: its own listener and its PACS peers.

The settings live in one small JSON file in the app-data folder (``network.json``), read by
the GUI's Settings page and by ``mscc-desktop listen``/``send``/``pacs`` alike, so the two
never disagree. The listener is off by default: nothing is received until a user turns it on.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscc_desktop.core.errors import NetworkError

if TYPE_CHECKING:
    import ssl

logger = logging.getLogger(__name__)

SETTINGS_FILE = "network.json"
DEFAULT_AE_TITLE = "MSCC_DESKTOP"
DEFAULT_PORT = 11112  # the registered DICOM port above 1024, so no root is needed

# PS3.5 AE: 1-16 characters of the default repertoire, no backslash or control characters;
# leading/trailing spaces are not significant.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def check_ae_title(title: str, *, what: str = "AE title") -> str:
    """``title`` stripped, or :class:`NetworkError` saying why it is not a valid AE title."""
    cleaned = title.strip()
    if not cleaned or not _AE_TITLE.match(cleaned):
        raise NetworkError(
            f"The {what} {title!r} is not valid: use 1 to 16 letters, digits, spaces or "
            "punctuation, without a backslash."
        )
    return cleaned


def check_port(port: int, *, what: str = "port", allow_any: bool = False) -> int:
    """``port`` as an int; 0 ("any free port", for tests) only with ``allow_any``."""
    if not (0 if allow_any else 1) <= int(port) <= 65535:
        raise NetworkError(f"The {what} {port} is not a TCP port number (1 to 65535).")
    return int(port)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Optional TLS for associations: PEM files; empty paths mean plain TCP."""

    certificate: str = ""  # our certificate (PEM)
    private_key: str = ""  # its key (PEM)
    ca_certificates: str = ""  # CAs whose peers we trust (PEM); required to enable TLS
    require_peer_certificate: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.ca_certificates)

    def context(self, *, server: bool) -> ssl.SSLContext | None:
        """An :class:`ssl.SSLContext` for a listener (``server``) or a caller; ``None`` if off."""
        if not self.enabled:
            return None
        import ssl  # only when TLS is on: plain DICOM needs no TLS library

        purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
        try:
            context = ssl.create_default_context(purpose, cafile=self.ca_certificates)
            if self.certificate:
                context.load_cert_chain(self.certificate, self.private_key or None)
        except (OSError, ssl.SSLError) as error:
            raise NetworkError(
                f"The TLS certificate files could not be read ({error.__class__.__name__}). "
                "Check the paths under Settings > Network > TLS."
            ) from error
        if server and self.require_peer_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
        if not server:
            context.check_hostname = False  # PACS peers are named by address, not host name
        return context


@dataclass(frozen=True, slots=True)
class RemoteNode:
    """A DICOM peer (a PACS, a modality, a viewer): where to send, query or retrieve."""

    name: str  # what the user calls it ("PACS", "Orthanc test")
    ae_title: str
    host: str
    port: int = 104
    tls: bool = False  # use the TLS settings for associations with this peer

    def checked(self) -> RemoteNode:
        if not self.name.strip():
            raise NetworkError("A destination needs a name.")
        if not self.host.strip():
            raise NetworkError(f"Destination {self.name!r} has no host name or address.")
        return replace(
            self,
            name=self.name.strip(),
            ae_title=check_ae_title(self.ae_title, what=f"AE title of {self.name!r}"),
            host=self.host.strip(),
            port=check_port(self.port, what=f"port of {self.name!r}"),
        )

    @property
    def label(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    """The workstation's own Storage SCP (receive) and Verification SCP (C-ECHO)."""

    enabled: bool = False  # off by default: nothing is received until a user turns it on
    ae_title: str = DEFAULT_AE_TITLE
    port: int = DEFAULT_PORT
    bind_address: str = "0.0.0.0"
    # Empty lists allow any caller of that kind; a caller must pass both lists.
    allowed_ae_titles: tuple[str, ...] = ()
    allowed_addresses: tuple[str, ...] = ()  # IP addresses or networks ("10.1.2.0/24")
    quiet_seconds: float = 10.0  # a series with no new instance for this long is complete
    analyse_when_complete: bool = False
    reserve_free_mb: int = 1024  # refuse instances that would leave less free disk space

    def checked(self) -> ListenerSettings:
        titles = tuple(check_ae_title(t, what="allowed AE title") for t in self.allowed_ae_titles)
        for entry in self.allowed_addresses:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as error:
                raise NetworkError(
                    f"{entry!r} in the allowed addresses is neither an IP address nor a "
                    "network such as 10.1.2.0/24."
                ) from error
        if self.quiet_seconds <= 0:
            raise NetworkError("The quiet time before a series counts as complete must be > 0.")
        return replace(
            self,
            ae_title=check_ae_title(self.ae_title, what="workstation's AE title"),
            port=check_port(self.port, allow_any=True),
            allowed_ae_titles=titles,
            allowed_addresses=tuple(a.strip() for a in self.allowed_addresses),
            reserve_free_mb=max(0, int(self.reserve_free_mb)),
        )

    def address_allowed(self, address: str) -> bool:
        if not self.allowed_addresses:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n, strict=False) for n in self.allowed_addresses)


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Everything in ``network.json``."""

    listener: ListenerSettings = field(default_factory=ListenerSettings)
    destinations: tuple[RemoteNode, ...] = ()
    tls: TlsSettings = field(default_factory=TlsSettings)

    def destination(self, name_or_address: str) -> RemoteNode:
        """A configured destination by name, or an ad-hoc ``AE@host:port``."""
        for node in self.destinations:
            if node.name.lower() == name_or_address.strip().lower():
                return node
        match = re.match(r"^(?P<ae>[^@]+)@(?P<host>[^:]+):(?P<port>\d+)$", name_or_address.strip())
        if match:
            return RemoteNode(
                name=name_or_address.strip(),
                ae_title=match["ae"],
                host=match["host"],
                port=int(match["port"]),
            ).checked()
        known = ", ".join(n.name for n in self.destinations) or "none configured"
        raise NetworkError(
            f"No destination called {name_or_address!r} ({known}). Add it in Settings > "
            "Network, or give it as AE@host:port."
        )

    def checked(self) -> NetworkSettings:
        nodes = tuple(n.checked() for n in self.destinations)
        names = [n.name.lower() for n in nodes]
        if len(set(names)) != len(names):
            raise NetworkError("Two destinations have the same name; give each its own.")
        for node in nodes:
            if node.tls and not self.tls.enabled:
                raise NetworkError(
                    f"Destination {node.name!r} is set to use TLS, but no CA certificates are "
                    "configured under Settings > Network > TLS: choose them there, or untick "
                    "TLS for it."
                )
        if self.tls.enabled:
            if self.listener.enabled and not (self.tls.certificate and self.tls.private_key):
                raise NetworkError(
                    "With TLS on, the listener needs this workstation's certificate and its "
                    "private key (Settings > Network > TLS)."
                )
            self.tls.context(server=True)  # the files must load (NetworkError says which)
        return replace(self, listener=self.listener.checked(), destinations=nodes)


def tls_arguments(node: RemoteNode, tls: TlsSettings | None) -> tuple[ssl.SSLContext, str] | None:
    """pynetdicom's ``tls_args`` for calling ``node``: ``None`` for plain TCP."""
    if not node.tls:
        return None
    context = tls.context(server=False) if tls is not None else None
    if context is None:
        raise NetworkError(
            f"{node.name!r} is set to use TLS, but no CA certificates are configured under "
            "Settings > Network > TLS."
        )
    return context, node.host


def settings_path(data_dir: Path) -> Path:
    return Path(data_dir) / SETTINGS_FILE


def load_network_settings(data_dir: Path) -> NetworkSettings:
    """The saved settings, or the defaults (listener off, no destinations) when none are saved.

    A damaged file is reported, never silently replaced: the user's destinations are in it.
    """
    path = settings_path(data_dir)
    if not path.is_file():
        return NetworkSettings()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _from_dict(raw).checked()
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise NetworkError(
            f"The network settings in {path} cannot be read ({error.__class__.__name__}). "
            "Fix or delete the file, then set the network up again in Settings."
        ) from error


def save_network_settings(settings: NetworkSettings, data_dir: Path) -> Path:
    """Check and write the settings atomically (a crash never leaves half a file)."""
    checked = settings.checked()
    path = settings_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(checked), indent=2), encoding="utf-8")
    os.replace(partial, path)
    return path


def _from_dict(raw: dict[str, Any]) -> NetworkSettings:
    listener = dict(raw.get("listener", {}))
    for key in ("allowed_ae_titles", "allowed_addresses"):
        listener[key] = tuple(listener.get(key, ()))
    return NetworkSettings(
        listener=ListenerSettings(**listener),
        destinations=tuple(RemoteNode(**node) for node in raw.get("destinations", ())),
        tls=TlsSettings(**raw.get("tls", {})),
    )
