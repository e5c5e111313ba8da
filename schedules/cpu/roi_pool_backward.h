// CPU-SIMD schedules of the two deformable RoI pooling backward kernels.
//
// Both:
//   - grad_input: the scatter, in parallel over chunks of channels (one
//     vector; deform_psroi_pool: 4 vectors of one position-sensitive group
//     and class, which share each sample). Each chunk walks every (RoI,
//     bin, sample, corner) in one fixed order into its own channels-
//     innermost image, so the result is the same bitwise for any thread
//     count; then the chunk is stored planar. The sample positions are made
//     per RoI (deform_psroi_pool: per row of a bin) inside the walk from
//     the bins' boxes (made once per call), so memory does not grow with
//     the sampling grid.
//   - grad_offset / grad_mask / grad_trans: per RoI (across the threads),
//     the sums over each bin's samples vectorised over channels, as the
//     forward; then their channel sums: a partial sum per vector lane,
//     then the lanes in order.
#pragma once

#include "Halide.h"
#include "stages/roi_pool_backward.h"

namespace dcn {

inline void schedule_deform_roi_pool_backward_data_cpu(DeformRoiPoolBackwardStages &s, const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    Var co("co"), ci("ci"), yn("yn"), b("b");

    // grad_output channels innermost. What each sample of a bin passes on
    // (share) is made where the scatter uses it. The bins' boxes once (the
    // sums and every channel chunk's scatter read them).
    s.gy.compute_root().parallel(s.r).vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.bin_start.compute_root().parallel(s.r);

    // Offset / mask gradients: per RoI, the per-channel sums (vectors of
    // channels, the sample rows / columns of the RoI made once), then each
    // bin's channel sums: one partial sum per vector lane (lane l takes
    // channels l, l + vec, ...), then the lanes in order.
    RVar rco("rco"), rci("rci");
    Var u("u");
    Func lanes = s.bin_grads.update().split(s.rc.x, rco, rci, vec, TailStrategy::GuardWithIf).rfactor(rci, u);
    s.bin_grads.compute_root().parallel(s.r);
    s.bin_grads.update().parallel(s.r);
    lanes.compute_at(s.bin_grads, s.pw).vectorize(u);
    lanes.update().vectorize(u);
    s.sums.compute_at(s.bin_grads, s.r).vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.sums.update().reorder(s.c, s.s.x, s.s.y, s.pw, s.ph).vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.y_sample.compute_at(s.bin_grads, s.r);
    s.x_sample.compute_at(s.bin_grads, s.r);
    s.input_cl.compute_root()
        .fuse(s.y, s.n, yn)
        .parallel(yn)
        .vectorize(s.c, vec, TailStrategy::GuardWithIf);
    for (Func f : {s.grad_offset, s.grad_mask})
        if (f.defined()) f.compute_root();

    // grad_input: chunks of one vector of channels across the threads (a
    // chunk's image stays in L2: 4 vectors measured 1.5x slower on the
    // frcnn case, 2026-12-07); the scatter's own copies of the sample rows
    // / columns, made per RoI.
    s.grad_input.compute_root()
        .split(s.c, co, ci, vec, TailStrategy::GuardWithIf)
        .reorder(s.x, s.y, ci, s.n, co)
        .parallel(co)
        .vectorize(s.x, vec, TailStrategy::GuardWithIf);
    s.grad_input_cl.compute_at(s.grad_input, co).vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.grad_input_cl.update()
        .reorder(s.c, s.rs[0], s.rs[1], s.rs[2], s.rs[3], s.rs[4], s.rs[5])
        .vectorize(s.c, vec, TailStrategy::GuardWithIf)
        .unroll(s.rs[0]);
    s.y_sample.clone_in(s.grad_input_cl).compute_at(s.grad_input_cl, s.rs[5]);
    s.x_sample.clone_in(s.grad_input_cl).compute_at(s.grad_input_cl, s.rs[5]);
}

inline void schedule_deform_psroi_pool_backward_data_cpu(DeformPsroiPoolBackwardStages &s,
                                                         const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    Var co("co"), ci("ci"), yg("yg"), task("task");

    // The bins' boxes once (the trans sums and every chunk's scatter read
    // them: O(RoIs x bins) memory, as grad_output's). Counts and shares
    // (channels of a class innermost), per RoI.
    s.bin_start.compute_root().parallel(s.r);
    s.count.compute_root().parallel(s.r);
    s.count.update().reorder(s.s.x, s.s.y, s.pw, s.ph, s.cls).parallel(s.r);
    s.share.compute_root().parallel(s.r).vectorize(s.cc, vec, TailStrategy::GuardWithIf);

    if (s.grad_trans.defined()) {
        // Per RoI: the derivative sums vectorised over the class's channels,
        // the samples made one row of a bin at a time (as the forward), then
        // the channel sums of each bin and the part cells' sums.
        s.bin_trans.compute_root().parallel(s.r);
        s.bin_trans.update().parallel(s.r);
        s.tsums.compute_at(s.bin_trans, s.r).vectorize(s.cc, vec, TailStrategy::GuardWithIf);
        s.tsums.update()
            .reorder(s.cc, s.s.x, s.s.y, s.pw, s.ph, s.cls)
            .vectorize(s.cc, vec, TailStrategy::GuardWithIf);
        s.sample.compute_at(s.tsums, s.s.y).store_in(MemoryType::Stack);
        s.input_ps.compute_root()
            .reorder(s.ct, s.x, s.y, s.gi, s.n)
            .fuse(s.y, s.gi, yg)
            .parallel(yg)
            .vectorize(s.ct, vec, TailStrategy::GuardWithIf);
        s.cell_sum.compute_root().parallel(s.r);
        s.cell_sum.update().parallel(s.r);
        s.grad_trans.compute_root();
    }

    // grad_input: one task per (chunk of 4 vectors of a class's channels,
    // group, class): each sample, made once per chunk, serves 4 vectors.
    s.grad_input.compute_root()
        .split(s.cc, co, ci, 4 * vec, TailStrategy::GuardWithIf)
        .reorder(s.x, s.y, ci, s.n, s.gi, co, s.cls)
        .fuse(s.gi, co, task)
        .fuse(task, s.cls, task)
        .parallel(task)
        .vectorize(s.x, vec, TailStrategy::GuardWithIf);
    s.grad_ps.compute_at(s.grad_input, task).vectorize(s.cc, vec, TailStrategy::GuardWithIf);
    s.grad_ps.update()
        .reorder(s.cc, s.rs[0], s.rs[1], s.rs[2], s.rs[3], s.rs[4], s.rs[5])
        .vectorize(s.cc, vec, TailStrategy::GuardWithIf)
        .unroll(s.rs[0]);
    // One row of a bin's samples at a time (sample_per_part x 28 bytes, not
    // its square: sample_per_part may be 4096), vectorised over the row.
    s.sample.clone_in(s.grad_ps).compute_at(s.grad_ps, s.rs[2]).vectorize(s.iw, vec, TailStrategy::GuardWithIf);
}

}  // namespace dcn
