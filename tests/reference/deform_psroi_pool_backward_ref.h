// Independent double-precision reference for deform_psroi_pool's gradients
// (MSRA's DeformablePSROIPooling backward). Plain C++ loops written from
// docs/operators.md (Gradients), no Halide, no dcn headers; checked by
// central finite differences (tests/test_roi_pool_backward_reference.cpp).
#pragma once

#include <vector>

#include "reference/deform_psroi_pool_ref.h"

namespace dcn_ref {

// Gradients of sum(grad_output * deform_psroi_pool(...).output), each
// C-contiguous in the shape of its input (trans empty when absent).
struct PsroiPoolGradients {
    std::vector<double> input, trans;
};

// MSRA's rules: each valid sample of a bin passes grad_output / count to its
// four corners (floor / ceil of the clamped coordinate); with trans, the
// bin's trans (x first) receives trans_std * roi size * that share * the
// bilinear derivative at the clamped coordinate, summed over the bin's
// samples and the class's channels. A bin with no valid sample passes
// nothing.
PsroiPoolGradients deform_psroi_pool_backward(const TensorD &grad_output, const TensorD &input, const TensorD &rois,
                                              const TensorD *trans, const PsroiPoolParams &p);

}  // namespace dcn_ref
