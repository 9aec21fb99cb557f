"""Opening an association with a peer: one place for our AE's time limits, TLS and the
sentence that says why a peer could not be reached or refused us."""

from __future__ import annotations

from typing import Any

from mscc_desktop.core.errors import NetworkError
from mscc_desktop.network.nodes import RemoteNode, TlsSettings, tls_arguments


def calling_entity(calling_ae: str, timeout_s: float) -> Any:
    """Our pynetdicom ``AE`` as a caller, with ``timeout_s`` for every stage."""
    from pynetdicom import AE

    ae = AE(ae_title=calling_ae)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    return ae


def associate(
    ae: Any,
    node: RemoteNode,
    tls: TlsSettings | None,
    *,
    ext_neg: list[Any] | None = None,
    evt_handlers: list[Any] | None = None,
) -> Any:
    """An established association with ``node`` (the contexts are ``ae``'s requested ones),
    or :class:`NetworkError` with the reason and the remedy."""
    node = node.checked()
    assoc = ae.associate(
        node.host,
        node.port,
        ae_title=node.ae_title,
        tls_args=tls_arguments(node, tls),
        ext_neg=ext_neg,
        evt_handlers=evt_handlers,
    )
    if not assoc.is_established:
        raise NetworkError(refusal(node, assoc))
    return assoc


def refusal(node: RemoteNode, assoc: Any) -> str:
    """Why an association with ``node`` was not established, as a sentence with its remedy."""
    if assoc.is_rejected:
        return (
            f"{node.label} rejected the association: check that it knows this workstation's "
            "AE title, address and port."
        )
    if assoc.is_aborted and assoc.acceptor.primitive is not None:
        # The peer answered, then aborted: it was reached, so the connection is not the problem.
        return f"{node.label} aborted the association (a TLS or protocol mismatch?)."
    return (
        f"{node.label} cannot be reached: check the host, port and that the PACS is running "
        "(Settings > Network > Echo)."
    )
