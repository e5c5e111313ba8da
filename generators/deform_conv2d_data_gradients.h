// deform_conv2d's data gradients from grad_columns, one statement shared by
// the CPU kernel (deform_conv2d_backward_data, whose GEMM makes
// grad_columns tile by tile) and the GPU stage deform_conv2d_col2im (which
// reads grad_columns from the GEMM before it: cuBLASLt or
// deform_conv2d_grad_columns). docs/operators.md (Gradients):
//   grad_input   += m * (bilinear weight of each corner) * grad_columns
//                   (a scatter into the four corners, in a fixed order),
//   grad_offset_y = m * sum_{c in the offset group} grad_columns * d value/dy
//   grad_offset_x = m * sum_c grad_columns * d value/dx,
//   grad_mask     =     sum_c grad_columns * value,
// with the derivative of the zero-exterior bilinear sample (floor choosing
// the cell, one-sided from above at an integer y), non-zero only for
// -1 <= y < H and -1 <= x < W.
#pragma once

#include "Halide.h"
#include "deform_conv2d_backward_algorithm.h"
#include "deform_conv2d_sampling.h"

namespace dcn {

struct DataGradientsIO {
    Halide::Func input_zero;  // input(x, y, c, n) with a zero exterior, storage type
    Halide::Func offset;      // offset(x, y, ch, n) in the compute type, edges repeated
    Halide::Func mask;        // mask(x, y, ch, n) in the compute type; undefined: none
    DeformConv2dGeometry geo;
    Halide::Expr C, oW, oH, offset_groups;
    Halide::Type storage;
    // Outputs: grad_input (x, y, ci, g, n), grad_offset (x, y, ch, n),
    // grad_mask (x, y, ch, n) (undefined without a mask).
    Halide::Func grad_input, grad_offset, grad_mask;
};

// Defines s.input_cl, s.sample, s.coord_sums, s.grad_input_cl and the
// outputs from s.grad_columns(ci, g, k, p, n), which the caller defines.
inline void define_data_gradients(DeformConv2dBackwardDataStages &s, const DataGradientsIO &io) {
    using namespace Halide;
    const Type t = s.type;
    const Var &p = s.p, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci;
    const Expr zero = Internal::make_zero(t);
    const Expr taps = io.geo.taps, P = io.oW * io.oH, cpg = io.C / io.offset_groups;

    s.input_cl(c, x, y, n) = cast(t, io.input_zero(x, y, c, n));
    // A schedule may compute whole tiles past the last pixel: clamp p.
    Expr pc = clamp(p, 0, P - 1);
    Expr py = pc / io.oW, px = pc % io.oW;
    const DeformSamplePoint sp = deform_conv2d_sample_point(io.geo, io.offset, py, px, k, g, n, t);
    Expr m = Internal::make_one(t);
    if (io.mask.defined()) m = io.mask(px, py, g * taps + k, n);
    s.sample(p, k, g, n) = Tuple(sp.y0, sp.x0, sp.ly, sp.lx, m, sp.inside_closed);
    Expr y0 = s.sample(p, k, g, n)[0], x0 = s.sample(p, k, g, n)[1];
    Expr ly = s.sample(p, k, g, n)[2], lx = s.sample(p, k, g, n)[3];
    Expr hy = 1.0f - ly, hx = 1.0f - lx;

    // The coordinate and mask gradients: sums over the offset group's
    // channels of grad_columns x the derivatives of the sample.
    s.rc = RDom(0, cpg, "rc");
    Expr cc = g * cpg + s.rc;
    Expr v00 = s.input_cl(cc, x0, y0, n), v01 = s.input_cl(cc, x0 + 1, y0, n);
    Expr v10 = s.input_cl(cc, x0, y0 + 1, n), v11 = s.input_cl(cc, x0 + 1, y0 + 1, n);
    Expr gc = s.grad_columns(s.rc, g, k, p, n);
    s.coord_sums(p, k, g, n) = Tuple(zero, zero, zero);
    s.coord_sums(p, k, g, n) = Tuple(
        s.coord_sums(p, k, g, n)[0] + gc * (hx * (v10 - v00) + lx * (v11 - v01)),
        s.coord_sums(p, k, g, n)[1] + gc * (hy * (v01 - v00) + ly * (v11 - v10)),
        s.coord_sums(p, k, g, n)[2] + gc * (hy * (hx * v00 + lx * v01) + ly * (hx * v10 + lx * v11)));

    // grad_offset(x, y, ch, n): ch = g*2*taps + 2k (y) or + 1 (x).
    Expr ch_g = c / (2 * taps), ch_k = (c / 2) % taps;
    Expr q = y * io.oW + x;
    Tuple at = s.sample(q, ch_k, ch_g, n);
    Func grad_offset = io.grad_offset;
    grad_offset(x, y, c, n) = cast(
        io.storage, select(at[5],
                           at[4] * select(c % 2 == 0, s.coord_sums(q, ch_k, ch_g, n)[0], s.coord_sums(q, ch_k, ch_g, n)[1]),
                           zero));
    s.grad_offset = grad_offset;
    if (io.mask.defined()) {
        // The mask's gradient is the sample's value, 0 outside the open
        // region -1 < y < H, -1 < x < W: on the line y = -1 (x = -1) the
        // corner inside has weight 0 and may hold NaN / Inf, so the sum is
        // dropped there too (row -1 with ly = 0: y = -1 exactly).
        Expr mg = c / taps, mk = c % taps;
        Tuple sm = s.sample(q, mk, mg, n);
        Expr open = sm[5] && (sm[0] > -1 || sm[2] > zero) && (sm[1] > -1 || sm[3] > zero);
        Func grad_mask = io.grad_mask;
        grad_mask(x, y, c, n) = cast(io.storage, select(open, s.coord_sums(q, mk, mg, n)[2], zero));
        s.grad_mask = grad_mask;
    }

    // The scatter: for every channel, in the fixed order (pixel, tap,
    // corner), grad_columns x the corner's mask-scaled weight added to the
    // corner. Rows / columns -1 and H / W are the zero border, dropped by
    // the output.
    s.rs = RDom(0, 4, 0, taps, 0, P, "rs");
    Expr rk = s.rs.y, rp = s.rs.z;
    Expr cy = s.rs.x / 2, cx = s.rs.x % 2;
    Tuple sr = s.sample(rp, rk, g, n);
    Expr wy = select(cy == 0, 1.0f - sr[2], sr[2]), wx = select(cx == 0, 1.0f - sr[3], sr[3]);
    Expr wgt = select(sr[5], sr[4] * wy * wx, zero);
    s.grad_input_cl(ci, x, y, g, n) = zero;
    s.grad_input_cl(ci, sr[1] + cx, sr[0] + cy, g, n) += wgt * s.grad_columns(ci, g, rk, rp, n);
    Func grad_input = io.grad_input;
    grad_input(x, y, ci, g, n) = cast(io.storage, s.grad_input_cl(ci, x, y, g, n));
    s.grad_input = grad_input;
}

}  // namespace dcn
