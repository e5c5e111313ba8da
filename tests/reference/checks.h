// Argument checks shared by the references (they check their inputs so that
// a test bug does not go unnoticed). No Halide, no dcn headers.
#pragma once

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
inline void check_data(const char *op, const Tensor &t, const char *name) {
    if (static_cast<int64_t>(t.data.size()) != numel(t.shape))
        fail(op, std::string(name) + ": data size " + std::to_string(t.data.size()) + " does not match shape " +
                     shape_str(t.shape));
}

// The tensor has exactly the expected shape (and its data matches it).
inline void check_tensor(const char *op, const Tensor &t, const std::vector<int64_t> &expected, const char *name) {
    if (t.shape != expected)
        fail(op, std::string(name) + ": expected shape " + shape_str(expected) + ", got " + shape_str(t.shape));
    check_data(op, t, name);
}

}  // namespace dcn_ref::checks
