#!/usr/bin/env bash
# Packs what the GPU check runs on a device machine (bench/gpu/README.md):
# the test binary, the CLI and dcn_bench_gpu of this checkout's build, and
# its kernel libraries and Halide runtime headers (the Python extension is
# built there from them: DCN_PREBUILT_KERNELS), xz-compressed into
# bench/gpu/pack/dcn-gpu.tar.xz (git-ignored; carry bench/gpu/pack). Fails if the pack would not fit the 64 MiB a device call
# carries.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
files=(build/bin/dcn build/tests/dcn_tests build/bin/dcn_bench_gpu)
for f in "${files[@]}"; do [ -x "$f" ] || { echo "pack: $f is missing: build first" >&2; exit 1; }; done
[ -f build/halide_runtime_include/VERSION ] || { echo "pack: build/halide_runtime_include is missing: reconfigure" >&2; exit 1; }
files+=(build/halide_runtime_include build/*.a)
mkdir -p bench/gpu/pack
tar -cf - "${files[@]}" | xz -6 -T0 >bench/gpu/pack/dcn-gpu.tar.xz
size=$(stat -c %s bench/gpu/pack/dcn-gpu.tar.xz)
echo "bench/gpu/pack/dcn-gpu.tar.xz: $((size / 1048576)) MiB"
[ "$size" -lt $((60 * 1048576)) ] || { echo "pack: over 60 MiB" >&2; exit 1; }
