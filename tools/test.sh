#!/usr/bin/env bash
# Builds everything and runs the whole test suite (what .ci/run runs): the
# GCC build's tests, the Python package's tests (tools/python_test.sh), then
# the checking builds (tools/check.sh: clang with
# ASan + UBSan + LSan over the suite, ThreadSanitizer over the concurrency
# test). DCN_SKIP_CHECKS=1 skips the checking builds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
.venv/bin/cmake --preset default
.venv/bin/cmake --build --preset default
.venv/bin/ctest --preset default "$@"
bash tools/python_test.sh
if [ "${DCN_SKIP_CHECKS:-0}" != 1 ]; then
    bash tools/check.sh
fi
