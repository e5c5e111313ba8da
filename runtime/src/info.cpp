// build_info(): what this build has, read from the kernel table.
#include <iterator>
#include <utility>
#include <string>

#include "dcn_build_config.h"
#include "internal.h"
#include "deform_conv2d_gpu.h"
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
    for (int d = 0; d < detail::kNumGpuDevices; d++) b.gpu_gemm.push_back(detail::gpu_gemm_backend(detail::kGpuDevices[d]));
    return b;
}

namespace {

// The kernel table's index of `op` and `direction` (detail::Op /
// detail::Direction), or dcn::Error naming the argument.
std::pair<int, int> op_and_direction(const char *fn, const std::string &op, const std::string &direction) {
    int o = -1, d = -1;
    std::string ops, dirs;
    for (int i = 0; i < static_cast<int>(std::size(detail::kOpNames)); i++) {
        if (detail::kOpStageOf[i] >= 0) continue;  // a GPU stage, not an operator of the API
        if (op == detail::kOpNames[i]) o = i;
        ops += std::string(ops.empty() ? "" : ", ") + detail::kOpNames[i];
    }
    for (int i = 0; i < static_cast<int>(std::size(detail::kDirectionNames)); i++) {
        if (direction == detail::kDirectionNames[i]) d = i;
        dirs += std::string(i ? ", " : "") + detail::kDirectionNames[i];
    }
    if (o < 0) throw Error(fn, "op", "unknown operator '" + op + "', expected one of " + ops);
    if (d < 0) throw Error(fn, "direction", "unknown direction '" + direction + "', expected one of " + dirs);
    return {o, d};
}

// The first kernel of (op, direction, dtype), or nullptr: every variant of a
// kernel set is compiled for the same paths and devices.
const detail::KernelEntry *kernel_set(int o, int d, DType dtype) {
    for (int i = 0; i < detail::kNumKernels; i++) {
        const detail::KernelEntry &k = detail::kKernels[i];
        if (static_cast<int>(k.op) == o && static_cast<int>(k.direction) == d && k.dtype == dtype) return &k;
    }
    return nullptr;
}

}  // namespace

CpuIsa cpu_path_for(const std::string &op, const std::string &direction, DType dtype, CpuIsa isa) {
    const char *fn = "cpu_path_for";
    const auto [o, d] = op_and_direction(fn, op, direction);
    if (static_cast<int>(isa) < 0 || static_cast<int>(isa) >= detail::kNumCpuPaths)
        throw Error(fn, "isa", "not a CPU path of this build");
    const detail::KernelEntry *k = kernel_set(o, d, dtype);
    if (!k) throw Error(fn, "dtype", "this build has no " + op + " " + direction + " kernel in " + dtype_name(dtype));
    int p = static_cast<int>(isa);
    while (p < detail::kNumCpuPaths && !k->cpu[p]) p++;
    return static_cast<CpuIsa>(p);
}

bool has_kernels(Device device, const std::string &op, const std::string &direction, DType dtype) {
    const auto [o, d] = op_and_direction("has_kernels", op, direction);
    const detail::KernelEntry *k = kernel_set(o, d, dtype);
    if (!k) return false;
    if (device == Device::cpu) return true;
    if (detail::gpu_compiled(*k, device)) return true;
    // An operator whose GPU path is a chain of stage kernels: every stage of
    // the direction compiled for the device.
    bool any_stage = false;
    for (int s = 0; s < static_cast<int>(std::size(detail::kOpStageOf)); s++) {
        if (detail::kOpStageOf[s] != o) continue;
        const detail::KernelEntry *st = kernel_set(s, d, dtype);
        if (!st) continue;  // a stage of another direction
        if (!detail::gpu_compiled(*st, device)) return false;
        any_stage = true;
    }
    return any_stage;
}

}  // namespace dcn
