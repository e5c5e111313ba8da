// The AOT build's CPU paths, from the registry (cmake/DcnRegistry.cmake),
// and which of them this machine runs.
#include <fstream>
#include <sstream>
#include <string>

#include "autotune.h"
#include "dcn_registry.h"

namespace dcn::autotune {

std::vector<CpuPath> aot_cpu_paths() {
    std::vector<CpuPath> out;
    for (const dcn::detail::CpuPathInfo &p : dcn::detail::kCpuPaths) out.push_back({p.name, p.target});
    return out;
}

// The flags of /proc/cpuinfo's first processor, " "-separated with a space
// at both ends; empty where there is no such file.
static std::string cpuinfo_flags() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        const size_t colon = line.find(':');
        if (colon != std::string::npos) return " " + line.substr(colon + 1) + " ";
    }
    return "";
}

// Halide's host target reads CPUID alone: a hypervisor may report AVX-512
// through CPUID without the operating system enabling its registers
// (XCR0), and code for it then dies with SIGILL. Linux lists a flag in
// /proc/cpuinfo only when both hold, so the path runs when every flag of
// its CPUINFO in the list is there (as cmake/DcnBaselines.cmake decides).
bool host_runs(const CpuPath &path) {
    const Halide::Target t(path.target), host = Halide::get_host_target();
    if (t.arch != host.arch || t.os != host.os || t.bits != host.bits) return false;
    for (int f = 0; f < Halide::Target::FeatureEnd; f++) {
        const auto feature = static_cast<Halide::Target::Feature>(f);
        if (t.has_feature(feature) && !host.has_feature(feature)) return false;
    }
    const std::string flags = cpuinfo_flags();
    for (const dcn::detail::CpuPathInfo &p : dcn::detail::kCpuPaths) {
        if (path.isa != p.name) continue;
        for (int i = 0; i < p.num_cpuinfo; i++)
            if (flags.find(std::string(" ") + p.cpuinfo[i] + " ") == std::string::npos) return false;
    }
    return true;
}

}  // namespace dcn::autotune
