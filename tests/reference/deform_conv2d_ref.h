// Independent double-precision reference for deform_conv2d.
//
// Plain C++ loops written directly from docs/operators.md (deform_conv2d)
// (torchvision.ops.deform_conv2d / ONNX DeformConv semantics). No Halide, no
// dcn headers: the library is validated against this, never against itself.
#pragma once

#include <cstdint>
#include <vector>

namespace dcn_ref {

// C-contiguous tensor: float32 data (the kernels' inputs), or float64 data
// (TensorD: finite-difference checks of the gradient reference).
template <typename T>
struct BasicTensor {
    std::vector<int64_t> shape;
    std::vector<T> data;
};
using Tensor = BasicTensor<float>;
using TensorD = BasicTensor<double>;

struct DeformConv2dParams {
    int stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int dilation_h = 1, dilation_w = 1;
    int groups = 1, offset_groups = 1;
};

// Output shape (N, K, oH, oW) for the given input (N, C, H, W) and weight
// (K, C/groups, kH, kW) shapes:
//   oH = floor((H + padTop + padBottom - (dH*(kH-1)+1)) / sH) + 1 (same for W).
// Throws std::invalid_argument for wrong ranks, non-positive strides /
// dilations, negative padding, or an empty output (oH or oW <= 0).
std::vector<int64_t> deform_conv2d_output_shape(const std::vector<int64_t> &input_shape,
                                                const std::vector<int64_t> &weight_shape,
                                                const DeformConv2dParams &p);

// Returns the output (N, K, oH, oW) C-contiguous, in double. mask / bias may
// be nullptr. p.groups and p.offset_groups must be given explicitly (>= 1).
// Throws std::invalid_argument when the shapes are inconsistent (this is a
// test oracle: it checks its inputs so test bugs do not go unnoticed).
std::vector<double> deform_conv2d(const Tensor &input, const Tensor &offset, const Tensor &weight,
                                  const Tensor *mask, const Tensor *bias,
                                  const DeformConv2dParams &p);
// The same from float64 data.
std::vector<double> deform_conv2d(const TensorD &input, const TensorD &offset, const TensorD &weight,
                                  const TensorD *mask, const TensorD *bias, const DeformConv2dParams &p);

// Per output, sum over its reduction of |weight * mask * sampled value|,
// each sampled value bounded by its bilinear weights times |corners|: the
// forward on |input|, |weight|, |mask|, no bias (the error term of a GEMM
// whose operands are rounded: dcn_test::Tolerance::with_term_sums).
std::vector<double> deform_conv2d_term_sums(const Tensor &input, const Tensor &offset, const Tensor &weight,
                                            const Tensor *mask, const DeformConv2dParams &p);

// Bilinear sample of one H x W plane (row-major) with a zero exterior,
// exactly as DESIGN 3.1 (torchvision's rule): 0 when y <= -1, y >= H,
// x <= -1 or x >= W; otherwise the corners (floor(y), floor(x)) ..
// (floor(y)+1, floor(x)+1) are weighted bilinearly and a corner outside
// [0,H-1] x [0,W-1] contributes 0. A NaN or infinite coordinate gives 0.
double bilinear_zero_exterior(const float *plane, int64_t H, int64_t W, double y, double x);
double bilinear_zero_exterior(const double *plane, int64_t H, int64_t W, double y, double x);

}  // namespace dcn_ref
