// The AOT build's CPU paths, from the registry (cmake/DcnRegistry.cmake),
// and which of them this machine runs.
#include <dcn/dcn.h>

#include "autotune.h"
#include "dcn_registry.h"

namespace dcn::autotune {

std::vector<CpuPath> aot_cpu_paths() {
    std::vector<CpuPath> out;
    for (const dcn::detail::CpuPathInfo &p : dcn::detail::kCpuPaths) out.push_back({p.name, p.target});
    return out;
}

// The library's own answer (dcn::cpu_supports): the CPU has the path's
// features and the operating system saves their registers (a hypervisor
// may report AVX-512 through CPUID with its registers off, and code for it
// would die with SIGILL).
bool host_runs(const CpuPath &path) {
    const std::optional<dcn::CpuIsa> isa = dcn::cpu_isa_from_name(path.isa);
    return isa && dcn::cpu_supports(*isa);
}

}  // namespace dcn::autotune
