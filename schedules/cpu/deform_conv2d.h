// CPU-SIMD schedule of deform_conv2d (x86 SSE4.1 / AVX2 / AVX-512). Register
// tiles are derived from the target's vector width for the element type and
// its register count; the tunables come from GeneratorParams (the autotuner's
// search space, stated in schedules/cpu/tunables.cmake).
//
// The computation is a GEMM, output (pixels x K) = columns (pixels x C*taps)
// x weights (C*taps x K), whose left operand is made on the fly by bilinear
// gathers. Per call:
//   - input_cl: the input repacked channels-innermost with a zero border, so
//     that a bilinear corner of 8 (16) channels is one vector load;
//   - weight_packed: the weights in blocks of `block` output channels
//     (the accumulator width), contiguous over the whole reduction.
// Then, in parallel over column tiles of P consecutive output pixels
// (raster order, crossing rows; P = tile * column_tiles):
//   - sample: corner and four mask-scaled bilinear weights per (pixel, tap,
//     offset group), computed once, shared by all channels of the group;
//   - for each tap: columns, the tap's sampled input for the P pixels, all
//     channels (channels innermost); then for each block of `block` output
//     channels and each register tile of `tile` pixels, a register-blocked
//     GEMM over the tap's channels (`intm`, kept in registers: tile x
//     channel_vectors vector accumulators, weights loaded as vectors,
//     columns broadcast), added to the tile's accumulator `accum`;
//   - the accumulator (channels innermost) stored to the NCHW output.
//
// Why these choices (measured on a 2-core AMD EPYC Zen 3, AVX2, 2026-12-01,
// one thread, best of 12 runs interleaved in one process, as
// `dcn-autotune <shape> --params k=v,...` does against the default; the
// machine is shared and noisy, so only differences of several percent are
// meaningful):
//   - the reduction is cut per tap (rfactor over taps): one tap's weights
//     for one block (16 x C x 4 bytes: 16 KB at C = 256) stay in L1 while
//     the register tiles of the column tile reuse them. The previous
//     schedule (no cut, weights strided by K) ran c4 at 57 GFLOP/s, this one
//     at 82-86. Cutting a tap's channels further (chunks of 128 or 256 at
//     C = 512) measured 3-7% slower.
//   - AVX2: 6 pixels x 2 vectors = 12 accumulators + 2 weight vectors + 1
//     broadcast of the 16 ymm registers (4 x 3 vectors: equal on c4, 12%
//     slower on c3; 12 x 1 vector: 14% slower on c4). AVX-512: the same
//     6 x 2 in zmm (14 x 2 = 28 of the 32 zmm measured 20% slower on a
//     Zen 5); bfloat16 pairs on avx512_bf16: 10 x 2 (deform_conv2d_cpu_tile).
//   - column tiles of ~48 pixels: the whole weight tensor (C*taps*K floats,
//     2.4 MB at c4) is re-read from L3 once per column tile, so small tiles
//     make the kernel sensitive to L3 contention; larger tiles were as fast
//     or up to 5% faster (c5: 72 pixels 84.6, 12 pixels 80.1 GFLOP/s).
//   - the reduction loop unrolled 4x: c3 76.0 vs 72.1 GFLOP/s.
#pragma once

#include <algorithm>

#include "Halide.h"
#include "cpu/path.h"
#include "stages/deform_conv2d.h"

namespace dcn {

struct DeformConv2dCpuParams {
    int tile_pixels = 0;       // pixels per register tile; 0 = derived from the registers
    int channel_vectors = 2;   // vectors of output channels per register tile
    int column_tiles = 0;      // register tiles per column tile; 0 = about 48 pixels
    int reduction_unroll = 4;  // unroll factor of the channel loop
};

// Pixels per register tile: the accumulators (tile * channel_vectors
// registers) plus channel_vectors weight vectors and one broadcast fit the
// registers a tile may use (gemm_tile_registers: 16 on every path, 6 pixels
// x 2 vectors), one register spare. With bfloat16 pairs (`pair` 2, vdpbf16ps: twice an
// FMA's work per instruction, and as many independent accumulators needed
// to cover its latency) 10 pixels x 2 vectors: against 6, 8 and 14, 10 was
// fastest on c3 / c4 / c5 / c4entry (median of 9, Zen 5, 2026-12-06: c4
// 6.5 vs 6.9-7.5 ms, c4entry 7.8-8.5 vs 9.6-9.8 ms).
inline int deform_conv2d_cpu_tile(const Halide::Target &target, const DeformConv2dCpuParams &p, int pair = 1) {
    if (p.tile_pixels > 0) return p.tile_pixels;
    if (pair > 1) return 10;
    const int cv = std::max(1, p.channel_vectors);
    return std::max(1, (gemm_tile_registers(target) - cv - 2) / cv);
}

// Output channels per packed weight block = per register tile.
inline int deform_conv2d_cpu_weight_block(const Halide::Target &target, const Halide::Type &type,
                                          const DeformConv2dCpuParams &p) {
    return target.natural_vector_size(type) * std::max(1, p.channel_vectors);
}

inline void schedule_deform_conv2d_cpu(DeformConv2dStages &s, const Halide::Target &target,
                                       const DeformConv2dCpuParams &params) {
    using namespace Halide;
    const int vec = target.natural_vector_size(s.type);
    const int tile = deform_conv2d_cpu_tile(target, params, s.pair);
    const int block = deform_conv2d_cpu_weight_block(target, s.type, params);
    const int column_tiles = params.column_tiles > 0 ? params.column_tiles : (48 + tile - 1) / tile;
    const int P = tile * column_tiles;

    const Var &p = s.p, &o = s.o, &n = s.n, &ci = s.ci, &x = s.x, &y = s.y;
    Var pt("pt"), pi("pi"), pm("pm"), oo("oo"), oi("oi"), t("t"), yn("yn"), kv("kv"), co("co"), cv("cv");
    RVar ru("ru");

    // Column tiles of P pixels of one image across the threads; the last
    // tile of an image may be short (GuardWithIf).
    s.output.compute_root()
        .split(p, pt, pi, P, TailStrategy::GuardWithIf)
        .reorder(pi, o, pt, n)
        .fuse(pt, n, t)
        .parallel(t);

    // The tile's accumulator, channels innermost: whole register tiles and
    // blocks (past the edges the algorithm clamps its indices).
    s.accum.compute_at(s.output, t)
        .align_bounds(p, tile)
        .align_bounds(o, block)
        .vectorize(o, vec);
    // intm(o, p, n, kv): one tap's part of the sum, a register tile.
    Func intm = s.accum.update().rfactor(s.r_tap, kv);
    s.accum.update()
        .split(o, oo, oi, block)
        .split(p, pm, pi, tile)
        .reorder(oi, pi, pm, oo, s.r_tap)
        .vectorize(oi, vec)
        .unroll(oi)
        .unroll(pi);
    intm.compute_at(s.accum, pm)
        .vectorize(o, vec)
        .unroll(o)
        .unroll(p);
    if (s.pair == 1) {
        intm.update()
            .split(s.r_ch, s.r_ch, ru, std::max(1, params.reduction_unroll), TailStrategy::GuardWithIf)
            .reorder(o, p, ru, s.r_ch, s.r_og)
            .vectorize(o, vec)
            .unroll(o)
            .unroll(p)
            .unroll(ru);
    } else {
        // Pairs (bfloat16 on AVX512-BF16): the pair's two channels and the
        // vector of output channels vectorised together, 2*vec products
        // summed pairwise into vec float32 lanes (a VectorReduce that
        // Halide lowers to vdpbf16ps: weights loaded as pair-interleaved
        // vectors, a pixel's column pair broadcast as one 32-bit value).
        intm.update()
            .atomic(true)
            .split(s.r_ch, s.r_ch, ru, std::max(1, params.reduction_unroll), TailStrategy::GuardWithIf)
            .reorder(s.r_lane, o, p, ru, s.r_ch, s.r_og)
            .vectorize(s.r_lane)
            .vectorize(o, vec)
            .unroll(o)
            .unroll(p)
            .unroll(ru);
    }

    // One tap's sampled columns for the column tile, channels innermost.
    s.columns.compute_at(s.accum, s.r_tap)
        .vectorize(ci, vec, TailStrategy::GuardWithIf);
    // Per column tile: each pixel's row and column, then the samples,
    // vectorised over pixels (gathered offsets, vector coordinate math).
    s.pixel.compute_at(s.output, t);
    s.sample.compute_at(s.output, t)
        .vectorize(p, vec, TailStrategy::GuardWithIf);

    // Once per call. The repack reads `vec` channel planes at a time along
    // a row (few streams for the prefetchers) and writes channel vectors.
    s.input_cl.compute_root()
        .split(s.c, co, cv, vec, TailStrategy::GuardWithIf)
        .reorder(cv, x, co, y, n)
        .fuse(y, n, yn)
        .parallel(yn)
        .vectorize(cv);
    // Blocks of 16 channels x all taps: the 16 x taps source values of each
    // output channel of the block are adjacent, so the gathers over output
    // channels reuse their cache lines (1.3 -> 1.0 ms for 512 x 512 x 3 x 3
    // float32 on a Zen 5, Halide JIT, avx512_skylake; reorder(o, k, ci) before).
    s.weight_packed.compute_root()
        .split(ci, co, cv, 16, TailStrategy::GuardWithIf)
        .reorder(o, cv, s.k, co, s.ob)
        .parallel(s.ob)
        .vectorize(o, vec, TailStrategy::GuardWithIf)
        .unroll(cv);
    s.channel_og.compute_root();

    // Specialisations: one group and one offset group (the common case:
    // the reduction is one flat loop over channels), and one group with
    // several offset groups (no division in the reduction). The general
    // case (several groups) finds each channel's offset group by division.
    s.output.specialize(s.groups == 1 && s.offset_groups == 1);
    s.output.specialize(s.groups == 1);
}

}  // namespace dcn
