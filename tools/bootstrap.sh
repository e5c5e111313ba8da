#!/usr/bin/env bash
# Prepares a Debian 12 machine to build dcn; idempotent, and quick when
# everything is already there:
#   - Debian packages: compiler, ninja, GoogleTest, Google Benchmark, CLI11
#     (flag parsing of the tools), nlohmann-json (the tuner's files), clang
#     with its sanitizer runtimes (tools/check.sh), venv, Python headers (the
#     Python extension module; torch.compile's C++ backend),
#     PoCL (OpenCL on the CPU: how the tests run the GPU schedules);
#   - a project-local venv (.venv) with halide==21.0.0 (the C++ SDK: headers,
#     libHalide, CMake package, autoschedulers) and CMake >= 3.28.
# CMakeLists.txt finds Halide in .venv by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

HALIDE_VERSION=21.0.0
CMAKE_SPEC='cmake>=3.28,<4'

need_apt=()
for pkg in g++ ninja-build libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev clang libclang-rt-14-dev python3-venv python3-dev \
           pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
    echo "bootstrap: installing Debian packages: ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
if ! .venv/bin/python - "$HALIDE_VERSION" <<'PYEOF' 2>/dev/null
import sys, importlib.metadata as md
assert md.version("halide") == sys.argv[1]
v = tuple(int(p) for p in md.version("cmake").split(".")[:2])
assert v >= (3, 28)
PYEOF
then
    echo "bootstrap: installing halide==$HALIDE_VERSION and $CMAKE_SPEC into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check "halide==$HALIDE_VERSION" "$CMAKE_SPEC"
fi
echo "bootstrap: ok (Halide $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("halide"))')," \
     "$(.venv/bin/cmake --version | head -1))"
