// build_info(): what this build has, read from the kernel table.
#include "dcn_build_config.h"
#include "internal.h"
#include "kernel_table.h"

namespace dcn {

BuildInfo build_info() {
    BuildInfo b;
    b.version = DCN_VERSION_STRING;
    b.halide_version = DCN_HALIDE_VERSION_STRING;
    for (int i = 0; i < detail::kNumKernels; i++) {
        const detail::KernelEntry &k = detail::kKernels[i];
        std::string s = std::string(k.name) + " [cpu:";
        for (int p = 0; p < detail::kNumCpuPaths; p++)
            if (k.cpu[p]) s += std::string(" ") + detail::kCpuPaths[p].name;
        for (int d = 0; d < detail::kNumGpuDevices; d++)
            if (k.gpu[d]) s += std::string("; ") + device_name(detail::kGpuDevices[d]);
        if (k.tuned)
            for (const detail::TunedKernel *t = k.tuned; t->name; ++t)
                s += std::string("; tuned ") + t->name + " (" + detail::kCpuPaths[t->isa].name + ")";
        b.kernels.push_back(s + "]");
    }
    for (int p = 0; p < detail::kNumCpuPaths; p++) b.cpu_targets.push_back(detail::kCpuPaths[p].target);
    return b;
}

}  // namespace dcn
