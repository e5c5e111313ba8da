// Independent double-precision reference for deform_roi_pool's gradients
// (mmcv's DeformRoIPool backward, and the modulated variant's mask as
// autograd gives it for mmcv's `deform_roi_pool(...) * mask`).
//
// Plain C++ loops written from docs/operators.md (Gradients), no Halide, no
// dcn headers; checked by central finite differences away from the kinks
// and the border band (tests/test_roi_pool_backward_reference.cpp).
#pragma once

#include <vector>

#include "reference/deform_roi_pool_ref.h"

namespace dcn_ref {

// Gradients of sum(grad_output * deform_roi_pool(...)), each C-contiguous
// in the shape of its input (offset / mask empty when absent).
struct RoiPoolGradients {
    std::vector<double> input, offset, mask;
};

// mmcv's rules: each sample inside [-1, H] x [-1, W] passes
// grad_output * mask / (grid_h * grid_w) to its four RoIAlign corners; the
// offset gradient is gamma * roi size * that share * the bilinear
// derivative evaluated with the sample's unclamped coordinate (mmcv's
// choice: in the border band y < 0 or y > H - 1 it is not the true
// derivative of the clamped sample); grad_mask = sum over channels of the
// unmasked pooled value * grad_output. A non-finite sample is skipped.
RoiPoolGradients deform_roi_pool_backward(const TensorD &grad_output, const TensorD &input, const TensorD &rois,
                                          const TensorD *offset, const TensorD *mask, const RoiPoolParams &p);

}  // namespace dcn_ref
