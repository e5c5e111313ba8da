// GPU schedule of deform_conv2d_gemm, the Halide GEMM of deform_conv2d's
// GPU path (OpenCL, and CUDA without cuBLASLt), written for NVIDIA
// A100 / H100-class GPUs. Only gpu_blocks / gpu_threads are used, so the
// CUDA and the OpenCL builds are the same schedule.
//
// One kernel, the shape of Halide's apps/cuda_mat_mul: one block per tile
// of `tile_x` consecutive output pixels (raster order, so a tile may cross
// rows: no idle threads on narrow maps) x `tile_k` output channels; each
// thread owns a reg_x x reg_k block of outputs and runs the whole reduction
// over (channel, tap) itself, its accumulators in registers (computed at
// the thread loop, fully unrolled: ptxas reports no stack frame), loading
// per step reg_x columns (consecutive pixels: a warp's loads are
// contiguous) and reg_k weights (shared by the warp: broadcast, L1).
// Defaults (tile 64 x 32, 4 x 4 per thread): 128 threads per block (4
// warps), 16 accumulators per thread, 8 loads per 16 FMAs: L1 bandwidth
// (32 floats / clock / SM against 128 FMA lanes) caps it near half the
// FP32 peak, no tensor cores (Halide 21 emits none). That is why CUDA uses
// cuBLASLt where it loads (runtime/src/cublaslt.h); this kernel is its
// fallback and what PoCL tests. Registers: build/ptx/ptxas_report.txt.
#pragma once

#include "Halide.h"

namespace dcn {

struct DeformConv2dGemmStages {
    // p = output pixel, o = output channel, n = image, k = tap, c = input
    // channel (within its offset group in `column`, within the weight's
    // group in `weight`), g = offset group.
    Halide::Var p{"p"}, o{"o"}, n{"n"}, k{"k"}, c{"c"}, g{"g"};
    // column(p, k, c, g, n), weight(k, c, o): the operands in the compute type.
    Halide::Func column{"column"}, weight{"weight_c"};
    // accum(o, p, n): bias + the reduction.
    Halide::Func accum{"accum"};
    Halide::RDom r;
    Halide::RVar r_ch, r_og, r_tap;
    Halide::Func output;
    Halide::Expr groups, offset_groups;
};

struct DeformConv2dGemmGpuParams {
    int tile_x = 64;  // output pixels per block (consecutive in raster order)
    int tile_k = 32;  // output channels per block
    int reg_x = 4;    // pixels per thread
    int reg_k = 4;    // output channels per thread
};

// The parameters for a storage type: with 16-bit storage the several-groups
// kernel needs a few registers more for the conversions and, at 4 x 4 under
// the 64-register cap of Halide's CUDA JIT, would keep 40 bytes in local
// memory (ptxas, float16, sm_80); 2 x 4 per thread (tile 32) fits.
inline DeformConv2dGemmGpuParams deform_conv2d_gemm_gpu_params(const Halide::Type &storage) {
    DeformConv2dGemmGpuParams q;
    if (storage.bits() == 16) {
        q.tile_x = 32;
        q.reg_x = 2;
    }
    return q;
}

inline void schedule_deform_conv2d_gemm_gpu(DeformConv2dGemmStages &s, const DeformConv2dGemmGpuParams &q) {
    using namespace Halide;
    const Var &x = s.p, &o = s.o, &n = s.n;
    Var xo("xo"), xi("xi"), oo("oo"), oi("oi"), xt("xt"), xr("xr"), ot("ot"), orr("or");

    s.output.compute_root()
        .split(x, xo, xi, q.tile_x, TailStrategy::GuardWithIf)
        .split(o, oo, oi, q.tile_k, TailStrategy::GuardWithIf)
        .reorder(xi, oi, xo, oo, n)
        .gpu_blocks(xo, oo, n)
        .split(xi, xt, xr, q.reg_x, TailStrategy::GuardWithIf)
        .split(oi, ot, orr, q.reg_k, TailStrategy::GuardWithIf)
        .reorder(xr, orr, xt, ot)
        .gpu_threads(xt, ot)
        .unroll(xr)
        .unroll(orr);

    // Each thread's reg_x x reg_k accumulators, in registers for the whole
    // reduction (indices past the edges are clamped in the algorithm).
    s.accum.compute_at(s.output, xt)
        .bound_extent(x, q.reg_x)
        .bound_extent(o, q.reg_k)
        .reorder(x, o)
        .unroll(x)
        .unroll(o);
    s.accum.update()
        .reorder(x, o, s.r_ch, s.r_og, s.r_tap)
        .unroll(x)
        .unroll(o);

    s.output.specialize(s.groups == 1 && s.offset_groups == 1);
    s.output.specialize(s.groups == 1);
}

}  // namespace dcn
