// Independent double-precision reference for deform_conv2d's gradients.
//
// Plain C++ loops written from docs/operators.md (Gradients), torchvision's
// backward rules, no Halide, no dcn headers. It is itself checked against
// central finite differences of the forward reference
// (tests/test_deform_conv2d_backward_reference.cpp).
#pragma once

#include <vector>

#include "reference/deform_conv2d_ref.h"

namespace dcn_ref {

// Gradients of sum(grad_output * deform_conv2d(...)), each C-contiguous in
// the shape of its input (mask empty without a mask).
struct DeformConv2dGradients {
    std::vector<double> input, offset, mask, weight, bias;
};

// p.groups and p.offset_groups must be given (>= 1). mask may be nullptr.
// Throws std::invalid_argument for inconsistent shapes.
DeformConv2dGradients deform_conv2d_backward(const TensorD &grad_output, const TensorD &input,
                                             const TensorD &offset, const TensorD &weight, const TensorD *mask,
                                             const DeformConv2dParams &p);

// The float32 tensors' values as float64 (exact).
TensorD to_double(const Tensor &t);

}  // namespace dcn_ref
