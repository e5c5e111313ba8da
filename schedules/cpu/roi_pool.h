// CPU-SIMD schedules of the two deformable RoI pooling operators.
//
// Both: RoIs across threads; per RoI, each sample's position and bilinear
// weights are computed once and reused by every channel that reads that
// sample; the channel loop is the vector loop, over a copy of the input
// whose channels are innermost, so each bilinear corner is one vector load.
#pragma once

#include "Halide.h"
#include "roi_pool_algorithm.h"

namespace dcn {

inline void schedule_deform_psroi_pool_cpu(DeformPsroiPoolStages &s, const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size<float>();
    Var yg("yg");

    // Output (value, count): one RoI per task.
    s.output.compute_root().parallel(s.r);
    // Per RoI: P*P*spp^2 samples per class (784 for 7x7 bins, spp 4), the
    // counts and the sums (output_dim * P*P floats) stay in L1/L2.
    s.sample.compute_at(s.output, s.r);
    s.count.compute_at(s.output, s.r);
    s.count.update().reorder(s.s.x, s.s.y, s.pw, s.ph, s.cls);
    // Channels of a class innermost: with output_dim 21 that is a full
    // vector plus a guarded remainder; the sample is a scalar broadcast.
    s.pooled.compute_at(s.output, s.r).vectorize(s.cc, vec, TailStrategy::GuardWithIf);
    s.pooled.update()
        .reorder(s.cc, s.s.x, s.s.y, s.pw, s.ph, s.cls)
        .vectorize(s.cc, vec, TailStrategy::GuardWithIf);
    // Once per call: the position-sensitive, channel-innermost copy.
    s.input_ps.compute_root()
        .reorder(s.ct, s.x, s.y, s.gi, s.n)
        .fuse(s.y, s.gi, yg)
        .parallel(yg)
        .vectorize(s.ct, vec, TailStrategy::GuardWithIf);
}

inline void schedule_deform_roi_pool_cpu(DeformRoiPoolStages &s, const Halide::Target &target) {
    using namespace Halide;
    const int vec = target.natural_vector_size<float>();
    Var yn("yn");

    s.output.compute_root().parallel(s.r);
    // Per RoI: the separable sample rows / columns of every bin (grid * P
    // entries each), then the sums for all channels and bins (C*PH*PW
    // floats, 50 KB for C=256 and 7x7), channels innermost.
    s.y_sample.compute_at(s.output, s.r);
    s.x_sample.compute_at(s.output, s.r);
    s.pooled.compute_at(s.output, s.r).vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.pooled.update()
        .reorder(s.c, s.s.x, s.s.y, s.pw, s.ph)
        .vectorize(s.c, vec, TailStrategy::GuardWithIf);
    s.input_cl.compute_root()
        .fuse(s.y, s.n, yn)
        .parallel(yn)
        .vectorize(s.c, vec, TailStrategy::GuardWithIf);
}

}  // namespace dcn
