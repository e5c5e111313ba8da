#!/usr/bin/env bash
# The Python package's tests (tests/python, pytest), run by tools/test.sh
# after the C++ build: a project-local venv (.venv-py) with torch,
# torchvision, onnx, onnxruntime, mmengine, mmcv-lite (mmcv without its
# compiled ops), openvino, pytest and hypothesis from PyPI (the Linux torch wheel brings
# CUDA libraries: about 6 GB, a few minutes, once per machine), the package
# built from this checkout by scikit-build-core reusing the C++ build's
# kernels (build/, DCN_PREBUILT_KERNELS), then pytest, then the wheel
# (tools/wheel_test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv-py/bin/python ] || "$PY" -m venv .venv-py
if ! .venv-py/bin/python -c "import torch, torchvision, onnx, onnxruntime, onnxscript, pytest, hypothesis, numpy, nanobind, scikit_build_core, cmake, ninja, mmengine, mmcv.cnn, openvino" 2>/dev/null; then
    echo "python_test: installing torch, torchvision, onnx, onnxruntime, mmengine, mmcv-lite, openvino, pytest, nanobind, scikit-build-core into .venv-py"
    .venv-py/bin/python -m pip install -q --disable-pip-version-check torch torchvision onnx onnxruntime onnxscript \
        mmengine mmcv-lite openvino pytest hypothesis numpy "nanobind>=2.0" "scikit-build-core>=0.10" "cmake>=3.28,<4" ninja
fi
# Halide comes from .venv (tools/bootstrap.sh); no build isolation, so the
# build uses this venv's nanobind and scikit-build-core.
echo "python_test: building the package (kernels from build/)"
.venv-py/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
    -Ccmake.define.DCN_PREBUILT_KERNELS="$PWD/build" .
(cd tests/python && OMP_NUM_THREADS=2 ../../.venv-py/bin/python -m pytest -q -p no:cacheprovider .)
# The wheel: built, auditwheel-repaired, installed into a fresh venv with
# numpy only, run.
bash tools/wheel_test.sh
