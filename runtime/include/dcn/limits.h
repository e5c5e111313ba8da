// The limits of dcn's scalar arguments: the runtime refuses larger values
// before any kernel runs (a dcn::Error naming the argument), and the
// kernels' generators declare the same bounds on their Inputs
// (generators/*_inputs.h), so the two cannot disagree. Part of the public
// API through dcn/dcn.h; standard C++ only, so that the generators can
// include it too.
#pragma once

namespace dcn {

// The largest stride, dilation, padding, groups and offset_groups (and
// kernel side) of deform_conv2d.
constexpr int kMaxConvParameter = 1 << 20;

// The largest group_size, pooled_size, part_size and sample_per_part, and
// output_dim, of deform_psroi_pool.
constexpr int kMaxPsroiParameter = 1 << 12;
constexpr int kMaxPsroiOutputDim = 1 << 24;

// The most samples per bin side of deform_roi_pool: sampling_ratio, and
// what the adaptive rule (sampling_ratio = 0) may ask for; a larger RoI is
// refused with an error suggesting sampling_ratio > 0.
constexpr int kMaxAdaptiveSamplingGrid = 256;

}  // namespace dcn
