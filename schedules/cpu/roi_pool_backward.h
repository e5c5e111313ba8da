// CPU-SIMD schedules of the two deformable RoI pooling backward kernels.
//
// Both:
//   - grad_input: the scatter, in parallel over chunks of one vector of
//     channels (deform_psroi_pool: of one position-sensitive group and
//     class). Each chunk walks every (RoI, bin, sample, corner) in one fixed
//     order into its own channels-innermost image, so the result is the
//     same bitwise for any thread count; then the chunk is stored planar.
//     The sample positions are made per RoI inside the walk (memory does
//     not grow with the number of RoIs or the sampling grid).
//   - grad_offset / grad_mask / grad_trans: per RoI (across the threads),
//     the sums over each bin's samples vectorised over channels, as the
//     forward; then their channel sums in order, one bin at a time.
#pragma once

#include "Halide.h"
#include "roi_pool_backward_algorithm.h"

namespace dcn {

inline void schedule_deform_roi_pool_backward_data_cpu(DeformRoiPoolBackwardStages &s, const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    Var co("co"), ci("ci"), yn("yn"), b("b");

    // What each sample of a bin passes on, channels innermost.
    s.share.compute_root().parallel(s.r).vectorize(s.c, vec, TailStrategy::GuardWithIf);

    // Offset / mask gradients: per RoI, the per-channel sums (vectors of
    // channels, the sample rows / columns of the RoI made once), then the
    // channel sums of each bin.
    s.bin_grads.compute_root().parallel(s.r);
    s.bin_grads.update().parallel(s.r);
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

    // grad_input: chunks of channels across the threads; the scatter's own
    // copies of the sample rows / columns, made per RoI.
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

    // Counts and shares (channels of a class innermost), per RoI.
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

    // grad_input: one task per (vector of a class's channels, group, class).
    s.grad_input.compute_root()
        .split(s.cc, co, ci, vec, TailStrategy::GuardWithIf)
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
    s.sample.clone_in(s.grad_ps).compute_at(s.grad_ps, s.rs[2]);
}

}  // namespace dcn
