// build_info(): what this build has, read from the kernel table.
#include <iterator>
#include <string>

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

CpuIsa cpu_path_for(const std::string &op, const std::string &direction, DType dtype, CpuIsa isa) {
    const char *fn = "cpu_path_for";
    int o = -1, d = -1;
    std::string ops, dirs;
    for (int i = 0; i < static_cast<int>(std::size(detail::kOpNames)); i++) {
        if (op == detail::kOpNames[i]) o = i;
        ops += std::string(i ? ", " : "") + detail::kOpNames[i];
    }
    for (int i = 0; i < static_cast<int>(std::size(detail::kDirectionNames)); i++) {
        if (direction == detail::kDirectionNames[i]) d = i;
        dirs += std::string(i ? ", " : "") + detail::kDirectionNames[i];
    }
    if (o < 0) throw Error(fn, "op", "unknown operator '" + op + "', expected one of " + ops);
    if (d < 0) throw Error(fn, "direction", "unknown direction '" + direction + "', expected one of " + dirs);
    if (static_cast<int>(isa) < 0 || static_cast<int>(isa) >= detail::kNumCpuPaths)
        throw Error(fn, "isa", "not a CPU path of this build");
    // Every variant of a kernel set is compiled for the same paths.
    for (int i = 0; i < detail::kNumKernels; i++) {
        const detail::KernelEntry &k = detail::kKernels[i];
        if (static_cast<int>(k.op) != o || static_cast<int>(k.direction) != d || k.dtype != dtype) continue;
        int p = static_cast<int>(isa);
        while (p < detail::kNumCpuPaths && !k.cpu[p]) p++;
        return static_cast<CpuIsa>(p);
    }
    throw Error(fn, "dtype", "this build has no " + op + " " + direction + " kernel in " + dtype_name(dtype));
}

}  // namespace dcn
