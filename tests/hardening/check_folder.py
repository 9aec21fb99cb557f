"""Import one folder the way the fuzzer does and print the verdict as JSON (a subprocess).

``python -m tests.hardening.check_folder FOLDER`` prints
``{"verdict": ..., "detail": ..., "seconds": ...}``; run with a timeout by the caller, so a
hang in a decoder cannot stall the test run.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

from tests.hardening.fuzz_runner import ADDRESS_SPACE_LIMIT, check_import
from tests.hardening.fuzz_seeds import MARKER_ID, MARKER_NAME


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    # The fuzz workers' address-space cap: some failures only show under it.
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    started = time.perf_counter()
    verdict, detail = check_import(Path(argv[0]), forbidden=(MARKER_NAME.split("^")[0], MARKER_ID))
    seconds = time.perf_counter() - started
    print(json.dumps({"verdict": verdict.value, "detail": detail, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
