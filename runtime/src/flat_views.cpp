#include "flat_views.h"

#include <cstring>
#include <string>

namespace dcn::detail {

TensorView images(const TensorView &t, int64_t first, int64_t count) {
    TensorView v = t;
    v.strides = t.effective_strides();
    v.shape[0] = count;
    v.data = static_cast<unsigned char *>(t.data) + first * v.strides[0] * int64_t(dtype_size(t.dtype));
    return v;
}

FlatLastTwo::FlatLastTwo(const TensorView &t, Use use, const char *function, const char *argument) : t_(t), use_(use) {
    const std::vector<int64_t> st = t.effective_strides();
    const int64_t h = t.shape[2], w = t.shape[3];
    view_ = t;
    view_.shape = {t.shape[0], t.shape[1], h * w};
    // One stride serves the merged dimension, and it is 1 (the kernels'
    // innermost dimension).
    const bool one_stride = h <= 1 || w <= 1 || st[2] == w * st[3];
    const int64_t merged_stride = w > 1 ? st[3] : (h > 1 ? st[2] : 1);
    if (one_stride && merged_stride == 1) {
        view_.strides = {st[0], st[1], 1};
        return;
    }
    if (t.device != Device::cpu)
        throw Error(function, argument,
                    "a device tensor must have its last two dimensions back to back (strides [*, *, " +
                        std::to_string(w) + ", 1]), got strides " + shape_str(st) + " for shape " + shape_str(t.shape));
    copy_.assign(size_t(t.numel()) * dtype_size(t.dtype), 0);
    if (use == Use::input)
        for_each_element([&](size_t c, size_t o, size_t es) {
            std::memcpy(&copy_[c], static_cast<const unsigned char *>(t.data) + o, es);
        });
    view_.data = copy_.data();
    view_.strides = {};
}

void FlatLastTwo::finish() const {
    if (copy_.empty() || use_ != Use::output) return;
    for_each_element(
        [&](size_t c, size_t o, size_t es) { std::memcpy(static_cast<unsigned char *>(t_.data) + o, &copy_[c], es); });
}

template <typename F>
void FlatLastTwo::for_each_element(F f) const {
    const std::vector<int64_t> st = t_.effective_strides();
    const size_t es = dtype_size(t_.dtype);
    size_t c = 0;
    for (int64_t a = 0; a < t_.shape[0]; a++)
        for (int64_t b = 0; b < t_.shape[1]; b++)
            for (int64_t y = 0; y < t_.shape[2]; y++)
                for (int64_t x = 0; x < t_.shape[3]; x++, c += es)
                    f(c, size_t(a * st[0] + b * st[1] + y * st[2] + x * st[3]) * es, es);
}

}  // namespace dcn::detail
