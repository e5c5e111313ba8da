// The scalar inputs of deform_conv2d's kernels, declared once for every
// generator of the operator (the CPU forward and gradients, the GPU
// stages), with the bounds of dcn/limits.h. A generator holds them as
// members (Halide registers a member's Inputs in declaration order); the
// runtime passes them by name (detail::add_geometry_scalars).
#pragma once

#include "Halide.h"
#include "dcn/limits.h"
#include "deform_conv2d_sampling.h"

namespace dcn {

// The kernel's sides, for the kernels that have no weight tensor to read
// them from (the weight gradients, the GPU stages).
struct DeformConv2dKernelSizeInputs {
    Halide::GeneratorInput<int> kernel_h{"kernel_h", 1, 1, kMaxConvParameter};
    Halide::GeneratorInput<int> kernel_w{"kernel_w", 1, 1, kMaxConvParameter};
};

// Stride, padding (top, left), dilation, groups and offset groups.
struct DeformConv2dGeometryInputs {
    Halide::GeneratorInput<int> stride_y{"stride_y", 1, 1, kMaxConvParameter};
    Halide::GeneratorInput<int> stride_x{"stride_x", 1, 1, kMaxConvParameter};
    Halide::GeneratorInput<int> pad_top{"pad_top", 0, 0, kMaxConvParameter};
    Halide::GeneratorInput<int> pad_left{"pad_left", 0, 0, kMaxConvParameter};
    Halide::GeneratorInput<int> dilation_y{"dilation_y", 1, 1, kMaxConvParameter};
    Halide::GeneratorInput<int> dilation_x{"dilation_x", 1, 1, kMaxConvParameter};
    Halide::GeneratorInput<int> groups{"groups", 1, 1, kMaxConvParameter};
    Halide::GeneratorInput<int> offset_groups{"offset_groups", 1, 1, kMaxConvParameter};

    // Where the taps sample, for an input of H x W and a kernel of width kW
    // and `taps` taps.
    DeformConv2dGeometry geometry(const Halide::Expr &H, const Halide::Expr &W, const Halide::Expr &kW,
                                  const Halide::Expr &taps) const {
        return {stride_y, stride_x, pad_top, pad_left, dilation_y, dilation_x, H, W, kW, taps};
    }

    // The estimates Halide's autoschedulers plan for: ResNet's 3x3 layers.
    void set_estimates() {
        for (auto *one : {&stride_y, &stride_x, &pad_top, &pad_left, &dilation_y, &dilation_x, &groups, &offset_groups})
            one->set_estimate(1);
    }
};

// A per-pixel tensor of the offset's layout, (oW, oH, channels, N), read
// with its edge repeated (a schedule may compute whole tiles past the last
// pixel) and converted to the compute type t.
inline Halide::Func deform_conv2d_per_pixel(const Halide::Func &tensor, const Halide::Expr &oW, const Halide::Expr &oH,
                                            const Halide::Type &t, const std::string &name) {
    Halide::Func edge = Halide::BoundaryConditions::repeat_edge(tensor, {{0, oW}, {0, oH}});
    Halide::Func f(name);
    Halide::Var x("x"), y("y"), c("c"), n("n");
    f(x, y, c, n) = Halide::cast(t, edge(x, y, c, n));
    return f;
}

// The forward's sample (deform_conv2d_forward_sample) of tap k of output
// pixel (py, px), offset group g, image n: the prologue the forward, its
// weight gradients and the GPU columns share. `mask`: the DCNv2 mask as
// deform_conv2d_per_pixel made it, or an undefined Func (DCNv1).
inline Halide::Tuple deform_conv2d_forward_sample_of(const DeformConv2dGeometry &geo, const Halide::Func &offset,
                                                     const Halide::Func &mask, const Halide::Expr &py,
                                                     const Halide::Expr &px, const Halide::Expr &k,
                                                     const Halide::Expr &g, const Halide::Expr &n,
                                                     const Halide::Type &t) {
    const DeformSamplePoint sp = deform_conv2d_sample_point(geo, offset, py, px, k, g, n, t);
    const Halide::Expr scale = mask.defined() ? mask(px, py, g * geo.taps + k, n) : Halide::Internal::make_one(t);
    return deform_conv2d_forward_sample(sp, scale);
}

}  // namespace dcn
