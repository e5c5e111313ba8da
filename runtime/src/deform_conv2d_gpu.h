// deform_conv2d on a GPU: the columns stage, then the GEMM (cuBLASLt on
// CUDA where it loads, else dcn's Halide GEMM), images in chunks.
#pragma once

#include <optional>

#include "deform_conv2d_problem.h"

namespace dcn::detail {

// `output` as the kernels take it: (N, K, oH*oW), rows back to back.
void deform_conv2d_gpu(const DeformConv2dProblem &problem, const TensorView &input, const TensorView &offset,
                       const TensorView &weight, const std::optional<TensorView> &mask,
                       const std::optional<TensorView> &bias, const TensorView &output,
                       const DeformConv2dOptions &options);

// deform_conv2d's weight gradients on a GPU, those given: the columns per
// chunk of images, grad_weight's GEMMs (cuBLASLt on CUDA where it loads,
// else dcn's Halide GEMM) summed in the compute type, then grad_weight
// rounded once and grad_bias summed. N may be 0 (the gradients are 0).
void deform_conv2d_gpu_weight_gradients(const DeformConv2dProblem &problem, const TensorView &grad_output,
                                        const TensorView &input, const TensorView &offset,
                                        const std::optional<TensorView> &mask,
                                        const std::optional<TensorView> &grad_weight,
                                        const std::optional<TensorView> &grad_bias, const DeformConv2dOptions &options);

// deform_conv2d's data gradients on a GPU, those of `grads` given (input,
// offset, mask): per chunk of images, grad_columns = weight^T x
// grad_output in the compute type (cuBLASLt on CUDA where it loads, else
// dcn's Halide GEMM), then col2im (the scatter into grad_input and the
// offset / mask sums).
void deform_conv2d_gpu_data_gradients(const DeformConv2dProblem &problem, const TensorView &grad_output,
                                      const TensorView &input, const TensorView &offset, const TensorView &weight,
                                      const std::optional<TensorView> &mask, const DeformConv2dGradients &grads,
                                      const DeformConv2dOptions &options);

// The most bytes of columns (or grad_columns) one chunk of images holds,
// at least one image: 256 MiB unless set (the tests lower it to run many
// chunks). Returns the previous value.
int64_t set_gpu_columns_budget(int64_t bytes);

// The GEMM a device's deform_conv2d uses (BuildInfo::gpu_gemm).
std::string gpu_gemm_backend(Device device);

}  // namespace dcn::detail
