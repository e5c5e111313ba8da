#include "dcn/dcn.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace dcn {

const char *device_name(Device d) {
    switch (d) {
    case Device::cpu: return "cpu";
    case Device::cuda: return "cuda";
    case Device::opencl: return "opencl";
    }
    return "unknown";
}

const char *dtype_name(DType t) {
    switch (t) {
#define DCN_DTYPE(name, ctype) \
    case DType::name: return #name;
#include "dcn/lists.inc"
#undef DCN_DTYPE
    }
    return "unknown";
}

size_t dtype_size(DType t) {
    switch (t) {
#define DCN_DTYPE(name, ctype) \
    case DType::name: return sizeof(ctype);
#include "dcn/lists.inc"
#undef DCN_DTYPE
    }
    return 0;
}

namespace {
// a * b for sizes (>= 0), saturating at INT64_MAX instead of overflowing.
int64_t mul_saturating(int64_t a, int64_t b) {
    int64_t r = 0;
    return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}
}  // namespace

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t s : shape) {
        if (s == 0) return 0;
        n = mul_saturating(n, s);
    }
    return n;
}

std::vector<int64_t> TensorView::effective_strides() const {
    if (!strides.empty()) return strides;
    std::vector<int64_t> s(shape.size());
    int64_t step = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        s[i] = step;
        step = mul_saturating(step, shape[i]);
    }
    return s;
}

}  // namespace dcn
