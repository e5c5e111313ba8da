#include "kernel_table.h"

namespace dcn::detail {

const KernelEntry *find_kernel(Op op, Direction direction, DType dtype, unsigned variant) {
    for (int i = 0; i < kNumKernels; i++) {
        const KernelEntry &k = kKernels[i];
        if (k.op == op && k.direction == direction && k.dtype == dtype && k.variant == variant) return &k;
    }
    return nullptr;
}

}  // namespace dcn::detail
