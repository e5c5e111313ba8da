#!/usr/bin/env bash
# Builds everything and runs the whole test suite (what .ci/run runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
.venv/bin/cmake --preset default
.venv/bin/cmake --build --preset default
.venv/bin/ctest --preset default "$@"
