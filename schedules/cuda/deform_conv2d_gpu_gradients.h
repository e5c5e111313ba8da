// GPU schedules of deform_conv2d's GEMM stages of the gradients
// (generators/deform_conv2d_grad_weight*_generator.cpp,
// deform_conv2d_grad_columns_generator.cpp), compiled for CUDA
// and, the same, for OpenCL on PoCL in the tests. gpu_blocks / gpu_threads
// only.
#pragma once

#include "Halide.h"

namespace dcn {

// deform_conv2d_grad_weight: acc(k, c, o) = prior + sum over (pixel, image).
struct GradWeightStages {
    Halide::Var k{"k"}, c{"c"}, o{"o"};
    Halide::Func sum{"sum"};  // the reduction, per thread in registers
    Halide::RDom r;           // (pixel, image)
    Halide::Func output;
    Halide::Expr groups;
};

// One block per tap and tile of 32 channels x 32 outputs; each of its 256
// threads owns a 2 x 2 block of (channel, output) sums in registers over
// the whole reduction, loading 2 columns and 2 grad_output values per
// pixel (4 loads per 4 FMAs: bound by L1, not the FMA pipes; at 4 x 2 the
// several-groups kernel, whose columns depend on the output's group,
// spills under the 64-register cap on sm_90). This is the fallback of
// cuBLASLt's GEMM and what PoCL tests; no tensor cores (Halide 21 emits
// none).
inline void schedule_grad_weight_gpu(GradWeightStages &s) {
    using namespace Halide;
    const int tile = 32, reg_c = 2, reg_o = 2;
    Var co("co"), cin("cin"), oo("oo"), oin("oin"), ct("ct"), cr("cr"), ot("ot"), orr("orr");
    s.output.compute_root()
        .split(s.c, co, cin, tile, TailStrategy::GuardWithIf)
        .split(s.o, oo, oin, tile, TailStrategy::GuardWithIf)
        .reorder(cin, oin, co, oo, s.k)
        .gpu_blocks(co, oo, s.k)
        .split(cin, ct, cr, reg_c, TailStrategy::GuardWithIf)
        .split(oin, ot, orr, reg_o, TailStrategy::GuardWithIf)
        .reorder(cr, orr, ct, ot)
        .gpu_threads(ct, ot)
        .unroll(cr)
        .unroll(orr);
    s.sum.compute_at(s.output, ct)
        .bound_extent(s.c, reg_c)
        .bound_extent(s.o, reg_o)
        .bound_extent(s.k, 1)
        .reorder(s.c, s.o, s.k)
        .unroll(s.c)
        .unroll(s.o);
    s.sum.update().reorder(s.c, s.o, s.k, s.r.x, s.r.y).unroll(s.c).unroll(s.o);
    // One group: a column does not depend on the output channel (4 column
    // rows per thread, not 16).
    s.output.specialize(s.groups == 1);
}

// deform_conv2d_grad_columns: grad_columns(p, k, ci, g, n) = sum over the
// group's output channels.
struct GradColumnsStages {
    Halide::Var p{"p"}, k{"k"}, ci{"ci"}, g{"g"}, n{"n"};
    Halide::Func sum{"sum"};
    Halide::RDom r;  // the group's output channels
    Halide::Func output;
    Halide::Expr groups;
};

// One block per 64 pixels x 8 channels of one (tap, offset group, image);
// each of its 32 threads owns 4 consecutive pixels x 2 channels, summed
// over the group's output channels in registers (per step 4 grad_output
// values, contiguous across the warp, and 2 weights for 8 FMAs). The
// fallback of cuBLASLt's GEMM and what PoCL tests.
inline void schedule_grad_columns_gpu(GradColumnsStages &s) {
    using namespace Halide;
    const int tile_p = 64, tile_c = 8, reg_p = 4, reg_c = 2;
    Var po("po"), pin("pin"), co("co"), cin("cin"), pt("pt"), pr("pr"), ct("ct"), cr("cr"), t("t");
    s.output.compute_root()
        .split(s.p, po, pin, tile_p, TailStrategy::GuardWithIf)
        .split(s.ci, co, cin, tile_c, TailStrategy::GuardWithIf)
        .reorder(pin, cin, po, co, s.k, s.g, s.n)
        .fuse(s.k, s.g, t)
        .fuse(co, t, t)
        .gpu_blocks(po, t, s.n)
        .split(pin, pt, pr, reg_p, TailStrategy::GuardWithIf)
        .split(cin, ct, cr, reg_c, TailStrategy::GuardWithIf)
        .reorder(pr, cr, pt, ct)
        .gpu_threads(pt, ct)
        .unroll(pr)
        .unroll(cr);
    s.sum.compute_at(s.output, pt)
        .bound_extent(s.p, reg_p)
        .bound_extent(s.ci, reg_c)
        .reorder(s.p, s.ci, s.k, s.g, s.n)
        .unroll(s.p)
        .unroll(s.ci);
    s.sum.update().reorder(s.p, s.ci, s.k, s.g, s.n, s.r.x).unroll(s.p).unroll(s.ci);
    s.output.specialize(s.groups == 1);
}

// deform_conv2d_grad_weight_finish.
struct GradWeightFinishStages {
    Halide::Var k{"k"}, c{"c"}, o{"o"};
    Halide::Func grad_weight, grad_bias;
    Halide::Func bias_sum{"bias_sum"};  // per output channel, one thread's register
};

// grad_weight: one thread per element (a conversion). grad_bias: one thread
// per output channel, its sum over pixels and images in a register, in order.
inline void schedule_grad_weight_finish_gpu(GradWeightFinishStages &s, bool with_bias) {
    using namespace Halide;
    Var kc("kc"), b("b"), t("t");
    s.grad_weight.compute_root()
        .fuse(s.k, s.c, kc)
        .split(kc, b, t, 64, TailStrategy::GuardWithIf)
        .gpu_blocks(b, s.o)
        .gpu_threads(t);
    if (with_bias) {
        s.grad_bias.compute_root().split(s.o, b, t, 64, TailStrategy::GuardWithIf).gpu_blocks(b).gpu_threads(t);
        s.bias_sum.compute_at(s.grad_bias, t);
    }
}

}  // namespace dcn
