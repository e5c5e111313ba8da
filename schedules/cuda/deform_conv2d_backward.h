// GPU schedules of deform_conv2d's backward passes (compiled for CUDA; the
// same schedules compiled for OpenCL run on PoCL in the tests). Only
// gpu_blocks / gpu_threads are used, so the CUDA and OpenCL builds are the
// same schedule. Deterministic by construction, like the CPU schedules:
// every value is summed by one thread in a fixed order, no atomics
// (torchvision's CUDA backward uses atomicAdd for grad_input and is not
// deterministic, pytorch/vision#7579).
//
// Data gradients (one image per call):
//   1. the sample points (pixel, tap, offset group), one thread each;
//   2. grad_output flattened and the weights channels-innermost (copies);
//   3. grad_columns: a GEMM, one block per 32 channels x 32 pixels of one
//      tap, each thread a 2 x 4 register tile, the reduction over the
//      group's output channels serial in the thread;
//   4. the coordinate / mask sums: one thread per (pixel, tap, offset
//      group), its group's channels in order;
//   5. the grad_input scatter: one thread per (channel, offset group),
//      every (pixel, tap, corner) of the image in order into a zeroed
//      image of its own channel. This is the deterministic schedule: its
//      parallelism is only C threads per image, so on a large image it is
//      the slow part (an atomics-based scatter, faster and not
//      deterministic, would be the option beside it);
//   6. the outputs (copies).
// Weight gradients: one block per 32 weight channels x 32 output channels of
// one tap, each thread 1 x 4 of them, summed over every (image,
// pixel) in order; the sampled columns are recomputed in the loop (no
// columns buffer: the GPU's memory need is the tensors' only).
//
// Registers (ptxas, sm_80 / sm_90) and spills: checked by the test suite's
// ptxas.no_spills (zero spill stores required).
#pragma once

#include "Halide.h"
#include "deform_conv2d_backward_algorithm.h"

namespace dcn {

inline void schedule_deform_conv2d_backward_data_gpu(DeformConv2dBackwardDataStages &s, const Halide::Target &) {
    using namespace Halide;
    const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci,
              &cw = s.cw;
    Var po("po"), pi("pi"), co("co"), cii("cii"), cit("cit"), cir("cir"), pit("pit"), pir("pir"), t("t"), t2("t2"),
        xo("xo"), xi("xi"), yo("yo"), yi("yi");

    s.input_cl.compute_inline();
    // (Packed with blocks of 1: plain copies, coalesced over pixels / output
    // channels.)
    s.gy.compute_root().reorder(s.in_blk, s.blk, o, n).gpu_tile(s.blk, o, po, co, pi, cii, 32, 8,
                                                                TailStrategy::GuardWithIf);
    s.weight_t.compute_root().reorder(s.in_blk, o, k, s.blk, g).gpu_tile(o, s.blk, co, po, cii, pi, 32, 8,
                                                                         TailStrategy::GuardWithIf);
    s.sample.compute_root()
        .split(p, po, pi, 128, TailStrategy::GuardWithIf)
        .fuse(k, g, t)
        .gpu_blocks(po, t, n)
        .gpu_threads(pi);

    // grad_columns: blocks of 32 channels x 32 pixels; threads 16 x 8, each
    // 2 channels x 4 pixels.
    s.grad_columns.compute_root()
        .split(ci, co, cii, 32, TailStrategy::GuardWithIf)
        .split(p, po, pi, 32, TailStrategy::GuardWithIf)
        .reorder(cii, pi, co, po, k, g, n)
        .fuse(k, g, t)
        .fuse(t, n, t2)
        .gpu_blocks(co, po, t2)
        .split(cii, cit, cir, 2, TailStrategy::GuardWithIf)
        .split(pi, pit, pir, 4, TailStrategy::GuardWithIf)
        .reorder(cir, pir, cit, pit)
        .gpu_threads(cit, pit);
    s.grad_columns_sum.compute_at(s.grad_columns, cit).unroll(ci).unroll(p);
    s.grad_columns_sum.update().reorder(ci, p, s.rg_o).unroll(ci).unroll(p);

    // Coordinate / mask sums: one thread each.
    s.coord_sums.compute_root()
        .split(p, po, pi, 64, TailStrategy::GuardWithIf)
        .fuse(k, g, t)
        .gpu_blocks(po, t, n)
        .gpu_threads(pi);
    s.coord_sums.update()
        .split(p, po, pi, 64, TailStrategy::GuardWithIf)
        .fuse(k, g, t)
        .reorder(s.rc.x, pi, po, t, n)
        .gpu_blocks(po, t, n)
        .gpu_threads(pi);
    for (Func f : {s.grad_offset, s.grad_mask}) {
        if (!f.defined()) continue;
        f.compute_root().fuse(c, n, t).gpu_tile(x, y, xo, yo, xi, yi, 32, 4, TailStrategy::GuardWithIf);
        f.gpu_blocks(t);
    }

    // The scatter: one thread per (channel, offset group, image), the whole
    // (pixel, tap, corner) sequence in order.
    s.grad_input_cl.compute_root()
        .fuse(x, y, t)
        .split(t, po, pi, 64, TailStrategy::GuardWithIf)
        .reorder(pi, po, ci, g, n)
        .fuse(ci, g, t2)
        .gpu_blocks(po, t2, n)
        .gpu_threads(pi);
    s.grad_input_cl.update()
        .split(ci, co, cii, 32, TailStrategy::GuardWithIf)
        .reorder(s.rs.x, s.rs.y, s.rs.z, cii, co, g, n)
        .gpu_blocks(co, g, n)
        .gpu_threads(cii);
    s.grad_input.compute_root().fuse(ci, g, t).fuse(t, n, t2).gpu_tile(x, y, xo, yo, xi, yi, 32, 4,
                                                                      TailStrategy::GuardWithIf);
    s.grad_input.gpu_blocks(t2);
    s.grad_columns.specialize(s.groups == 1);
}

inline void schedule_deform_conv2d_backward_weight_gpu(DeformConv2dBackwardWeightStages &s, const Halide::Target &) {
    using namespace Halide;
    const Var &p = s.p, &o = s.o, &n = s.n, &x = s.x, &y = s.y, &k = s.k, &g = s.g, &cw = s.cw;
    Var po("po"), pi("pi"), co("co"), cii("cii"), oo("oo"), oi("oi"), ot("ot"), orr("or"), t("t"), xy("xy");

    s.input_cl.compute_inline();
    s.pixel.compute_inline();
    s.columns.compute_inline();
    s.columns_blocked.compute_inline();
    s.gy.compute_root().gpu_tile(o, p, co, po, cii, pi, 32, 8, TailStrategy::GuardWithIf);
    s.sample.compute_root()
        .split(p, po, pi, 128, TailStrategy::GuardWithIf)
        .fuse(k, g, t)
        .gpu_blocks(po, t, n)
        .gpu_threads(pi);

    // Output blocks: 32 weight channels x 32 output channels of one tap;
    // threads 32 x 8, each 1 weight channel (its column sample made once
    // per pixel) x 4 output channels; the sums at block level (shared
    // memory). (2 x 4 per thread spilled under the 64-register cap.)
    s.grad_weight.compute_root()
        .fuse(x, y, xy)
        .split(cw, co, cii, 32, TailStrategy::GuardWithIf)
        .split(o, oo, oi, 32, TailStrategy::GuardWithIf)
        .reorder(cii, oi, co, oo, xy)
        .gpu_blocks(co, oo, xy)
        .split(oi, ot, orr, 4, TailStrategy::GuardWithIf)
        .reorder(orr, cii, ot)
        .gpu_threads(cii, ot);
    s.grad_weight_sum.compute_at(s.grad_weight, co)
        .split(o, ot, orr, 4)
        .reorder(orr, cw, ot)
        .gpu_threads(cw, ot);
    s.grad_weight_sum.update()
        .split(o, ot, orr, 4, TailStrategy::GuardWithIf)
        .reorder(orr, s.rw_p, s.rw_n, cw, ot)
        .gpu_threads(cw, ot);

    if (s.with_bias) {
        // One thread per output channel, every (image, pixel) in order.
        s.grad_bias.compute_root().split(o, oo, oi, 64, TailStrategy::GuardWithIf).gpu_blocks(oo).gpu_threads(oi);
        s.grad_bias_sum.compute_at(s.grad_bias, oi);
    }
    s.grad_weight_sum.update().specialize(s.groups == 1 && s.offset_groups == 1);
}

}  // namespace dcn
