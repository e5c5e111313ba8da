// GPU schedules of the two deformable RoI pooling backward kernels (CUDA;
// the same schedules compiled for OpenCL run on PoCL in the tests).
// Deterministic by construction, no atomics:
//   - grad_input: one thread per channel (deform_psroi_pool: per channel of
//     a position-sensitive group), each adding every (RoI, bin, sample,
//     corner) contribution of its channel in one fixed order. Its
//     parallelism is the channel count (C; output_dim * group_size^2), so
//     with many RoIs it is the slow part; an atomics-based scatter would be
//     faster and not deterministic (not built).
//   - grad_offset / grad_mask / grad_trans: one thread per (bin, RoI), the
//     channel sums in order, each channel's sums over the bin's samples in
//     registers.
// The sample positions are recomputed where they are used (no buffer whose
// size grows with the RoIs times the sampling grid).
#pragma once

#include <vector>

#include "Halide.h"
#include "stages/roi_pool_backward.h"

namespace dcn {

namespace detail {

// A stage over (a, b, rest...): threads over 8 x 8 of (a, b), blocks over
// the rest (fused); the same for its first `updates` update stages (their
// pure variables are the same).
inline void gpu_bins_by_rois(Halide::Func f, const Halide::Var &a, const Halide::Var &b,
                             const std::vector<Halide::Var> &rest, int updates) {
    using namespace Halide;
    for (int u = -1; u < updates; u++) {
        Stage st = u < 0 ? Stage(f) : f.update(u);
        Var ao("ao"), ai("ai"), bo("bo"), bi("bi"), z("z"), blk("blk");
        st.split(a, ao, ai, 8, TailStrategy::GuardWithIf).split(b, bo, bi, 8, TailStrategy::GuardWithIf);
        Var outer = rest[0];
        for (size_t i = 1; i < rest.size(); i++) {
            st.fuse(outer, rest[i], z);
            outer = z;
        }
        st.reorder(ai, bi, ao, bo, outer).fuse(ao, bo, blk).gpu_blocks(blk, outer).gpu_threads(ai, bi);
    }
}

}  // namespace detail

inline void schedule_deform_roi_pool_backward_data_gpu(DeformRoiPoolBackwardStages &s, const Halide::Target &) {
    using namespace Halide;
    Var t("t"), to("to"), ti("ti"), xo("xo"), yo("yo"), xi("xi"), yi("yi"), b("b");

    s.input_cl.compute_inline();
    // Each bin's start (offset applied) once: the per-sample code stays small.
    s.bin_start.compute_root();
    detail::gpu_bins_by_rois(s.bin_start, s.pw, s.ph, {s.r}, 0);
    s.share.compute_root()
        .fuse(s.pw, s.ph, b)
        .gpu_tile(s.c, b, xo, yo, xi, yi, 32, 8, TailStrategy::GuardWithIf);

    // One thread per (bin, RoI): the channel sums, each channel's sums over
    // the samples in registers.
    s.bin_grads.compute_root();
    detail::gpu_bins_by_rois(s.bin_grads, s.pw, s.ph, {s.r}, 1);
    s.sums.compute_at(s.bin_grads, s.rc.x).store_in(MemoryType::Register);
    for (Func f : {s.grad_offset, s.grad_mask})
        if (f.defined()) f.compute_root().gpu_tile(s.pw, s.ph, xo, yo, xi, yi, 8, 8, TailStrategy::GuardWithIf);

    // grad_input: one thread per channel, the whole walk in order.
    s.grad_input_cl.compute_root()
        .fuse(s.x, s.y, t)
        .split(t, to, ti, 64, TailStrategy::GuardWithIf)
        .reorder(ti, to, s.c, s.n)
        .gpu_blocks(to, s.c, s.n)
        .gpu_threads(ti);
    s.grad_input_cl.update()
        .split(s.c, to, ti, 32, TailStrategy::GuardWithIf)
        .reorder(s.rs[0], s.rs[1], s.rs[2], s.rs[3], s.rs[4], s.rs[5], ti, to)
        .gpu_blocks(to)
        .gpu_threads(ti)
        .unroll(s.rs[0]);
    s.grad_input.compute_root().fuse(s.c, s.n, t).gpu_tile(s.x, s.y, xo, yo, xi, yi, 32, 4,
                                                           TailStrategy::GuardWithIf);
    s.grad_input.gpu_blocks(t);
}

inline void schedule_deform_psroi_pool_backward_data_gpu(DeformPsroiPoolBackwardStages &s, const Halide::Target &) {
    using namespace Halide;
    Var t("t"), to("to"), ti("ti"), xo("xo"), yo("yo"), xi("xi"), yi("yi"), b("b");

    s.input_ps.compute_inline();
    // Each bin's start (trans applied) once: the per-sample code stays small.
    s.bin_start.compute_root();
    detail::gpu_bins_by_rois(s.bin_start, s.pw, s.ph, {s.cls, s.r}, 0);
    s.count.compute_root();
    detail::gpu_bins_by_rois(s.count, s.pw, s.ph, {s.cls, s.r}, 1);
    s.share.compute_root()
        .fuse(s.pw, s.ph, b)
        .fuse(b, s.r, b)
        .fuse(s.cc, s.cls, t)
        .gpu_tile(t, b, xo, yo, xi, yi, 8, 32, TailStrategy::GuardWithIf);

    if (s.grad_trans.defined()) {
        s.bin_trans.compute_root();
        detail::gpu_bins_by_rois(s.bin_trans, s.pw, s.ph, {s.cls, s.r}, 1);
        s.tsums.compute_at(s.bin_trans, s.rc.x)
            .bound_extent(s.cc, 1)
            .bound_extent(s.cls, 1)
            .bound_extent(s.pw, 1)
            .bound_extent(s.ph, 1)
            .bound_extent(s.r, 1)
            .store_in(MemoryType::Register);
        s.cell_sum.compute_root();
        detail::gpu_bins_by_rois(s.cell_sum, s.px, s.py, {s.k, s.r}, 1);
        s.grad_trans.compute_root().gpu_tile(s.px, s.py, xo, yo, xi, yi, 8, 8, TailStrategy::GuardWithIf);
    }

    // grad_input: one thread per (channel of a class, group, class).
    s.grad_ps.compute_root()
        .fuse(s.x, s.y, t)
        .split(t, to, ti, 64, TailStrategy::GuardWithIf)
        .reorder(ti, to, s.cc, s.gi, s.cls, s.n)
        .fuse(s.cc, s.gi, b)
        .fuse(b, s.cls, b)
        .gpu_blocks(to, b, s.n)
        .gpu_threads(ti);
    s.grad_ps.update()
        .reorder(s.rs[0], s.rs[1], s.rs[2], s.rs[3], s.rs[4], s.rs[5], s.cc, s.gi, s.cls)
        .fuse(s.cc, s.gi, t)
        .fuse(t, s.cls, t)
        .split(t, to, ti, 64, TailStrategy::GuardWithIf)
        .gpu_blocks(to)
        .gpu_threads(ti)
        .unroll(s.rs[0]);
    s.grad_input.compute_root()
        .fuse(s.gi, s.cc, b)
        .fuse(b, s.cls, b)
        .fuse(b, s.n, b)
        .gpu_tile(s.x, s.y, xo, yo, xi, yi, 32, 4, TailStrategy::GuardWithIf);
    s.grad_input.gpu_blocks(b);
}

}  // namespace dcn
