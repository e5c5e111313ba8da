// CPU-SIMD schedules of deform_conv2d's backward passes (x86 SSE4.1 / AVX2 /
// AVX-512), for the stages of generators/deform_conv2d_backward_algorithm.h.
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
// pixels) x columns^T, the columns (the forward's sampled input) made per
// tile of pixels; the tiles are visited in order, and within one, in
// parallel over (tap, block of output channels), each thread adds the
// tile's pixels in order into its own accumulators.
#pragma once

#include <algorithm>

#include "Halide.h"
#include "deform_conv2d_backward_algorithm.h"

namespace dcn {

namespace detail {
inline int vector_registers(const Halide::Target &target) {
    return target.has_feature(Halide::Target::AVX512) ? 32 : 16;
}
}  // namespace detail

inline void schedule_deform_conv2d_backward_data_cpu(DeformConv2dBackwardDataStages &s,
                                                     const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    const int cv = 2;                                                        // channel vectors per register tile
    const int tp = std::max(1, (detail::vector_registers(target) - cv - 2) / cv);  // pixels per register tile
    const int pixel_tile = tp * 8;                                           // pixels per parallel task
    const int chunk = 4 * vec;                                               // channels per scatter task
    const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci;
    Var pt("pt"), pi("pi"), pm("pm"), co("co"), cii("cii"), t("t"), tn("tn"), yn("yn"), u("u");
    RVar rco("rco"), rci("rci");

    // Once per call: the repacked input, grad_output, the weights
    // channels-innermost, the sample points.
    Var cvo("cvo"), cvi("cvi");
    s.input_cl.compute_root()
        .split(c, cvo, cvi, vec, TailStrategy::GuardWithIf)
        .reorder(cvi, x, cvo, y, n)
        .fuse(y, n, yn)
        .parallel(yn)
        .vectorize(cvi);
    s.gy.compute_root().parallel(o).vectorize(p, vec, TailStrategy::GuardWithIf);
    s.weight_t.compute_root().reorder_storage(s.cw, o, k).reorder(s.cw, o, k).parallel(k).vectorize(
        s.cw, vec, TailStrategy::GuardWithIf);
    s.sample.compute_root().parallel(k).vectorize(p, vec, TailStrategy::GuardWithIf);

    // grad_columns: register tiles of cv*vec channels x tp pixels.
    s.grad_columns.compute_root()
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
    s.grad_columns_sum.update()
        .reorder(ci, p, s.rg.x)
        .vectorize(ci, vec)
        .unroll(ci)
        .unroll(p);
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

inline void schedule_deform_conv2d_backward_weight_cpu(DeformConv2dBackwardWeightStages &s,
                                                       const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    const int cv = 2;                                                        // channel vectors per register tile
    const int to = std::max(1, (detail::vector_registers(target) - cv - 2) / cv);  // output channels per tile
    const int pixel_tile = 64;  // pixels whose columns are made at once (C*kH*kW*64 values)
    const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &ci = s.ci, &cw = s.cw;
    Var cvo("cvo"), cvi("cvi"), yn("yn"), oo("oo"), oi("oi"), cwo("cwo"), cwi("cwi"), ko("ko"), u("u"), un("un");
    RVar rpo("rpo"), rpi("rpi");

    s.input_cl.compute_root()
        .split(c, cvo, cvi, vec, TailStrategy::GuardWithIf)
        .reorder(cvi, x, cvo, y, n)
        .fuse(y, n, yn)
        .parallel(yn)
        .vectorize(cvi);
    s.gy.compute_root().reorder(o, p, n).parallel(p, 64).vectorize(o, vec, TailStrategy::GuardWithIf);

    // Tiles of pixels in order (outer), each tile's register tiles of
    // (cv*vec weight channels x `to` output channels) across the threads.
    Func intm = s.grad_weight_sum.update()
                    .split(s.rw.x, rpo, rpi, pixel_tile, TailStrategy::GuardWithIf)
                    .rfactor({{rpo, u}, {s.rw.y, un}});
    s.grad_weight_sum.compute_root()
        .parallel(o)
        .vectorize(cw, vec, TailStrategy::GuardWithIf);
    s.grad_weight_sum.update()
        .split(o, oo, oi, to, TailStrategy::GuardWithIf)
        .split(cw, cwo, cwi, cv * vec, TailStrategy::GuardWithIf)
        .reorder(cwi, oi, cwo, k, oo, rpo, s.rw.y)
        .fuse(k, oo, ko)
        .parallel(ko)
        .vectorize(cwi, vec)
        .unroll(oi);
    // The register tile: whole tiles of `to` output channels (past K the
    // algorithm clamps its reads).
    intm.compute_at(s.grad_weight_sum, cwo)
        .bound_extent(o, to)
        .vectorize(cw, vec, TailStrategy::GuardWithIf)
        .unroll(o);
    intm.update()
        .reorder(cw, o, rpi)
        .vectorize(cw, vec, TailStrategy::GuardWithIf)
        .unroll(o);
    // Once per tile of pixels, before its parallel loop: the tile's
    // columns (channels innermost) and samples.
    s.columns.compute_at(s.grad_weight_sum, rpo)
        .reorder(ci, s.g, p, k, n)
        .parallel(k)
        .vectorize(ci, vec, TailStrategy::GuardWithIf);
    s.sample.compute_at(s.grad_weight_sum, rpo).vectorize(p, vec, TailStrategy::GuardWithIf);
    s.pixel.compute_at(s.grad_weight_sum, rpo);
    s.grad_weight.compute_root().parallel(s.o).vectorize(cw, vec, TailStrategy::GuardWithIf).reorder(cw, x, y, o);

    if (s.with_bias) {
        s.grad_bias_sum.compute_root().vectorize(o, vec, TailStrategy::GuardWithIf);
        s.grad_bias_sum.update().split(o, oo, oi, vec, TailStrategy::GuardWithIf)
            .reorder(oi, s.rb.x, s.rb.y, oo).vectorize(oi);
        s.grad_bias.compute_root();
    }
    s.grad_weight_sum.specialize(s.groups == 1 && s.offset_groups == 1);
}

}  // namespace dcn
