// Argument checks shared by the references (they check their inputs so that
// a test bug does not go unnoticed). No Halide, no dcn headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "reference/deform_conv2d_ref.h"

namespace dcn_ref::checks {

inline std::string shape_str(const std::vector<int64_t> &s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

inline int64_t numel(const std::vector<int64_t> &s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
}

// std::invalid_argument("dcn_ref::<op>: <what>").
[[noreturn]] inline void fail(const char *op, const std::string &what) {
    throw std::invalid_argument(std::string("dcn_ref::") + op + ": " + what);
}

// The tensor's data has as many elements as its shape.
template <typename T>
void check_data(const char *op, const BasicTensor<T> &t, const char *name) {
    if (static_cast<int64_t>(t.data.size()) != numel(t.shape))
        fail(op, std::string(name) + ": data size " + std::to_string(t.data.size()) + " does not match shape " +
                     shape_str(t.shape));
}

// The tensor has exactly the expected shape (and its data matches it).
template <typename T>
void check_tensor(const char *op, const BasicTensor<T> &t, const std::vector<int64_t> &expected, const char *name) {
    if (t.shape != expected)
        fail(op, std::string(name) + ": expected shape " + shape_str(expected) + ", got " + shape_str(t.shape));
    check_data(op, t, name);
}

// Row r of an (R, 5) RoI table: the batch index must be an integer in
// [0, N) and the coordinates finite. Returns the batch index.
template <typename T>
int64_t roi_batch(const char *op, const T *roi, int64_t r, int64_t N) {
    const double b = roi[0];
    if (!(b == std::floor(b)) || b < 0 || b >= static_cast<double>(N))
        fail(op, "rois: RoI " + std::to_string(r) + ": batch index " + std::to_string(b) + " is not an integer in [0, " +
                     std::to_string(N) + ")");
    for (int k = 1; k < 5; ++k)
        if (!std::isfinite(roi[k])) fail(op, "rois: RoI " + std::to_string(r) + ": non-finite coordinate");
    return static_cast<int64_t>(b);
}

}  // namespace dcn_ref::checks
