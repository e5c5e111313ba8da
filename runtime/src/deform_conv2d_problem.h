// A deform_conv2d problem resolved from its tensors' shapes and the
// options: every shape, group and offset-group relation checked (a
// dcn::Error naming the argument, with expected vs actual, otherwise),
// groups and offset groups inferred where 0, the output extents computed.
// The one statement of these rules: the forward call,
// deform_conv2d_output_shape() and the backward call use it.
#pragma once

#include <vector>

#include "internal.h"

namespace dcn::detail {

struct DeformConv2dProblem {
    int64_t N = 0, C = 0, H = 0, W = 0;    // input
    int64_t K = 0, Cg = 0, kH = 0, kW = 0;  // weight (Cg = C / groups)
    int64_t oH = 0, oW = 0;                 // output extents
    int64_t groups = 0, offset_groups = 0;  // resolved (0 only from the extents alone)

    int64_t taps() const { return kH * kW; }
    std::vector<int64_t> output_shape() const { return {N, K, oH, oW}; }
    std::vector<int64_t> offset_shape() const { return {N, 2 * offset_groups * taps(), oH, oW}; }
    std::vector<int64_t> mask_shape() const { return {N, offset_groups * taps(), oH, oW}; }
};

class KernelCall;
// The scalar arguments of the deform_conv2d kernels (kernel size, stride,
// padding, dilation, groups, offset groups), named as the generators name
// them (generators/deform_conv2d_inputs.h); a kernel that reads its kernel
// size from the weight tensor has no kernel_h / kernel_w, and the call
// binds only the arguments a kernel has.
void add_geometry_scalars(KernelCall &call, const DeformConv2dProblem &problem, const DeformConv2dOptions &options);

// From the input and weight shapes and the options alone: ranks, options,
// the output extents (throws when the output would be empty). Groups are
// not resolved.
DeformConv2dProblem resolve_deform_conv2d_extents(const std::vector<int64_t> &input_shape,
                                                  const std::vector<int64_t> &weight_shape,
                                                  const DeformConv2dOptions &options);

// The whole problem from input, offset and weight (ranks, devices, the
// groups and offset groups given or inferred, the offset's shape).
DeformConv2dProblem resolve_deform_conv2d(const TensorView &input, const TensorView &offset,
                                          const TensorView &weight, const DeformConv2dOptions &options);

// Images per chunk of a call whose kernels hold the (grad_)columns of their
// images, C*kH*kW*oH*oW values of `value_bytes` each per image (plus
// `extra_per_image` bytes): at most `budget_bytes` of them, at least one
// image, at most N. Throws when one image's columns exceed 2^31-1 values.
int64_t images_per_columns_chunk(const char *fn, const DeformConv2dProblem &problem, size_t value_bytes,
                                 int64_t budget_bytes, int64_t extra_per_image = 0);

// The most bytes of grad_columns one CPU data-gradient call holds (at least
// one image; 64 MiB unless set: the tests lower it to run many chunks).
// Returns the previous value. (runtime/src/deform_conv2d_backward.cpp)
int64_t set_cpu_grad_columns_budget(int64_t bytes);

}  // namespace dcn::detail
