// Independent double-precision reference for deform_roi_pool.
//
// Plain C++ loops written directly from docs/operators.md (deform_roi_pool)
// (mmcv.ops.DeformRoIPool / ModulatedDeformRoIPoolPack: RoIAlign-style
// sampling). No Halide, no dcn headers.
#pragma once

#include <cstdint>
#include <vector>

#include "reference/deform_conv2d_ref.h"  // dcn_ref::Tensor

namespace dcn_ref {

struct RoiPoolParams {
    int pooled_h = 7, pooled_w = 7;
    double spatial_scale = 1.0;
    int sampling_ratio = 0;  // 0 = adaptive, ceil(roi / bins)
    double gamma = 0.1;
};

// input (N, C, H, W); rois (R, 5) = [batch, x1, y1, x2, y2]; offset
// (R, 2, PH, PW) (channel 0 = x, 1 = y) or nullptr; mask (R, 1, PH, PW) or
// nullptr. Returns the output (R, C, PH, PW), C-contiguous, in double.
//
// The adaptive grid is ceil(roi / bins) of the RoI before any offset; a
// non-positive grid takes no samples (the bin is 0). A sample whose
// position is not finite (NaN / Inf offset) contributes 0.
//
// Throws std::invalid_argument for inconsistent shapes or parameters or a
// batch index that is not an integer in [0, N).
std::vector<double> deform_roi_pool(const Tensor &input, const Tensor &rois, const Tensor *offset,
                                    const Tensor *mask, const RoiPoolParams &p);
// The same from float64 data.
std::vector<double> deform_roi_pool(const TensorD &input, const TensorD &rois, const TensorD *offset,
                                    const TensorD *mask, const RoiPoolParams &p);

// RoIAlign's bilinear rule on one H x W plane (row-major): 0 when y < -1,
// y > H, x < -1 or x > W (or a coordinate is not finite); a negative
// coordinate is clamped to 0; at the last row / column the edge is
// replicated.
double roi_align_bilinear(const float *plane, int64_t H, int64_t W, double y, double x);
double roi_align_bilinear(const double *plane, int64_t H, int64_t W, double y, double x);

}  // namespace dcn_ref
