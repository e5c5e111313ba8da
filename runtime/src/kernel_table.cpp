#include "kernel_table.h"

#include <string>

namespace dcn::detail {

bool gpu_compiled(const KernelEntry &k, Device device) {
    for (int d = 0; d < kNumGpuDevices; d++)
        if (kGpuDevices[d] == device && k.gpu[d]) return true;
    return false;
}

const KernelEntry *find_kernel(Op op, Direction direction, DType dtype, unsigned variant) {
    for (int i = 0; i < kNumKernels; i++) {
        const KernelEntry &k = kKernels[i];
        if (k.op == op && k.direction == direction && k.dtype == dtype && k.variant == variant) return &k;
    }
    return nullptr;
}

const KernelEntry &require_kernel(const char *function, Op op, Direction direction, DType dtype, unsigned variant) {
    const KernelEntry *k = find_kernel(op, direction, dtype, variant);
    if (!k)
        throw Error(function, "input",
                    std::string("this build has no ") + dtype_name(dtype) +
                        (direction == Direction::forward ? " kernel" : " backward kernel"));
    return *k;
}

}  // namespace dcn::detail
