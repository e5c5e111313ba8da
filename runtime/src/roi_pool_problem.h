// The deformable RoI pooling problems resolved from their tensors and
// options: every option, shape and RoI-table rule of the two operators
// (docs/operators.md), stated once and used by the forward calls, the
// *_output_shape() functions and the backward calls. Errors are dcn::Error
// naming the argument, with expected vs actual.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "internal.h"

namespace dcn::detail {

constexpr const char *kPsroiPool = "deform_psroi_pool";
constexpr const char *kRoiPool = "deform_roi_pool";

struct PsroiPoolProblem {
    int64_t N = 0, C = 0, R = 0;
    int64_t D = 0, G = 0, P = 0;  // output_dim, group_size, pooled_size
    int64_t part = 0;             // part_size resolved (0 -> pooled_size)
    int64_t classes = 1;          // num_classes of trans (1 without)
    std::vector<int64_t> output_shape() const { return {R, D, P, P}; }
};

// From the input and RoI table shapes and the options alone.
PsroiPoolProblem resolve_deform_psroi_pool_shapes(const std::vector<int64_t> &input_shape,
                                                  const std::vector<int64_t> &rois_shape,
                                                  const DeformPsroiPoolOptions &options);
// The whole problem: input, the RoI table (read: batch indices and
// coordinates checked) and trans.
PsroiPoolProblem resolve_deform_psroi_pool(const TensorView &input, const TensorView &rois,
                                           const std::optional<TensorView> &trans,
                                           const DeformPsroiPoolOptions &options);

struct RoiPoolProblem {
    int64_t N = 0, C = 0, R = 0, PH = 0, PW = 0;
    int64_t max_grid = 1;  // the largest sampling grid side over the RoIs
    int sampling_ratio = 0;
    // The kernels' max_grid argument, the bound of their sample loops: one
    // more than max_grid when adaptive (the kernel's float arithmetic may
    // round a ceil() the other way; a loop only needs a bound).
    int kernel_grid_bound() const { return static_cast<int>(max_grid + (sampling_ratio > 0 ? 0 : 1)); }
    std::vector<int64_t> output_shape() const { return {R, C, PH, PW}; }
};

RoiPoolProblem resolve_deform_roi_pool_shapes(const std::vector<int64_t> &input_shape,
                                              const std::vector<int64_t> &rois_shape,
                                              const DeformRoiPoolOptions &options);
// The whole problem: input and the RoI table (read: checked, and each
// RoI's sampling grid computed; the adaptive limit enforced).
RoiPoolProblem resolve_deform_roi_pool(const TensorView &input, const TensorView &rois,
                                       const DeformRoiPoolOptions &options);
// deform_roi_pool's optional per-bin inputs, offset (R, 2, PH, PW) and mask
// (R, 1, PH, PW): shape, layout, device and dtype (errors name `function`).
void check_roi_pool_bin_inputs(const char *function, const RoiPoolProblem &problem,
                               const std::optional<TensorView> &offset, const std::optional<TensorView> &mask,
                               DType dtype, Device device);
// One RoI's sampling grid sides (rows, columns) as the kernel computes them.
std::pair<int64_t, int64_t> roi_grid(const TensorView &rois, int64_t r, const DeformRoiPoolOptions &options);

}  // namespace dcn::detail
