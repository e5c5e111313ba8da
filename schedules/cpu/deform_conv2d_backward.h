// CPU-SIMD schedules of deform_conv2d's backward passes (x86 SSE4.1 / AVX2 /
// AVX-512), for the stages of schedules/stages/deform_conv2d_backward.h.
//
// Deterministic by construction: every sum runs in one fixed order that
// depends on neither the thread count nor the run. The parallel loops are
// over pure variables only (channels, pixels, output channels); each value
// is reduced by one thread in a fixed order; no atomics.
//
// Data gradients (one image per call):
//   - grad_columns (C*kH*kW x pixels) = W^T (C*kH*kW x K) x grad_output
//     (K x pixels): a register-blocked GEMM (2 vectors of channels x a few
//     pixels of accumulators, weights loaded as vectors, grad_output
//     broadcast), in parallel over (tap, pixel tile);
//   - the coordinate / mask sums: per (pixel, tap, offset group), a
//     reduction over the group's channels, vectorised over channels (one
//     partial sum per vector lane, then the lanes in order);
//   - grad_input: the scatter, in parallel over chunks of channels of one
//     offset group (the channels of a group share every sample point, so
//     their scatters never meet); each chunk accumulates, in its own
//     channels-innermost scratch image, the whole (pixel, tap, corner)
//     sequence in order, vectorised over its channels; then the chunk's
//     planes are written out.
// Weight gradients: grad_weight (K x C/groups*kH*kW) = grad_output (K x
// pixels) x columns^T, per tap, in parallel over (tap, group of output
// channels); each task visits the images and chunks of 128 pixels in order,
// makes the chunk's columns of its tap (the forward's sampled input, in
// blocks of B channels contiguous over the chunk's pixels: the chunk's
// columns and grad_output stay in L2), sums each register tile over the
// chunk in order and adds it to its own accumulators.
#pragma once

#include <algorithm>

#include "Halide.h"
#include "cpu/path.h"
#include "stages/deform_conv2d_backward.h"

namespace dcn {

namespace detail {
// The input repacked channels-innermost once per call: `vec` channel planes
// read along a row at a time, channel vectors written, rows in parallel.
inline void schedule_repacked_input(Halide::Func input_cl, const Halide::Var &c, const Halide::Var &x,
                                    const Halide::Var &y, const Halide::Var &n, int vec) {
    using namespace Halide;
    Var cvo("cvo"), cvi("cvi"), yn("yn");
    input_cl.compute_root()
        .split(c, cvo, cvi, vec, TailStrategy::GuardWithIf)
        .reorder(cvi, x, cvo, y, n)
        .fuse(y, n, yn)
        .parallel(yn)
        .vectorize(cvi);
}
}  // namespace detail

// The grad_columns GEMM's register tile: 2 vectors of channels x as many
// pixels as the accumulators, operands and a broadcast leave registers for
// (gemm_tile_registers: 16 on every path), or with bfloat16 pairs (`pair` 2) 10 pixels, as
// the forward's (deform_conv2d_cpu_tile).
struct DeformConv2dBackwardDataTile {
    int channels, pixels;
};
inline int deform_conv2d_backward_cpu_tile_rows(const Halide::Target &target, int cv, int pair) {
    return pair > 1 ? 10 : std::max(1, (gemm_tile_registers(target) - cv - 2) / cv);
}
inline DeformConv2dBackwardDataTile deform_conv2d_backward_data_cpu_tile(const Halide::Target &target,
                                                                         const Halide::Type &type, int pair = 1) {
    const int cv = 2;
    return {cv * target.natural_vector_size(type), deform_conv2d_backward_cpu_tile_rows(target, cv, pair)};
}

inline void schedule_deform_conv2d_backward_data_cpu(DeformConv2dBackwardDataStages &s,
                                                     const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    const DeformConv2dBackwardDataTile tile = deform_conv2d_backward_data_cpu_tile(target, s.type, s.pair);
    const int cv = tile.channels / vec;  // channel vectors per register tile
    const int tp = tile.pixels;          // pixels per register tile
    const int pixel_tile = tp * 8;                                           // pixels per parallel task
    const int chunk = 4 * vec;                                               // channels per scatter task
    const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci;
    Var pt("pt"), pi("pi"), pm("pm"), co("co"), cii("cii"), t("t"), tn("tn"), yn("yn"), u("u");
    RVar rco("rco"), rci("rci");

    // Once per call: the repacked input, grad_output, the weights
    // channels-innermost, the sample points.
    detail::schedule_repacked_input(s.input_cl, c, x, y, n, vec);
    s.gy.compute_root().reorder(s.in_blk, o, s.blk, n).parallel(s.blk).unroll(s.in_blk);
    s.weight_t.compute_root().reorder(s.in_blk, o, k, s.blk, g).parallel(s.blk).vectorize(s.in_blk, vec);
    s.weight_t.specialize(s.groups == 1);
    s.sample.compute_root().parallel(k).vectorize(p, vec, TailStrategy::GuardWithIf);

    // grad_columns: register tiles of cv*vec channels x tp pixels.
    s.grad_columns.compute_root()
        .align_bounds(ci, cv * vec)
        .align_bounds(p, pixel_tile)
        .split(p, pt, p, pixel_tile)
        .split(p, pm, pi, tp)
        .split(ci, co, cii, cv * vec, TailStrategy::RoundUp)
        .reorder(cii, pi, co, pm, pt, k, g, n)
        .fuse(pt, k, t)
        .parallel(t)
        .vectorize(cii, vec)
        .unroll(cii)
        .unroll(pi);
    s.grad_columns_sum.compute_at(s.grad_columns, co)
        .vectorize(ci, vec)
        .unroll(ci)
        .unroll(p);
    if (s.pair == 1) {
        s.grad_columns_sum.update()
            .reorder(ci, p, s.rg_o)
            .vectorize(ci, vec)
            .unroll(ci)
            .unroll(p);
    } else {
        // Pairs of output channels (bfloat16 on AVX512-BF16): the pair and
        // the channel vector vectorised together, summed pairwise into
        // float32 lanes (vdpbf16ps; a pixel's pair broadcast as 32 bits).
        s.grad_columns_sum.update()
            .atomic(true)
            .reorder(s.rg_lane, ci, p, s.rg_o)
            .vectorize(s.rg_lane)
            .vectorize(ci, vec)
            .unroll(ci)
            .unroll(p);
    }
    s.grad_columns.specialize(s.groups == 1);

    // Coordinate / mask sums: vector lanes of channels, then the lanes.
    Func lanes = s.coord_sums.update().split(s.rc.x, rco, rci, vec, TailStrategy::GuardWithIf).rfactor(rci, u);
    s.coord_sums.compute_root()
        .split(p, pt, p, pixel_tile)
        .reorder(p, pt, k, g, n)
        .fuse(pt, k, t)
        .parallel(t);
    s.coord_sums.update()
        .split(p, pt, p, pixel_tile)
        .reorder(rci, p, pt, k, g, n)
        .fuse(pt, k, t)
        .parallel(t);
    lanes.compute_at(s.coord_sums, p).vectorize(u);
    lanes.update().vectorize(u);

    for (Func f : {s.grad_offset, s.grad_mask}) {
        if (!f.defined()) continue;
        f.compute_root().fuse(y, c, yn).parallel(yn).vectorize(x, vec, TailStrategy::GuardWithIf);
    }

    // grad_input: chunks of one offset group's channels across the threads.
    s.grad_input.compute_root()
        .split(ci, co, cii, chunk, TailStrategy::GuardWithIf)
        .reorder(x, y, cii, co, g, n)
        .fuse(co, g, t)
        .fuse(t, n, tn)
        .parallel(tn)
        .vectorize(x, vec, TailStrategy::GuardWithIf);
    s.grad_input_cl.compute_at(s.grad_input, tn)
        .vectorize(ci, vec, TailStrategy::GuardWithIf);
    s.grad_input_cl.update()
        .reorder(ci, s.rs.x, s.rs.y, s.rs.z)
        .vectorize(ci, vec, TailStrategy::GuardWithIf)
        .unroll(s.rs.x);
}

// Input channels per block of the weight gradient's columns: its register
// tile's width (2 vectors).
inline int deform_conv2d_backward_weight_cpu_block(const Halide::Target &target, const Halide::Type &type) {
    return 2 * target.natural_vector_size(type);
}

inline void schedule_deform_conv2d_backward_weight_cpu(DeformConv2dBackwardWeightStages &s,
                                                       const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    const int B = deform_conv2d_backward_weight_cpu_block(target, s.type);  // weight channels per register tile
    const int cv = B / vec;
    const int to = deform_conv2d_backward_cpu_tile_rows(target, cv, s.pair);  // output channels per tile
    const int chunk = 128;  // pixels per reduction chunk: a chunk's columns and grad_output stay in L2
    const int tiles_per_task = 16;  // output-channel tiles per parallel task
    const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &cw = s.cw;
    Var oo("oo"), oi("oi"), ot("ot"), cwo("cwo"), cwi("cwi"), u("u"), un("un"), t("t");
    RVar rpo("rpo"), rpi("rpi");

    detail::schedule_repacked_input(s.input_cl, c, x, y, n, vec);
    s.gy.compute_root().reorder(o, p, n).parallel(p, 64).vectorize(o, vec, TailStrategy::GuardWithIf);

    // GEMM per tap, blocked over pixels: for each (tap, group of output-
    // channel tiles) in parallel, the images and chunks of `chunk` pixels
    // in order; per chunk the chunk's blocked columns of the tap, then each
    // register tile (B weight channels x `to` output channels) summed over
    // the chunk's pixels in order, added to its accumulators.
    Func intm = s.grad_weight_sum.update()
                    .split(s.rw_p, rpo, rpi, chunk / s.pair, TailStrategy::GuardWithIf)
                    .rfactor({{rpo, u}, {s.rw_n, un}});
    s.grad_weight_sum.compute_root()
        .parallel(o)
        .vectorize(cw, vec, TailStrategy::GuardWithIf);
    s.grad_weight_sum.update()
        .split(o, oo, oi, to, TailStrategy::GuardWithIf)
        .split(oo, ot, oo, tiles_per_task, TailStrategy::GuardWithIf)
        .split(cw, cwo, cwi, B, TailStrategy::GuardWithIf)
        .reorder(cwi, oi, cwo, oo, s.rw_n, rpo, ot, k)
        .fuse(ot, k, t)
        .parallel(t)
        .vectorize(cwi, vec)
        .unroll(oi);
    // The register tile: whole tiles (past K and C/groups the algorithm
    // clamps its reads).
    intm.compute_at(s.grad_weight_sum, cwo)
        .bound_extent(o, to)
        .bound_extent(cw, B)
        .vectorize(cw, vec)
        .unroll(cw)
        .unroll(o);
    if (s.pair == 1) {
        intm.update()
            .reorder(cw, o, rpi)
            .vectorize(cw, vec)
            .unroll(cw)
            .unroll(o);
    } else {
        // Pairs of pixels (bfloat16 on AVX512-BF16): the pair and the
        // channel vector vectorised together, summed pairwise into float32
        // lanes (vdpbf16ps; an output channel's pair of grad_output values
        // broadcast as 32 bits).
        intm.update()
            .atomic(true)
            .reorder(s.rw_lane, cw, o, rpi)
            .vectorize(s.rw_lane)
            .vectorize(cw, vec)
            .unroll(cw)
            .unroll(o);
        s.gy_pairs.compute_root()
            .reorder(o, p, n)
            .parallel(p, 32)
            .vectorize(o, vec, TailStrategy::GuardWithIf);
    }
    // One chunk's blocked columns of the tap (and its samples), before its
    // register tiles.
    s.columns_blocked.compute_at(s.grad_weight_sum, rpo).bound_extent(s.cb_i, B);
    if (s.pair == 1) {
        s.columns_blocked.vectorize(s.cb_i, vec).unroll(s.cb_i);
    } else {
        // A pixel pair's two channel vectors interleaved (permutes).
        s.columns_blocked.bound(s.pl, 0, s.pair).vectorize(s.pl).vectorize(s.cb_i, vec).unroll(s.cb_i);
    }
    s.sample.compute_at(s.grad_weight_sum, rpo).vectorize(p, vec, TailStrategy::GuardWithIf);
    s.pixel.compute_at(s.grad_weight_sum, rpo);
    s.grad_weight.compute_root().parallel(s.o).vectorize(cw, vec, TailStrategy::GuardWithIf).reorder(cw, x, y, o);

    if (s.with_bias) {
        s.grad_bias_sum.compute_root().vectorize(o, vec, TailStrategy::GuardWithIf);
        s.grad_bias_sum.update().split(o, oo, oi, vec, TailStrategy::GuardWithIf)
            .reorder(oi, s.rb.x, s.rb.y, oo).vectorize(oi);
        s.grad_bias.compute_root();
    }
    // One group: weight channel cw reads the columns of input channel cw
    // (dense vector loads; with several groups each lane finds its
    // channel). One offset group: a block of columns reads one offset
    // group's samples (with several, each lane finds its channel's group).
    s.grad_weight_sum.update().specialize(s.groups == 1);
    s.columns_blocked.specialize(s.offset_groups == 1);
}

}  // namespace dcn
