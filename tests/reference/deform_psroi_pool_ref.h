// Independent double-precision reference for deform_psroi_pool.
//
// Plain C++ loops written directly from docs/operators.md (deform_psroi_pool) (the
// original MSRA DeformablePSROIPooling of Deformable-ConvNets / R-FCN). No
// Halide, no dcn headers: the library is validated against this, never
// against itself.
#pragma once

#include <cstdint>
#include <vector>

#include "reference/deform_conv2d_ref.h"  // dcn_ref::Tensor

namespace dcn_ref {

struct PsroiPoolParams {
    double spatial_scale = 1.0;
    int output_dim = 1;
    int group_size = 1;
    int pooled_size = 7;
    int part_size = 0;  // 0 = pooled_size
    int sample_per_part = 4;
    double trans_std = 0.0;
};

// output and count are (R, output_dim, P, P), C-contiguous; count[i] is the
// number of samples of bin i that were inside the image.
struct PsroiPoolResult {
    std::vector<double> output, count;
};

// input (N, C, H, W) with C = output_dim * group_size^2; rois (R, 5) =
// [batch, x1, y1, x2, y2]; trans (R, 2*num_classes, part, part) or nullptr.
//
// Everything is evaluated in double except two things MSRA's CUDA kernel
// computes in float and that are discontinuous, so that float and exact
// math can disagree: round() of the RoI coordinates (applied to the float
// value, as C's round: half away from zero) and the part cell
// part_h = floor(float(ph) / pooled * part_size), evaluated in float32
// (e.g. ph = 13, pooled = part = 22 gives 12 in float, 13 exactly).
//
// A sample whose position is not finite (NaN / Inf trans) is skipped: the
// library defines a non-finite trans as moving the samples outside.
//
// Throws std::invalid_argument when the shapes or parameters are
// inconsistent or a batch index is not an integer in [0, N) (this is a test
// oracle: it checks its inputs so test bugs do not go unnoticed).
PsroiPoolResult deform_psroi_pool(const Tensor &input, const Tensor &rois, const Tensor *trans,
                                  const PsroiPoolParams &p);
// The same from float64 data.
PsroiPoolResult deform_psroi_pool(const TensorD &input, const TensorD &rois, const TensorD *trans,
                                  const PsroiPoolParams &p);

// MSRA's part cell of bin index `bin`, computed in float32 exactly as the
// CUDA kernel does: floor(static_cast<float>(bin) / pooled * part_size).
int psroi_part_index(int bin, int pooled_size, int part_size);

}  // namespace dcn_ref
