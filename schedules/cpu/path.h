// What the CPU schedules know of the path they compile for, from the list
// (cmake/DcnRegistry.cmake, through the generated dcn_registry.h): the path
// of a target is the best one all of whose features the target has, as the
// runtime's dispatch chooses. The vector width is the target's own
// (Halide's natural_vector_size).
#pragma once

#include <algorithm>

#include "Halide.h"
#include "dcn_registry.h"

namespace dcn {

inline const detail::CpuPathInfo &cpu_path_of(const Halide::Target &target) {
    for (const detail::CpuPathInfo &p : detail::kCpuPaths) {
        bool all = true;
        for (int i = 0; i < p.num_features; i++)
            all = all && target.has_feature(static_cast<Halide::Target::Feature>(p.features[i]));
        if (all) return p;
    }
    return detail::kCpuPaths[detail::kNumCpuPaths - 1];
}

// The vector registers the GEMMs' register tiles are sized for: the path's
// (VECTOR_REGISTERS), at most 16. With AVX-512's 32 the forward's tile
// would be 14 pixels x 2 vectors, which measured 20% slower on c3 than
// 6 x 2 (Zen 5, 2026-12-06, `dcn-autotune ... --isa avx512_skylake
// --params tile_pixels=14`): the 16-register tile stays on every path
// until a tuned class shows otherwise.
inline int gemm_tile_registers(const Halide::Target &target) {
    return std::min(cpu_path_of(target).vector_registers, 16);
}

}  // namespace dcn
