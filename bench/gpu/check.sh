#!/usr/bin/env bash
# The prepared GPU check (bench/gpu/README.md): on a machine with one NVIDIA
# GPU, in at most about 8 minutes,
#   1. the driver, GPU and library versions;
#   2. the GPU cases of the C++ test suite with CUDA (every operator, variant,
#      dtype the build has for CUDA, forward and backward, the 16-bit
#      conversions, non-finite pixels); a case skipped for any other reason
#      than "this build has no cuda kernel" fails the check;
#   3. the Python extension, built there for its Python from the carried
#      kernel libraries, and its ops on CUDA tensors (bench/gpu/python_cuda.py:
#      against dcn on CPU and torchvision on CUDA, 16-bit, a side stream, a
#      fresh thread, CUDA graph capture, roi_align);
#   4. dcn's deform_conv2d timed on device-resident tensors with CUDA events
#      (build/bin/dcn_bench_gpu), and its peers (bench/gpu/peers_gpu.py:
#      torchvision FP32 / TF32 / fp16, cuDNN conv2d as the floor);
#   5. one results file, $OUT/results.json and $OUT/results.md.
# Without a usable CUDA driver it prints one line naming what is missing and
# exits 2 within seconds. The binaries come from build/ (this checkout's
# build) or from bench/gpu/pack/dcn-gpu.tar.xz (bench/gpu/pack.sh: what a
# device machine carries), unpacked into build/ when build/ has none.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/build/gpu-check}
mkdir -p "$out"
pack="$here/pack/dcn-gpu.tar.xz"
if [ ! -x "$root/build/bin/dcn" ] && [ -f "$pack" ]; then
    tar -xJf "$pack" -C "$root" || { echo "gpu check: cannot unpack $pack"; exit 2; }
fi
dcn="$root/build/bin/dcn" tests="$root/build/tests/dcn_tests" bench="$root/build/bin/dcn_bench_gpu"
for f in "$dcn" "$tests" "$bench"; do
    [ -x "$f" ] || { echo "gpu check: $f is missing (build first, or carry bench/gpu/pack from bench/gpu/pack.sh)"; exit 2; }
done
# cuBLASLt for the C++ binaries (dcn loads it by name): the system's, else
# the CUDA toolkit's, else PyTorch's wheels' (nvidia/*/lib). "gpu gemm:" in
# versions.txt says which GEMM ran.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublasLt\.so'; then
    site_dir=$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib \
             $( [ -n "$site_dir" ] && find "$site_dir/nvidia" -name 'libcublasLt.so*' -printf '%h\n' 2>/dev/null | sort -u); do
        ls "$d"/libcublasLt.so* >/dev/null 2>&1 && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
fi
why=$("$dcn" info 2>&1 | sed -n 's/^device cuda: not usable: //p')
[ -z "$why" ] || { echo "gpu check: CUDA is not usable: $why"; exit 2; }

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
    "$dcn" info | grep -v '^kernel'
    python3 -c 'import torch, torchvision; print("torch:", torch.__version__, "cuda", torch.version.cuda, "torchvision:", torchvision.__version__)' 2>&1
} | tee "$out/versions.txt"

"$tests" --gtest_filter='*cuda*:DcnTest.Storage16KernelConversionsRoundToNearestEven:DcnTest.*NonFinite*' \
    >"$out/tests.log" 2>&1
echo "tests: exit $? (log: tests.log)"
site=$(mktemp -d /tmp/dcn-site.XXXXXX)
if python3 -m pip install -q --no-build-isolation --no-deps --no-index --target "$site" \
        -Cbuild-dir="$site.build" -Ccmake.define.DCN_PREBUILT_KERNELS="$root/build" "$root" \
        >"$out/python_build.log" 2>&1; then
    PYTHONPATH="$site" python3 "$here/python_cuda.py" --json "$out/python_cuda.json" | tee "$out/python_cuda.log"
else
    echo "python extension: build failed (log: python_build.log)"
fi
"$bench" --rounds 100 --json "$out/dcn.json" | tee "$out/dcn.md"
python3 "$here/peers_gpu.py" --rounds 100 --json "$out/peers.json" | tee "$out/peers.md"
python3 "$here/summarize.py" "$out"
