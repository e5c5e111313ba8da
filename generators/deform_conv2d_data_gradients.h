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
#include "stages/deform_conv2d_backward.h"
#include "deform_conv2d_sampling.h"
#include "fixed_point_sum.h"

namespace dcn {

struct DataGradientsIO {
    Halide::Func input_zero;  // input(x, y, c, n) with a zero exterior, storage type
    Halide::Func offset;      // offset(x, y, ch, n) in the compute type, edges repeated
    Halide::Func mask;        // mask(x, y, ch, n) in the compute type; undefined: none
    DeformConv2dGeometry geo;
    Halide::Expr C, oW, oH, offset_groups;
    Halide::Type storage;
    // grad_input as a fixed-point sum that threads add to in any order
    // (the GPU), else in one order per channel (the CPU).
    bool fixed_point_scatter = false;
    // Outputs: grad_input (x, y, ci, g, n), grad_offset (x, y, ch, n),
    // grad_mask (x, y, ch, n) (undefined without a mask).
    Halide::Func grad_input, grad_offset, grad_mask;
};

// One (corner, tap, pixel) term of the scatter into channel s.ci: the
// corner it adds to and grad_columns x the corner's mask-scaled weight.
// Rows / columns -1 and H / W are the zero border, dropped by the output.
struct ScatterTerm {
    Halide::Expr x, y, term;
};

inline ScatterTerm scatter_term(const DeformConv2dBackwardDataStages &s, const Halide::Expr &corner,
                                const Halide::Expr &k, const Halide::Expr &p) {
    using namespace Halide;
    Expr cy = corner / 2, cx = corner % 2;
    Tuple sr = s.sample(p, k, s.g, s.n);
    Expr wy = select(cy == 0, 1.0f - sr[2], sr[2]), wx = select(cx == 0, 1.0f - sr[3], sr[3]);
    Expr wgt = select(sr[5], sr[4] * wy * wx, Internal::make_zero(s.type));
    return {sr[1] + cx, sr[0] + cy, wgt * s.grad_columns(s.ci, s.g, k, p, s.n)};
}

inline ScatterTerm scatter_term(const DeformConv2dBackwardDataStages &s, const Halide::RDom &r) {
    return scatter_term(s, r.x, r.y, r.z);
}

// The scatter for every channel in the fixed order (pixel, tap, corner).
inline void define_grad_input_in_order(DeformConv2dBackwardDataStages &s) {
    using namespace Halide;
    const ScatterTerm st = scatter_term(s, s.rs);
    s.grad_input_cl(s.ci, s.x, s.y, s.g, s.n) = Internal::make_zero(s.type);
    s.grad_input_cl(s.ci, st.x, st.y, s.g, s.n) += st.term;
}

// The scatter as fixed-point sums (fixed_point_sum.h), the same bits for any
// order of the additions: one bound per (channel, offset group, image), a
// power of two above every |mask| x |grad_columns| of its terms (the
// bilinear weights are at most 1), taken over pixels l, l + L, ... by L lanes and then over the
// lanes; the two int64 words of the sums; the non-finite terms' counts.
inline void define_grad_input_fixed_point(DeformConv2dBackwardDataStages &s, const DataGradientsIO &io) {
    using namespace Halide;
    const Var &n = s.n, &x = s.x, &y = s.y, &g = s.g, &ci = s.ci, &l = s.l, &w = s.w;
    const Expr taps = io.geo.taps, P = io.oW * io.oH;
    const int L = DeformConv2dBackwardDataStages::bound_lanes;
    s.rb = RDom(0, taps, 0, (P + L - 1) / L, "rb");
    Expr pb = min(l + L * s.rb.y, P - 1);  // past the end: the last pixel again
    Expr mb = s.sample(pb, s.rb.x, g, n)[4];
    s.bound_part(l, ci, g, n) = fixed_point_no_bound();
    s.bound_part(l, ci, g, n) =
        max(s.bound_part(l, ci, g, n), fixed_point_term_bound(mb, s.grad_columns(ci, g, s.rb.x, pb, n)));
    s.rl = RDom(0, L, "rl");
    s.bound(ci, g, n) = fixed_point_no_bound();
    s.bound(ci, g, n) = max(s.bound(ci, g, n), s.bound_part(s.rl, ci, g, n));
    // A sum has at most 4 x taps x pixels terms.
    const Expr F = fixed_point_fraction_bits(cast<int64_t>(4) * taps * P);
    s.scale(ci, g, n) = fixed_point_scale(s.bound(ci, g, n), F);

    // The corners and the terms' words as Funcs of their own, which a
    // schedule computes per thread: an atomic update whose index and value
    // hold no loads of computed buffers is what Halide makes an atomic add
    // (else a compare-and-swap loop).
    const ScatterTerm pure = scatter_term(s, s.corner, s.k, s.p);
    // (The corners are in [-1, W] x [-1, H]: clamped so that Halide sees it.)
    s.term_corner(s.corner, s.k, s.p, g, n) = Tuple(clamp(pure.x, -1, io.geo.W), clamp(pure.y, -1, io.geo.H));
    s.fixed_term(w, ci, s.corner, s.k, s.p, g, n) = to_fixed_point(pure.term, s.scale(ci, g, n)[0], F, w);
    s.term_slot(ci, s.corner, s.k, s.p, g, n) = nonfinite_slot(pure.term);
    Tuple at = s.term_corner(s.rs.x, s.rs.y, s.rs.z, g, n);
    s.acc(w, ci, x, y, g, n) = cast<int64_t>(0);
    s.acc(w, ci, at[0], at[1], g, n) += s.fixed_term(w, ci, s.rs.x, s.rs.y, s.rs.z, g, n);

    s.rsn = RDom(0, 4, 0, taps, 0, P, "rsn");
    s.rsn.where(!is_finite(scatter_term(s, s.rsn).term));
    Tuple atn = s.term_corner(s.rsn.x, s.rsn.y, s.rsn.z, g, n);
    s.nonfinite(s.slot, ci, x, y, g, n) = cast<uint32_t>(0);
    s.nonfinite(s.term_slot(ci, s.rsn.x, s.rsn.y, s.rsn.z, g, n), ci, atn[0], atn[1], g, n) += cast<uint32_t>(1);

    s.grad_input_cl(ci, x, y, g, n) =
        from_fixed_point(s.type, s.acc(0, ci, x, y, g, n), s.acc(1, ci, x, y, g, n), F, s.scale(ci, g, n)[1],
                         s.scale(ci, g, n)[2], s.nonfinite(0, ci, x, y, g, n), s.nonfinite(1, ci, x, y, g, n),
                         s.nonfinite(2, ci, x, y, g, n));
}

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

    s.rs = RDom(0, 4, 0, taps, 0, P, "rs");
    if (io.fixed_point_scatter)
        define_grad_input_fixed_point(s, io);
    else
        define_grad_input_in_order(s);
    Func grad_input = io.grad_input;
    grad_input(x, y, ci, g, n) = cast(io.storage, s.grad_input_cl(ci, x, y, g, n));
    s.grad_input = grad_input;
}

}  // namespace dcn
