// CPU-SIMD schedules of the two deformable RoI pooling operators.
//
// Both: RoIs across threads; per RoI, each sample's position and bilinear
// weights are computed once and reused by every channel that reads that
// sample; the channel loop is the vector loop, over a copy of the input
// whose channels are innermost, so each bilinear corner is one vector load.
#pragma once

#include "Halide.h"
#include "stages/roi_pool.h"

namespace dcn {

// Tunables (GeneratorParams of both pooling generators; the defaults, 1 and
// 1, are the untuned schedule; schedules/cpu/tunables.cmake states them).
struct RoiPoolCpuParams {
    int rois_per_task = 1;    // RoIs per parallel task
    int channel_vectors = 1;  // native vectors per step of the channel loop
};

// The per-RoI loop of a pooling output: one RoI per parallel task, or
// `rois_per_task` of them (the tail guarded: R need not be a multiple).
inline Halide::LoopLevel roi_pool_parallel_rois(Halide::Func output, const Halide::Var &r, int rois_per_task) {
    using namespace Halide;
    output.compute_root();
    if (rois_per_task <= 1) {
        output.parallel(r);
        return LoopLevel(output, r);
    }
    Var ro("ro"), ri("ri");
    output.split(r, ro, ri, rois_per_task, TailStrategy::GuardWithIf).parallel(ro);
    return LoopLevel(output, ri);
}

inline void schedule_deform_psroi_pool_cpu(DeformPsroiPoolStages &s, const Halide::Target &target,
                                           RoiPoolCpuParams p = {}) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type) * std::max(1, p.channel_vectors);
    Var yg("yg");

    // Output (value, count): one RoI per task.
    const LoopLevel roi = roi_pool_parallel_rois(s.output, s.r, p.rois_per_task);
    // Per RoI the counts and the sums (output_dim * P*P values) stay in
    // L1/L2. The samples (position and weights, shared by the class's
    // channels) are made one row of a bin at a time: sample_per_part
    // entries, so that the scratch memory per thread does not grow with
    // sample_per_part^2 (all of a RoI's samples at once took 8 GB for
    // sample_per_part 4096); each sample is still computed once per RoI.
    // The count recomputes only the inside test (valid), inline.
    s.sample.compute_at(s.pooled, s.s.y).store_in(MemoryType::Stack);
    s.count.compute_at(roi);
    s.count.update().reorder(s.s.x, s.s.y, s.pw, s.ph, s.cls);
    // Channels of a class innermost: with output_dim 21 that is a full
    // vector plus a guarded remainder; the sample is a scalar broadcast.
    s.pooled.compute_at(roi).vectorize(s.cc, vec, TailStrategy::GuardWithIf);
    s.pooled.update()
        .reorder(s.cc, s.s.x, s.s.y, s.pw, s.ph, s.cls)
        .vectorize(s.cc, vec, TailStrategy::GuardWithIf);
    // Once per call: the position-sensitive, channel-innermost copy.
    s.input_ps.compute_root()
        .reorder(s.ct, s.x, s.y, s.gi, s.n)
        .fuse(s.y, s.gi, yg)
        .parallel(yg)
        .vectorize(s.ct, target.natural_vector_size(s.type), TailStrategy::GuardWithIf);
}

inline void schedule_deform_roi_pool_cpu(DeformRoiPoolStages &s, const Halide::Target &target,
                                         RoiPoolCpuParams p = {}) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type) * std::max(1, p.channel_vectors);
    Var yn("yn");

    const LoopLevel roi = roi_pool_parallel_rois(s.output, s.r, p.rois_per_task);
    // Per RoI: the separable sample rows / columns of every bin (grid * P
    // entries each), then the sums for all channels and bins (C*PH*PW
    // floats, 50 KB for C=256 and 7x7), channels innermost.
    s.y_sample.compute_at(roi);
    s.x_sample.compute_at(roi);
    s.pooled.compute_at(roi).vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.pooled.update()
        .reorder(s.c, s.s.x, s.s.y, s.pw, s.ph)
        .vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.input_cl.compute_root()
        .fuse(s.y, s.n, yn)
        .parallel(yn)
        .vectorize(s.c, target.natural_vector_size(s.type), TailStrategy::GuardWithIf);
}

}  // namespace dcn
