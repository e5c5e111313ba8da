#include "gradients.h"

#include <algorithm>
#include <string>
#include <utility>

namespace dcn::detail {
namespace {

// The bytes [first, last] a host view spans.
std::pair<uintptr_t, uintptr_t> byte_span(const TensorView &t) {
    const std::vector<int64_t> st = t.effective_strides();
    int64_t last = 0;
    for (int d = 0; d < t.rank(); d++) last += (t.shape[d] - 1) * st[d];
    const uintptr_t base = reinterpret_cast<uintptr_t>(t.data);
    return {base, base + static_cast<uintptr_t>((last + 1) * static_cast<int64_t>(dtype_size(t.dtype))) - 1};
}

}  // namespace

void check_no_overlap(const char *function, const std::vector<NamedView> &grads,
                      const std::vector<NamedView> &inputs) {
    auto overlap = [](const TensorView &a, const TensorView &b) {
        if (a.numel() == 0 || b.numel() == 0 || a.device != b.device) return false;
        const auto sa = byte_span(a), sb = byte_span(b);
        return sa.first <= sb.second && sb.first <= sa.second;
    };
    for (size_t i = 0; i < grads.size(); i++) {
        for (size_t j = i + 1; j < grads.size(); j++)
            if (overlap(*grads[i].view, *grads[j].view))
                throw Error(function, grads[i].name, std::string("overlaps ") + grads[j].name + " in memory");
        for (const NamedView &in : inputs)
            if (overlap(*grads[i].view, *in.view))
                throw Error(function, grads[i].name, std::string("overlaps the input '") + in.name + "' in memory");
    }
}

ScratchTensor::ScratchTensor(std::vector<int64_t> shape, DType dtype) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    bytes_.assign(static_cast<size_t>(std::max<int64_t>(n, 1)) * dtype_size(dtype), 0);
    view_.shape = std::move(shape);
    view_.dtype = dtype;
    view_.data = bytes_.data();
}

UnwantedGradient::UnwantedGradient(std::vector<int64_t> shape, DType dtype, bool gpu) {
    if (gpu) {
        shape[0] = std::min<int64_t>(shape[0], 1);
        scratch_.emplace(std::move(shape), dtype);
        return;
    }
    static double dummy;
    view_.shape = std::move(shape);
    view_.shape[0] = 0;
    view_.dtype = dtype;
    view_.data = &dummy;
}

TensorView split_channels(const TensorView &t, int64_t groups) {
    TensorView v = t;
    const std::vector<int64_t> st = t.effective_strides();
    v.shape = {t.shape[0], groups, t.shape[1] / groups, t.shape[2], t.shape[3]};
    v.strides = {st[0], st[1] * (t.shape[1] / groups), st[1], st[2], st[3]};
    return v;
}

}  // namespace dcn::detail
