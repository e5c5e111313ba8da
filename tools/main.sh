#!/usr/bin/env bash
# Builds everything and runs the main job: one DCNv2 layer of ResNet-50's c4
# stage through the AOT library, timed and checked (examples/dcnv2_layer.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
.venv/bin/cmake --preset default
.venv/bin/cmake --build --preset default
exec build/bin/dcnv2_layer "$@"
