// CPU-SIMD schedule of deform_conv2d (x86 SSE4.1 / AVX2 / AVX-512, ARM NEON
// by target). Everything is derived from the target's vector width and
// register count; the two tunables come from GeneratorParams.
//
// Shape of the computation, per output row y and tile of `tile_pixels`
// output columns:
//   1. sample: corner + 4 mask-scaled bilinear weights per (pixel, tap,
//      offset group), computed once and shared by all channels of the group;
//   2. columns: the sampled input for every (channel, tap, pixel) of the
//      tile, channels innermost, so each bilinear corner is a vector load
//      from the channels-innermost copy of the input;
//   3. for each block of `channel_vectors` vectors of output channels, a
//      register-blocked GEMM over (channel, tap): tile_pixels x
//      channel_vectors vector accumulators, weights loaded as vectors,
//      columns broadcast.
// The tile's columns (C*kH*kW*tile_pixels floats: 129 KB for C=256, 3x3,
// 14 pixels) stay in L2 and are reused by every output-channel block.
#pragma once

#include "Halide.h"
#include "deform_conv2d_algorithm.h"

namespace dcn {

struct DeformConv2dCpuParams {
    int tile_pixels;      // output columns per accumulator tile; 0 = derived from registers
    int channel_vectors;  // vectors of output channels per accumulator block
    int column_tiles;     // accumulator tiles sharing one sampled-columns tile
};

inline void schedule_deform_conv2d_cpu(DeformConv2dStages &s, const Halide::Target &target,
                                       DeformConv2dCpuParams p) {
    using namespace Halide;
    const int vec = target.natural_vector_size<float>();
    const int vector_registers = target.has_feature(Target::AVX512) ? 32 : 16;
    const int cv = std::max(1, p.channel_vectors);
    // Accumulators = tile_pixels * cv vector registers; keep cv registers
    // for the weight vectors and one for the broadcast column value, plus
    // one spare: AVX-512 14 px x 2 vectors = 28 zmm; AVX2/SSE 6 x 2 = 12.
    int tile = p.tile_pixels > 0 ? p.tile_pixels : (vector_registers - cv - 2) / cv;
    tile = std::max(1, tile);
    const int block = vec * cv;  // output channels per accumulator block

    const Var &x = s.x, &y = s.y, &o = s.o, &n = s.n, &c = s.c, &ci = s.ci;
    Var xo("xo"), xm("xm"), xi("xi"), oo("oo"), oi("oi"), yn("yn");
    const int column_tiles = std::max(1, p.column_tiles);

    // Output: rows (and batch) across threads; within a row, tiles of
    // pixels, then blocks of output channels. The stores transpose the
    // channels-innermost accumulator back to NCHW; GuardWithIf because
    // oW and K need not be multiples of the tile.
    s.output.compute_root()
        .split(x, xo, xi, tile * column_tiles, TailStrategy::GuardWithIf)
        .split(xi, xm, xi, tile, TailStrategy::GuardWithIf)
        .split(o, oo, oi, block, TailStrategy::GuardWithIf)
        .reorder(xi, oi, xm, oo, xo, y, n)
        .fuse(y, n, yn)
        .parallel(yn);

    // Register-blocked accumulator: a fixed tile x block region (past the
    // edges the algorithm clamps its indices), fully unrolled so LLVM keeps
    // it in registers; reduction over channels innermost, taps outside.
    s.accum.compute_at(s.output, xm)
        .bound_extent(x, tile)
        .bound_extent(o, block)
        .vectorize(o, vec)
        .unroll(o)
        .unroll(x);
    s.accum.update()
        .reorder(o, x, s.r.x, s.r.y, s.r.z)
        .vectorize(o, vec)
        .unroll(o)
        .unroll(x);

    // Sampled columns for the tile, channels innermost (vector loads from
    // input_cl); reused by every output-channel block of the tile.
    s.columns.compute_at(s.output, xo)
        .vectorize(ci, vec, TailStrategy::GuardWithIf);
    s.sample.compute_at(s.output, xo);

    // Once per call: channels-innermost input, output-channel-innermost weights.
    s.input_cl.compute_root()
        .fuse(y, n, yn)
        .parallel(yn)
        .vectorize(c, vec, TailStrategy::GuardWithIf);
    s.weight_packed.compute_root()
        .parallel(s.k)
        .vectorize(o, vec, TailStrategy::GuardWithIf);
    s.channel_og.compute_root();

    // Specialisations: one group and one offset group (the common case:
    // the reduction is one flat loop over channels), and one group with
    // several offset groups (no division in the reduction). The general
    // case (several groups) finds each channel's offset group by division.
    s.output.specialize(s.groups == 1 && s.offset_groups == 1);
    s.output.specialize(s.groups == 1);
}

}  // namespace dcn
