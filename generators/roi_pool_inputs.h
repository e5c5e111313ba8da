// The scalar inputs of the two RoI poolings' kernels, declared once for
// each operator's forward and backward generators, with the bounds of
// dcn/limits.h. A generator holds them as a member (Halide registers a
// member's Inputs in declaration order); the runtime passes them by name.
#pragma once

#include "Halide.h"
#include "dcn/limits.h"

namespace dcn {

// deform_psroi_pool (MSRA's DeformablePSROIPooling attributes).
struct DeformPsroiPoolInputs {
    Halide::GeneratorInput<float> spatial_scale{"spatial_scale", 1.0f};
    Halide::GeneratorInput<int> output_dim{"output_dim", 1, 1, kMaxPsroiOutputDim};
    Halide::GeneratorInput<int> group_size{"group_size", 1, 1, kMaxPsroiParameter};
    Halide::GeneratorInput<int> pooled_size{"pooled_size", 7, 1, kMaxPsroiParameter};
    Halide::GeneratorInput<int> part_size{"part_size", 7, 1, kMaxPsroiParameter};
    Halide::GeneratorInput<int> sample_per_part{"sample_per_part", 4, 1, kMaxPsroiParameter};
    Halide::GeneratorInput<float> trans_std{"trans_std", 0.0f};

    // The estimates Halide's autoschedulers plan for (R-FCN: 21 classes,
    // 7 x 7 bins, on a stride-16 feature map).
    void set_estimates() {
        spatial_scale.set_estimate(1.0f / 16);
        output_dim.set_estimate(21);
        group_size.set_estimate(7);
        pooled_size.set_estimate(7);
        part_size.set_estimate(7);
        sample_per_part.set_estimate(4);
        trans_std.set_estimate(0.1f);
    }
};

// deform_roi_pool (mmcv's DeformRoIPool attributes), and max_grid: the
// bound of the reduction over a bin's samples, the largest sampling grid
// side over all RoIs, plus one with the adaptive rule
// (RoiPoolProblem::kernel_grid_bound in the runtime).
struct DeformRoiPoolInputs {
    Halide::GeneratorInput<float> spatial_scale{"spatial_scale", 1.0f};
    Halide::GeneratorInput<int> sampling_ratio{"sampling_ratio", 0, 0, kMaxAdaptiveSamplingGrid};
    Halide::GeneratorInput<float> gamma{"gamma", 0.1f};
    Halide::GeneratorInput<int> max_grid{"max_grid", 1, 1, kMaxAdaptiveSamplingGrid + 1};

    // The estimates Halide's autoschedulers plan for (a detector's RoIs on
    // a stride-16 feature map).
    void set_estimates() {
        spatial_scale.set_estimate(1.0f / 16);
        sampling_ratio.set_estimate(2);
        gamma.set_estimate(0.1f);
        max_grid.set_estimate(2);
    }
};

}  // namespace dcn
