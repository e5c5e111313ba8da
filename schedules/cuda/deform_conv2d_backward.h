// GPU schedule of deform_conv2d_col2im, the data gradients' stage after
// the grad_columns GEMM (compiled for CUDA; the same schedule compiled for
// OpenCL runs on PoCL in the tests). Only gpu_blocks / gpu_threads and
// atomic() are used. Deterministic by construction, like the CPU
// schedules (torchvision's CUDA backward adds floats with atomicAdd and is
// not deterministic, pytorch/vision#7579):
//   1. the sample points (pixel, tap, offset group), one thread each;
//   2. the coordinate / mask sums: one thread per (pixel, tap, offset
//      group), its group's channels in order (grad_columns read from the
//      GEMM's output);
//   3. grad_input: fixed-point sums (generators/fixed_point_sum.h) that
//      threads add to with integer atomics, exact and so the same bits in
//      any order: the bound of each (channel, offset group, image) (64
//      lanes over the pixels, then their maximum); one thread per (pixel,
//      tap, offset group, image), its 4 corners once, then per channel two
//      int64 atomic adds a corner (c4 with 6 images a chunk: 227k threads,
//      where the earlier in-order scatter had 1536); the non-finite terms'
//      counts the same way, for non-finite terms only; then the values;
//   4. the outputs (copies).
// Registers (ptxas, sm_80 / sm_90): checked by the test suite's
// ptxas.no_spills (no spill, no stack frame, no compare-and-swap loop).
#pragma once

#include "Halide.h"
#include "stages/deform_conv2d_backward.h"

namespace dcn {

inline void schedule_deform_conv2d_col2im_gpu(DeformConv2dBackwardDataStages &s) {
    using namespace Halide;
    const Var &p = s.p, &n = s.n, &x = s.x, &y = s.y, &c = s.c, &k = s.k, &g = s.g, &ci = s.ci;
    Var po("po"), pi("pi"), co("co"), cii("cii"), t("t"), t2("t2"), xo("xo"), xi("xi"), yo("yo"), yi("yi");

    s.input_cl.compute_inline();
    s.grad_columns.compute_inline();
    s.sample.compute_root()
        .split(p, po, pi, 128, TailStrategy::GuardWithIf)
        .fuse(k, g, t)
        .gpu_blocks(po, t, n)
        .gpu_threads(pi);

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

    // The scatter's bounds: 64 lanes over the pixels (coalesced reads of
    // grad_columns) per (channel, offset group, image), then their maximum.
    s.bound_part.compute_root().gpu_threads(s.l).gpu_blocks(ci, g, n);
    s.bound_part.update().gpu_threads(s.l).gpu_blocks(ci, g, n);
    for (int u = -1; u < 1; u++) {
        Stage st = u < 0 ? Stage(s.bound) : s.bound.update();
        st.split(ci, co, cii, 64, TailStrategy::GuardWithIf).gpu_blocks(co, g, n).gpu_threads(cii);
    }
    s.bound.compute_root();
    // The fixed-point sums (two words) and the non-finite counts, zeroed;
    // then one thread per pixel of a tap (warp lanes over consecutive
    // pixels: coalesced reads of grad_columns), its corners once, then for
    // each channel every corner's words added (two int64 atomic adds; the
    // counts: one uint32 atomic add, for non-finite terms only). Channels,
    // not pixels, in a thread: Halide sees the update as an add (not a
    // compare-and-swap loop) only when the index is computed one way, and
    // with lanes over channels it was not.
    for (Func f : {s.acc, s.nonfinite}) {
        const bool counts = f.name() == s.nonfinite.name();
        const std::vector<Var> v = f.args();  // (w or slot, ci, x, y, g, n)
        f.compute_root()
            .split(v[1], co, cii, 32, TailStrategy::GuardWithIf)
            .fuse(v[4], v[5], t)
            .fuse(v[3], t, t)
            .reorder(v[0], cii, co, v[2], t)
            .fuse(co, v[2], t2)
            .gpu_blocks(t2, t)
            .gpu_threads(cii)
            .unroll(v[0]);
        const RDom &r = counts ? s.rsn : s.rs;
        RVar corner = r.x, rk = r.y, rp = r.z, pg("pg"), pin("pin"), pgo("pgo"), pgi("pgi");
        Stage up = f.update();
        up.atomic()
            .split(rp, pg, pin, 32, TailStrategy::GuardWithIf)
            .split(pg, pgo, pgi, 4, TailStrategy::GuardWithIf)
            .fuse(g, n, t);
        if (counts)
            up.reorder(corner, ci, pin, pgi, pgo, rk, t);
        else
            up.reorder(s.w, corner, ci, pin, pgi, pgo, rk, t).unroll(s.w);
        up.gpu_blocks(pgo, rk, t).gpu_threads(pin, pgi).unroll(corner);
        // The corners once per thread, each term's words (or count slot)
        // once, in registers.
        Func value = counts ? s.term_slot : s.fixed_term, at = counts ? s.term_corner.clone_in(f) : s.term_corner;
        value.compute_at(f, corner).store_in(MemoryType::Register);
        for (const Var &a : value.args()) value.bound_extent(a, a.same_as(s.w) ? 2 : 1);
        if (!counts) value.unroll(s.w);
        at.compute_at(f, pin).store_in(MemoryType::Register);
        for (const Var &a : at.args()) at.bound_extent(a, a.same_as(s.corner) ? 4 : 1);
        at.unroll(s.corner);
    }
    s.grad_input_cl.compute_inline();
    s.grad_input.compute_root().fuse(ci, g, t).fuse(t, n, t2).gpu_tile(x, y, xo, yo, xi, yi, 32, 4,
                                                                      TailStrategy::GuardWithIf);
    s.grad_input.gpu_blocks(t2);
}

}  // namespace dcn
