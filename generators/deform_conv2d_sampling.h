// The sample point of deform_conv2d (docs/operators.md, deform_conv2d), one
// statement shared by the forward and the backward generators.
#pragma once

#include "Halide.h"
#include "common.h"

namespace dcn {

// The scalar parameters of a deform_conv2d call (the generators' Inputs).
struct DeformConv2dGeometry {
    Halide::Expr stride_y, stride_x, pad_top, pad_left, dilation_y, dilation_x;
    Halide::Expr H, W;    // input extents
    Halide::Expr kW;      // kernel width (tap k = i*kW + j)
    Halide::Expr taps;    // kH * kW
};

// Where tap k of output pixel (py, px) samples offset group g of image n:
// y = py*stride_y - pad_top + i*dilation_y + dy (x likewise), with
// (dy, dx) = offset channels (g*2*taps + 2k, g*2*taps + 2k + 1).
struct DeformSamplePoint {
    // Sanitised coordinates: finite values clamped to [-2, H+1] x [-2, W+1],
    // NaN / Inf -> -2 (outside), so floor and float->int are defined.
    Halide::Expr fy, fx;
    // floor(fy), floor(fx) as int, clamped to [-1, H-1] x [-1, W-1]: the
    // top-left corner, inside the zero border of a repacked input.
    Halide::Expr y0, x0;
    // Weights of the high corners (fy - floor(fy)) and of the low ones.
    Halide::Expr ly, lx, hy, hx;
    // -1 < fy < H and -1 < x < W: the forward's rule for a contribution.
    Halide::Expr inside;
    // -1 <= fy < H and -1 <= fx < W: where the derivative (the one-sided
    // derivative of torchvision's floor rule) may be non-zero. It differs
    // from `inside` only on the lines y = -1 / x = -1, where every weight
    // of a corner inside the image is 0, so the value is the same.
    Halide::Expr inside_closed;
};

inline DeformSamplePoint deform_conv2d_sample_point(const DeformConv2dGeometry &geo, const Halide::Func &offset,
                                                    const Halide::Expr &py, const Halide::Expr &px,
                                                    const Halide::Expr &k, const Halide::Expr &g,
                                                    const Halide::Expr &n, const Halide::Type &t) {
    using namespace Halide;
    DeformSamplePoint s;
    Expr tap_i = k / geo.kW, tap_j = k % geo.kW;
    Expr dy = offset(px, py, g * 2 * geo.taps + 2 * k, n);
    Expr dx = offset(px, py, g * 2 * geo.taps + 2 * k + 1, n);
    Expr fy = cast(t, py * geo.stride_y - geo.pad_top + tap_i * geo.dilation_y) + dy;
    Expr fx = cast(t, px * geo.stride_x - geo.pad_left + tap_j * geo.dilation_x) + dx;
    // Non-finite -> outside; finite -> clamped just outside the image,
    // which keeps every index below bounded.
    Expr Hf = cast(t, geo.H), Wf = cast(t, geo.W);
    s.fy = sanitize_coordinate(fy, -2.0f, Hf + 1.0f, -2.0f);
    s.fx = sanitize_coordinate(fx, -2.0f, Wf + 1.0f, -2.0f);
    s.inside = s.fy > -1.0f && s.fy < Hf && s.fx > -1.0f && s.fx < Wf;
    s.inside_closed = s.fy >= -1.0f && s.fy < Hf && s.fx >= -1.0f && s.fx < Wf;
    Expr y0 = floor(s.fy), x0 = floor(s.fx);
    s.ly = s.fy - y0;
    s.lx = s.fx - x0;
    s.hy = 1.0f - s.ly;
    s.hx = 1.0f - s.lx;
    s.y0 = clamp(cast<int>(y0), -1, geo.H - 1);
    s.x0 = clamp(cast<int>(x0), -1, geo.W - 1);
    return s;
}

// The forward's sample: (corner row, corner column, the four bilinear
// weights times `mask`), the weights zero unless -1 < y < H and -1 < x < W
// (torchvision's zero exterior). Every corner outside the image lands in
// the repacked input's zero border, so that it contributes exactly 0
// whatever the image holds (0 * Inf would be NaN): a sample inside has its
// outside corners on row -1 or H, column -1 or W; a sample outside has all
// four at rows / columns -2 and -1 (the border is 2 wide on the low side).
// No select in the per-channel loop: the index is chosen once per sample.
inline Halide::Tuple deform_conv2d_forward_sample(const DeformSamplePoint &sp, Halide::Expr mask) {
    mask = Halide::select(sp.inside, mask, Halide::Internal::make_zero(mask.type()));
    Halide::Expr y0 = Halide::select(sp.inside, sp.y0, -2), x0 = Halide::select(sp.inside, sp.x0, -2);
    return Halide::Tuple(y0, x0, sp.hy * sp.hx * mask, sp.hy * sp.lx * mask, sp.ly * sp.hx * mask,
                         sp.ly * sp.lx * mask);
}

// The forward's sampled column of input channel c_in at `at` (a call of a
// Func holding deform_conv2d_forward_sample), from the input repacked
// channels-innermost, input_cl(c, x, y, n).
inline Halide::Expr deform_conv2d_column(const Halide::FuncRef &at, const Halide::Func &input_cl,
                                         const Halide::Expr &c_in, const Halide::Expr &n) {
    const Halide::Expr sy = at[0], sx = at[1];
    return at[2] * input_cl(c_in, sx, sy, n) + at[3] * input_cl(c_in, sx + 1, sy, n) +
           at[4] * input_cl(c_in, sx, sy + 1, n) + at[5] * input_cl(c_in, sx + 1, sy + 1, n);
}

}  // namespace dcn
