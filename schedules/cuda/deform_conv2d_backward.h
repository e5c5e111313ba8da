// GPU schedule of deform_conv2d_col2im, the data gradients' stage after
// the grad_columns GEMM (compiled for CUDA; the same schedule compiled for
// OpenCL runs on PoCL in the tests). Only gpu_blocks / gpu_threads are
// used. Deterministic by construction, like the CPU schedules: every value
// is summed by one thread in a fixed order, no atomics (torchvision's CUDA
// backward uses atomicAdd for grad_input and is not deterministic,
// pytorch/vision#7579).
//   1. the sample points (pixel, tap, offset group), one thread each;
//   2. the coordinate / mask sums: one thread per (pixel, tap, offset
//      group), its group's channels in order (grad_columns read from the
//      GEMM's output);
//   3. the grad_input scatter: one thread per (channel, offset group,
//      image of the chunk), every (pixel, tap, corner) of the image in
//      order into a zeroed image of its own channel. Deterministic, but its
//      parallelism is only C x images threads (c4 with 6 images a chunk:
//      1536), so on a large image it is the slow part;
//   4. the outputs (copies).
// Registers (ptxas, sm_80 / sm_90): checked by the test suite's
// ptxas.no_spills (no spill, no stack frame).
#pragma once

#include "Halide.h"
#include "deform_conv2d_backward_algorithm.h"

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
}

}  // namespace dcn
