"""A JPEG-LS "decoder" that aborts its process: a native decoder crashing on a damaged file.

Test only. :func:`install` runs in a decoder worker (the pool's initializer) and puts this
module in the place of CharLS (``pyjpegls``), the plugin the app insists on for JPEG-LS, so
the worker dies with SIGABRT exactly as it would if CharLS crashed on a file.
"""

from __future__ import annotations

import os
from typing import Any

from pydicom.uid import JPEGLSLossless, JPEGLSNearLossless

DECODER_DEPENDENCIES = {JPEGLSLossless: (), JPEGLSNearLossless: ()}


def is_available(uid: str) -> bool:
    return uid in DECODER_DEPENDENCIES


def abort_decode(src: bytes, runner: Any) -> bytes:
    os.abort()


def install() -> None:
    from pydicom.pixels.decoders.base import JPEGLSLosslessDecoder

    if "pyjpegls" in JPEGLSLosslessDecoder.available_plugins:
        JPEGLSLosslessDecoder.remove_plugin("pyjpegls")
    JPEGLSLosslessDecoder.add_plugin("pyjpegls", (__name__, "abort_decode"))
