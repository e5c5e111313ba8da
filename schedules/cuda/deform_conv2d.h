// GPU schedule of deform_conv2d, written for NVIDIA A100 / H100-class GPUs
// (compiled for CUDA; the same schedule compiled for OpenCL runs on PoCL in
// the tests). Only gpu_blocks / gpu_threads are used, so the CUDA and the
// OpenCL builds are the same schedule.
//
// Three kernels:
//   1. sample (pixel, tap, offset group): corner + 4 mask-scaled weights, one
//      thread each; read by every channel of the offset group.
//   2. weight_packed: the weights in blocks of tile_k output channels,
//      channels innermost (one pass), so a block's staging loads are contiguous.
//   3. the output: one block per tile of `tile_x` consecutive output pixels
//      (raster order, so a tile may cross rows: no idle threads on narrow maps) x
//      `tile_k` output channels. The reduction over (channel, tap) runs as a
//      serial loop at block level in chunks of `chunk` channels of one tap;
//      per chunk the block stages in shared memory
//        - the sampled columns: chunk x tile_x floats (bilinear gathers, one
//          per thread and item),
//        - the weights: chunk x tile_k floats,
//      then every thread accumulates its reg_x x reg_k block over the chunk
//      (unrolled). The accumulators are registers for the whole reduction
//      (store_in(Register): each thread touches only its own block), written
//      once to the output at the end; before, they lived in shared memory
//      and every step loaded and stored them (the PTX of the masked float32
//      kernel: 281 ld.shared / 149 st.shared then, 108 / 7 now).
// Defaults (tile 32 x 32, 2 x 4 per thread, chunk 8):
//   threads per block = (32/2) * (32/4) = 128 (4 warps); every staging loop
//   is spread over the same 16 x 8 thread shape (gpu_common.h);
//   shared memory = columns 8*32*4 B + weights 8*32*4 B = 2 KB per block;
//   registers (ptxas, float32): 40 on sm_90 and 56 on sm_80 for the
//   one-group kernels, 48 / 64 for the several-groups kernel, no spills,
//   also under the 64-register cap Halide's runtime gives the driver JIT;
//   so an SM (64K registers, 228 KB shared) holds 8-10 blocks of 128
//   threads: 50-62% occupancy, shared memory not the limit.
// Expected throughput: each unrolled step loads 2 columns + 4 weights from
// shared memory for 8 FMAs, so shared-memory bandwidth (32 floats / clock /
// SM) caps the FMA pipes (128 lanes / SM) at about 1/3 of peak; the samples
// are re-gathered by each of the K/32 blocks of a pixel tile.
// The raw input is never staged (its footprint depends on the offsets).
#pragma once

#include "Halide.h"
#include "deform_conv2d_algorithm.h"
#include "gpu_common.h"

namespace dcn {

struct DeformConv2dGpuParams {
    int tile_x = 32;  // output pixels per block (consecutive in raster order)
    int tile_k = 32;  // output channels per block
    int reg_x = 2;    // pixels per thread
    int reg_k = 4;    // output channels per thread
    int chunk = 8;    // channels per reduction step staged in shared memory
};

// Output channels per packed weight block: one block's tile_k.
inline int deform_conv2d_gpu_weight_block(const DeformConv2dGpuParams &p = {}) { return p.tile_k; }

inline void schedule_deform_conv2d_gpu(DeformConv2dStages &s, const Halide::Target &target,
                                       const DeformConv2dGpuParams &p = {}) {
    using namespace Halide;
    (void)target;
    const Var &x = s.p, &o = s.o, &n = s.n, &ci = s.ci, &k = s.k, &g = s.g;
    Var xo("xo"), xi("xi"), oo("oo"), oi("oi"), xt("xt"), xr("xr"), ot("ot"), orr("or"), kg("kg");
    Var t("t");
    RVar rco("rco"), rci("rci");
    const std::vector<int> block = {p.tile_x / p.reg_x, p.tile_k / p.reg_k};

    // Kernel 1: the samples (a pixel's row and column computed inline).
    s.pixel.compute_inline();
    Var sxo("sxo"), sxi("sxi");
    s.sample.compute_root()
        .fuse(k, g, kg)
        .split(x, sxo, sxi, 128, TailStrategy::GuardWithIf)
        .gpu_blocks(sxo, kg, n)
        .gpu_threads(sxi);
    // Kernel 2: packed weights, output channels innermost (coalesced writes).
    Var wo("wo"), wi("wi");
    s.weight_packed.compute_root()
        .fuse(o, ci, wi)
        .split(wi, wo, wi, 64, TailStrategy::GuardWithIf)
        .gpu_blocks(wo, k, s.ob)
        .gpu_threads(wi);
    // Kernel 2b: the channel -> offset group table (several groups only).
    Var cb("cb"), cth("cth");
    s.channel_og.compute_root().split(s.c, cb, cth, 64, TailStrategy::GuardWithIf).gpu_blocks(cb).gpu_threads(cth);
    // The repacked input is a CPU device; on the GPU the gathers read X.
    s.input_cl.compute_inline();

    // Kernel 3: output tiles.
    s.output.compute_root()
        .split(x, xo, xi, p.tile_x, TailStrategy::GuardWithIf)
        .split(o, oo, oi, p.tile_k, TailStrategy::GuardWithIf)
        .reorder(xi, oi, xo, oo, n)
        .gpu_blocks(xo, oo, n)
        .split(xi, xt, xr, p.reg_x, TailStrategy::GuardWithIf)
        .split(oi, ot, orr, p.reg_k, TailStrategy::GuardWithIf)
        .reorder(xr, orr, xt, ot)
        .gpu_threads(xt, ot);

    // Accumulators: block level (a fixed tile; indices past the edges are
    // clamped in the algorithm), each thread owning a reg_x x reg_k block.
    s.accum.compute_at(s.output, xo)
        .bound_extent(x, p.tile_x)
        .bound_extent(o, p.tile_k)
        .split(x, xt, xr, p.reg_x)
        .split(o, ot, orr, p.reg_k)
        .reorder(xr, orr, xt, ot)
        .gpu_threads(xt, ot)
        .unroll(xr)
        .unroll(orr)
        .store_in(MemoryType::Register);
    s.accum.update()
        .split(s.r_ch, rco, rci, p.chunk, TailStrategy::GuardWithIf)
        .split(x, xt, xr, p.reg_x)
        .split(o, ot, orr, p.reg_k)
        .reorder(orr, xr, rci, xt, ot, rco, s.r_og, s.r_tap)
        .gpu_threads(xt, ot)
        .unroll(xr)
        .unroll(orr);
    // Several groups: each step looks its channel's offset group up in a
    // table; unrolling the chunk as well would exceed 64 registers (ptxas,
    // sm_90), so that rare path keeps the chunk loop rolled.
    s.accum.update().specialize(s.groups != 1);
    s.accum.update().unroll(rci);

    // Per chunk, in shared memory, computed by all threads of the block.
    s.columns.compute_at(s.accum, rco).fuse(ci, x, t);
    spread_over_block(s.columns, t, block);
    Func w_tile = s.weight_packed.in(s.accum);
    w_tile.compute_at(s.accum, rco).fuse(o, ci, t);
    spread_over_block(w_tile, t, block);

    s.output.specialize(s.groups == 1 && s.offset_groups == 1);
    s.output.specialize(s.groups == 1);
}

}  // namespace dcn
