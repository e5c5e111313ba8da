#!/usr/bin/env bash
# The checking builds, after tools/test.sh's build (their kernels come from
# build/: Halide's generated code is not instrumented, so regenerating it
# would only cost time). Both with clang, so they also prove the project
# builds with clang as well as GCC:
#   build-address: ASan + UBSan + LSan over the whole test suite; leak
#                  reports only from dcn (PoCL's and LLVM's own leaks are
#                  suppressed by name in tools/sanitizers/lsan.supp);
#                  then the libFuzzer harnesses (tests/fuzz) for
#                  DCN_FUZZ_SECONDS (default 20) each;
#   build-thread:  ThreadSanitizer over the concurrency test (many threads,
#                  every operator, settings changing under them).
# Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ -f build/libdcn_halide_runtime.a ] || { echo "check.sh: build/ first (bash tools/test.sh)" >&2; exit 1; }

configure() {  # $1 = address | thread
    CC=clang CXX=clang++ .venv/bin/cmake -S . -B "build-$1" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DDCN_SANITIZE="$1" -DDCN_PREBUILT_KERNELS="$root/build" > "build-$1.configure.log" ||
        { cat "build-$1.configure.log"; exit 1; }
}

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
# use_tls=0: LeakSanitizer's tracer crashes (signal 11) scanning a dynamic
# TLS block with a bogus range that the GPU-device probes (dlopen of the
# CUDA driver stub / PoCL) leave behind in some binaries (reproducible in
# Validation.UnusableDeviceIsAClearError since the backward kernels made
# dcn_tests larger). Skipping TLS roots can only add leak reports (fewer
# roots), never hide one.
export LSAN_OPTIONS=suppressions=$root/tools/sanitizers/lsan.supp:print_suppressions=0:use_tls=0
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tools/sanitizers/tsan.supp

echo "check: ASan + UBSan + LSan (clang), the whole suite"
configure address
.venv/bin/cmake --build build-address -j2
.venv/bin/ctest --test-dir build-address -j2 --output-on-failure "$@"

seconds=${DCN_FUZZ_SECONDS:-20}
echo "check: libFuzzer, ${seconds} s per harness (tests/fuzz/README.md)"
for name in npy api cli_args; do
    work=build-address/fuzz/corpus_$name
    rm -rf "$work" && mkdir -p "$work"
    build-address/fuzz/fuzz_$name -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
        "$work" "tests/fuzz/corpus/$name" > "build-address/fuzz/$name.log" 2>&1 ||
        { tail -40 "build-address/fuzz/$name.log"; echo "check: fuzz_$name failed"; exit 1; }
    echo "fuzz_$name: $(grep -o 'stat::number_of_executed_units: [0-9]*' "build-address/fuzz/$name.log" | tail -1)"
done

echo "check: ThreadSanitizer (clang), the concurrency test"
configure thread
.venv/bin/cmake --build build-thread -j2 --target dcn_concurrency_tests
.venv/bin/ctest --test-dir build-thread -L concurrency --output-on-failure
