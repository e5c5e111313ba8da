// The kernel table: one row per compiled kernel (operator, direction,
// dtype, variant), generated from the one list (cmake/DcnRegistry.cmake)
// into build/generated/dcn_kernel_table.cpp. Kernels are called through
// Halide's uniform argv entry points; KernelCall (internal.h) binds the
// arguments by name from the kernel's metadata.
#pragma once

#include <HalideRuntime.h>

#include <cstdint>

#include "dcn/dcn.h"
#include "dcn_registry.h"
#include "dcn_tunables.h"

namespace dcn::detail {

using ArgvFn = int (*)(void **);
using MetadataFn = const halide_filter_metadata_t *(*)();

// A tuned shape class of one kernel: the kernel compiled with the schedule
// parameters of a tuned file (schedules/tuned/*.json) for one CPU path. A
// kernel's table ends with an entry whose name is nullptr.
struct TunedKernel {
    const char *name;  // the class name
    int isa;           // the CPU path it is compiled for (index of dcn::CpuIsa)
    // Inclusive [lo, hi] per shape feature (schedules/cpu/tunables.cmake order).
    int64_t ranges[tunables::kMaxShapeFeatures][2];
    ArgvFn fn;
};

struct KernelEntry {
    Op op;
    Direction direction;
    DType dtype;
    unsigned variant;  // bit i = flag i of the operator (flag:: constants)
    const char *name;  // dcn_<op>[_<flags>]_<dtype>_<dir>
    ArgvFn cpu[kNumCpuPaths];  // per CPU path, best first; nullptr: not compiled
    MetadataFn cpu_metadata;   // argument names and order (the same on every path)
    ArgvFn gpu[kNumGpuDevices];  // per GPU device (kGpuDevices); nullptr: not compiled
    MetadataFn gpu_metadata;   // nullptr when no GPU kernel is compiled
    const TunedKernel *tuned;  // nullptr: no tuned class
};

extern const KernelEntry kKernels[];
extern const int kNumKernels;
extern const Device kGpuDevices[kNumGpuDevices];

// Whether `k` is compiled for GPU `device`.
bool gpu_compiled(const KernelEntry &k, Device device);

// The kernel for a call, or nullptr when this build has none.
const KernelEntry *find_kernel(Op op, Direction direction, DType dtype, unsigned variant);
// The kernel for a call; a dcn::Error from `function` (argument "input")
// when this build has none.
const KernelEntry &require_kernel(const char *function, Op op, Direction direction, DType dtype, unsigned variant);

}  // namespace dcn::detail
