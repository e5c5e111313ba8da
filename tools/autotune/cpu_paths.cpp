// The AOT build's CPU paths, from the registry (cmake/DcnRegistry.cmake),
// and which of them this machine runs.
#include "autotune.h"
#include "dcn_registry.h"

namespace dcn::autotune {

// ---- targets ------------------------------------------------------------------------

std::vector<CpuPath> aot_cpu_paths() {
    std::vector<CpuPath> out;
    for (const dcn::detail::CpuPathInfo &p : dcn::detail::kCpuPaths) out.push_back({p.name, p.target});
    return out;
}

// Whether the operating system runs the target's vector extensions.
// Halide's host target reads CPUID alone: a hypervisor may report AVX-512
// through CPUID without enabling its register state (XCR0), and code for
// it then dies with SIGILL. The compiler's cpu_supports() checks both.
static bool os_runs(const Halide::Target &t) {
    using F = Halide::Target;
    if ((t.has_feature(F::AVX512) || t.has_feature(F::AVX512_Skylake)) &&
        !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
          __builtin_cpu_supports("avx512cd")))
        return false;
    if ((t.has_feature(F::AVX2) || t.has_feature(F::FMA)) &&
        !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return false;
    if (t.has_feature(F::AVX) && !__builtin_cpu_supports("avx")) return false;
    if (t.has_feature(F::SSE41) && !__builtin_cpu_supports("sse4.1")) return false;
    return true;
}

bool host_runs(const Halide::Target &t) {
    const Halide::Target host = Halide::get_host_target();
    if (t.arch != host.arch || t.os != host.os || t.bits != host.bits) return false;
    for (int f = 0; f < Halide::Target::FeatureEnd; f++) {
        const auto feature = static_cast<Halide::Target::Feature>(f);
        if (t.has_feature(feature) && !host.has_feature(feature)) return false;
    }
    return os_runs(t);
}

}  // namespace dcn::autotune
