#!/usr/bin/env bash
# Build the peer-reference fixtures for the evaluation tests (tests/evaluation/).
#
# irrCAC pins scipy==1.12 (and so numpy 1.x), which the project's environment must not take, so
# the peers run in a SEPARATE virtual environment outside the repository. The fixtures it writes
# (fixtures/*.json beside this script) hold the random input data together with the peers'
# answers, so the tests never need irrCAC, statsmodels or scikit-learn themselves.
#
# Usage:  scripts/irrcac_reference/build_fixtures.sh          (venv in /tmp/irrcac-venv)
#         IRRCAC_VENV=/some/where PYTHON=python3.11 scripts/irrcac_reference/build_fixtures.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${IRRCAC_VENV:-/tmp/irrcac-venv}"
python="${PYTHON:-python3.11}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
# Pinned so the fixtures are reproducible; irrCAC 0.4.4 itself pins scipy==1.12.0.
"$venv/bin/pip" install -q \
  "irrCAC==0.4.4" "scipy==1.12.0" "numpy==1.26.4" "pandas==2.2.3" \
  "statsmodels==0.14.4" "scikit-learn==1.5.2"
"$venv/bin/python" "$here/compute_reference.py" --out "$here/fixtures"
