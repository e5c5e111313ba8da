// The deform_conv2d backward algorithms' named stages, handed from the
// generators (what is computed: generators/deform_conv2d_backward_*_generator.cpp)
// to a schedule (how: schedules/<backend>/deform_conv2d_backward.h).
#pragma once

#include "Halide.h"

namespace dcn {

// Pure variables, innermost first as in Halide: p = output pixel (raster
// order), o = output channel, n = image, x / y = input column / row,
// c = input channel, ci = channel within its offset group, cw = channel
// within its weight group, k = tap (i*kW + j), g = offset group.
struct DeformConv2dBackwardVars {
    Halide::Var p{"p"}, o{"o"}, n{"n"}, x{"x"}, y{"y"}, c{"c"}, ci{"ci"}, cw{"cw"}, k{"k"}, g{"g"};
};

// grad_input, grad_offset, grad_mask (the data gradients).
struct DeformConv2dBackwardDataStages : DeformConv2dBackwardVars {
    // input_cl(c, x, y, n): the input channels-innermost, zero outside.
    Halide::Func input_cl{"input_cl"};
    // Packed for the grad_columns GEMM's register tiles (B channels x TP
    // pixels, the schedule's choice: deform_conv2d_backward_data_cpu_tile()),
    // so that a tile's operands are contiguous over the reduction:
    // gy(in_blk, o, blk, n): grad_output of pixel blk*TP + in_blk;
    // weight_t(in_blk, r, k, blk, g): the weight of input channel
    // c = g*cpg + blk*B + in_blk and output channel (c / Cg)*Kg + r.
    Halide::Func gy{"gy"};
    Halide::Func weight_t{"weight_t"};
    Halide::Var in_blk{"in_blk"}, blk{"blk"};
    // sample(p, k, g, n): top-left corner (row, column) clamped to
    // [-1, H-1] x [-1, W-1], high-corner weights (ly, lx), mask, and
    // whether the point lies in -1 <= y < H, -1 <= x < W.
    Halide::Func sample{"sample"};
    // grad_columns(ci, g, k, p, n) = sum over the group's output channels of
    // weight * grad_output: the gradient of the forward's sampled columns
    // (before the mask). grad_columns_sum is its reduction (for register
    // tiles), rg its RDom (output channels of the group).
    Halide::Func grad_columns{"grad_columns"}, grad_columns_sum{"grad_columns_sum"};
    Halide::RDom rg;
    // The GEMM's pairing (dcn::gemm_pair): 1, or 2 with bfloat16 operands
    // on the AVX512-BF16 path. With pairs, gy and weight_t hold pairs of
    // output channels (the group's, padded to even with 0) interleaved in
    // their first dimension (lane = 2*in_blk + o % 2, o = pair), rg_o runs
    // over the pairs and rg_lane (extent 2, innermost) within a pair;
    // without, rg_o = rg.x and rg_lane is not defined.
    Halide::RVar rg_lane, rg_o;
    int pair = 1;
    // coord_sums(p, k, g, n): sums over the group's channels of
    // grad_columns x (d value / dy, d value / dx, value); rc its RDom.
    Halide::Func coord_sums{"coord_sums"};
    Halide::RDom rc;
    // grad_input_cl(ci, x, y, g, n): the scatter of grad_columns x the
    // mask-scaled bilinear weights, channels innermost, over the zero
    // border [-1, W] x [-1, H]; rs its RDom (corner, tap, pixel), run in
    // this fixed order for every channel.
    Halide::Func grad_input_cl{"grad_input_cl"};
    Halide::RDom rs;
    // On a GPU (deform_conv2d_col2im) the scatter's sums are in fixed point
    // (generators/fixed_point_sum.h), added in any order by many threads:
    // bound_part(l, ci, g, n), the largest term bound over pixels l, l + L,
    // ... (rb: tap, pixel / L), bound(ci, g, n) over the lanes (rl),
    // scale(ci, g, n) its powers of two, term_corner(corner, k, p, g, n) the
    // (x, y) a term adds to, fixed_term(w, ci, corner, k, p, g, n) word w of
    // a term in fixed point, term_slot(...) its non-finite count (0 +Inf,
    // 1 -Inf, 2 NaN), acc(w, ci, x, y, g, n) the words' int64 sums,
    // nonfinite(slot, ci, x, y, g, n) the non-finite terms' counts (rsn: rs
    // where the term is not finite); grad_input_cl is then their value.
    static constexpr int bound_lanes = 64;
    Halide::Var l{"l"}, slot{"slot"}, corner{"corner"}, w{"w"};
    Halide::Func bound_part{"bound_part"}, bound{"bound"}, scale{"scale"}, term_corner{"term_corner"},
        fixed_term{"fixed_term"}, term_slot{"term_slot"}, acc{"acc"}, nonfinite{"nonfinite"};
    Halide::RDom rb, rl, rsn;
    // Outputs: grad_input (x, y, ci, g, n); grad_offset (x, y, ch, n);
    // grad_mask (x, y, ch, n) when modulated.
    Halide::Func grad_input, grad_offset, grad_mask;
    bool with_mask = false;
    Halide::Type type = Halide::Float(32);
    Halide::Expr groups, offset_groups;
};

// grad_weight, grad_bias.
struct DeformConv2dBackwardWeightStages : DeformConv2dBackwardVars {
    Halide::Func input_cl{"input_cl"};
    Halide::Func gy{"gy"};  // gy(o, p, n): output channels innermost
    Halide::Func pixel{"pixel"};
    // sample(p, k, g, n): corner and the four mask-scaled weights (as the
    // forward's), columns(ci, g, k, p, n): the forward's sampled columns.
    Halide::Func sample{"sample"}, columns{"columns"};
    // columns_blocked(cb_i, p, k, cb, n): the columns of input channel
    // cb*B + cb_i, in blocks of B channels (the schedule's register tile:
    // deform_conv2d_backward_weight_cpu_block()) so that one block's
    // columns are contiguous over the pixels.
    // With pairs (pair = 2, below) it is columns_blocked(pl, cb_i, p, k,
    // cb, n): pixel 2p + pl, the padding pixel 0, so that a pair of pixels
    // of one channel is adjacent.
    Halide::Func columns_blocked{"columns_blocked"};
    Halide::Var cb{"cb"}, cb_i{"cb_i"}, pl{"pl"};
    // grad_weight_sum(cw, k, o) = sum over images and pixels of
    // columns x grad_output; rw its RDom (pixel, image).
    Halide::Func grad_weight_sum{"grad_weight_sum"};
    Halide::RDom rw;
    // rw's pixel and image variables; with pairs (dcn::gemm_pair = 2:
    // bfloat16 operands on the AVX512-BF16 path) rw_p runs over pixel pairs
    // (an image's pixels padded to even with 0), rw_lane (extent 2,
    // innermost) within a pair, and the GEMM reads grad_output from
    // gy_pairs(2*o + p % 2, p / 2, n); without pairs rw_lane is not defined
    // and the GEMM reads gy.
    Halide::RVar rw_lane, rw_p, rw_n;
    Halide::Func gy_pairs{"gy_pairs"};
    int pair = 1;
    // grad_bias_sum(o) = sum over images and pixels of grad_output; rb.
    Halide::Func grad_bias_sum{"grad_bias_sum"};
    Halide::RDom rb;
    Halide::Func grad_weight, grad_bias;  // outputs (grad_bias when with_bias)
    bool with_bias = false;
    Halide::Type type = Halide::Float(32);
    Halide::Expr groups, offset_groups;
};

}  // namespace dcn
