// A tuned shape class of one kernel variant: the variant compiled with the
// schedule parameters of a tuned file (schedules/tuned/*.json) for one CPU
// path. cmake/DcnTuned.cmake generates a table of them per variant,
// <base>_cpu_tuned[] in <base>_cpu_tuned.h, ended by an entry with a null
// name; runtime/src/kernels.h runs the first entry that matches the call's
// path and shape.
#pragma once

#include <cstdint>

namespace dcn::detail {

template <typename Fn>
struct TunedKernel {
    const char *name;  // the class name; nullptr ends a table
    int isa;           // the CPU path it is compiled for (index of dcn::CpuIsa)
    // Inclusive [lo, hi] per shape feature, in tools/autotune/tunables.h order.
    int64_t ranges[4][2];
    Fn fn;
};

}  // namespace dcn::detail
