"""Run-time hook of the installed app: switch off what would reach for the network.

ONNX Runtime (1.2x and later, Linux and Windows builds from PyPI) carries Microsoft's 1DS
telemetry client: on import it writes a device id and an event queue under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` (process path, OS, CPU, memory) and a
background thread later resolves and posts to ``mobile.events.data.microsoft.com``
(measured: a DNS query about 8 s after the first inference session). ``ORT_DISABLE_TELEMETRY``
must be set before ``import onnxruntime``; ``onnxruntime.disable_telemetry_events()`` after
import does not stop it. A run-time hook runs before the application's first import, and
the variable is inherited by the decode worker processes.

The bundle sets it unconditionally: working offline is a promise of the product, not a
preference a stray environment variable may undo.
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
