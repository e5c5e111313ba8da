// GPU schedule of deform_conv2d_columns (compiled for CUDA and, the same
// schedule, for OpenCL on PoCL in the tests).
//
// One kernel. A thread owns one output pixel, one tap and a run of `chunk`
// channels of one offset group: it computes the sample (corner and four
// mask-scaled bilinear weights) once, in registers, then for each channel
// gathers the four corners and writes one column element. Consecutive
// threads take consecutive pixels, so every store of a warp is one
// contiguous run of 32 elements (the columns are pixel-innermost, as the
// GEMM reads them), and the gathers of neighbouring pixels fall on
// neighbouring input addresses for smooth offsets.
// Blocks: `tile` pixels x (tap, channel run, offset group) x image; c4
// (256 channels, 3x3, 50x84 pixels) launches 66 x 144 blocks of 64 threads:
// 608K threads, each 16 channels, enough to fill an H100 (132 SMs x 2048).
#pragma once

#include "Halide.h"

namespace dcn {

struct DeformConv2dColumnsStages {
    Halide::Var p, k, ci, g, n;
    Halide::Func sample, input_cl, offset_c, columns;
};

struct DeformConv2dColumnsGpuParams {
    int tile = 64;   // pixels per block (threads)
    int chunk = 16;  // channels per thread, one sample
};

inline void schedule_deform_conv2d_columns_gpu(DeformConv2dColumnsStages &s,
                                               const DeformConv2dColumnsGpuParams &q = {}) {
    using namespace Halide;
    Var po("po"), pi("pi"), co("co"), cc("cc"), blk("blk");
    s.input_cl.compute_inline();
    s.offset_c.compute_inline();
    s.columns.compute_root()
        .split(s.p, po, pi, q.tile, TailStrategy::GuardWithIf)
        .split(s.ci, co, cc, q.chunk, TailStrategy::GuardWithIf)
        .reorder(cc, pi, po, s.k, co, s.g, s.n)
        .fuse(s.k, co, blk)
        .fuse(blk, s.g, blk)
        .gpu_blocks(po, blk, s.n)
        .gpu_threads(pi);
    // The sample of the thread's (pixel, tap, offset group), once, for all
    // its channels.
    s.sample.compute_at(s.columns, pi);
}

}  // namespace dcn
