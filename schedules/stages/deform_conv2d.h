// The deform_conv2d algorithm's named stages, handed from the generator
// (what is computed) to a schedule (how). See generators/deform_conv2d_generator.cpp.
#pragma once

#include "Halide.h"

namespace dcn {

struct DeformConv2dStages {
    // Pure variables. Halide dimension order is innermost first:
    // p = output pixel (raster order: row p / oW, column p % oW),
    // o = output channel, n = batch, x / y = input column / row,
    // c = input channel, ci = channel within its offset group (or within
    // the weight's group), k = tap (i*kW + j), g = offset group,
    // ob = block of output channels.
    Halide::Var p{"p"}, o{"o"}, n{"n"}, x{"x"}, y{"y"}, c{"c"}, ci{"ci"}, k{"k"}, g{"g"}, ob{"ob"};

    // input_cl(c, x, y, n): the input repacked channels-innermost, zero
    // outside the image (only [-2, W] x [-2, H] is ever needed).
    Halide::Func input_cl{"input_cl"};
    // pixel(p): (row, column) of output pixel p.
    Halide::Func pixel{"pixel"};
    // sample(p, k, g, n): per output pixel, tap and offset group, the
    // top-left corner (row, column) clamped to [-1, H-1] x [-1, W-1] (-2, -2
    // for a sample outside the image: all four corners in the zero border)
    // and the four bilinear weights, already multiplied by the mask and
    // zeroed for a sample outside the image. Computed once, shared by all channels of g.
    Halide::Func sample{"sample"};
    // columns(ci, g, k, p, n): the bilinearly sampled input (im2col).
    Halide::Func columns{"columns"};
    // weight_packed(o, ci, k, ob): weights in blocks of B output channels,
    // channels of a block innermost (output channel ob*B + o; ci = channel
    // within the weight's group), so that one block's weights are contiguous
    // over the whole reduction. B is the schedule's choice (its accumulator
    // width: deform_conv2d_cpu_weight_block()). With pairs (pair = 2:
    // bfloat16 operands, dcn::gemm_pair) o is the lane l = 2*o' + (c % 2)
    // and ci the pair c / 2 of the channels padded per reduction span (an
    // offset group's channels, or a group's) to even, the padding 0.
    Halide::Func weight_packed{"weight_packed"};
    // channel_og(c): (offset group, channel within it) of input channel c,
    // for the several-groups reduction.
    Halide::Func channel_og{"channel_og"};
    // accum(o, p, n): bias + sum over (ci, k) of weight * column.
    Halide::Func accum{"accum"};
    // Reduction. One group: r_ch = channel within the offset group, r_og =
    // offset group. Several groups: r_ch = channel within the group, r_og
    // has extent 1. r_tap = tap. With pairs, r_ch counts channel pairs and
    // r_lane (extent 2, innermost) is the channel within the pair; without,
    // r_lane is not defined.
    Halide::RDom r;
    Halide::RVar r_lane, r_ch, r_og, r_tap;
    int pair = 1;
    // The pipeline output (p, o, n).
    Halide::Func output{"output"};

    // The compute type (float32, float64): vector widths follow it. The
    // GEMM's operands (weight_packed, columns) are of operand_type
    // (dcn::gemm_operand_type: bfloat16 on the AVX512-BF16 path).
    Halide::Type type = Halide::Float(32);
    Halide::Type operand_type = Halide::Float(32);
    // Scalar parameters the schedule may specialise on.
    Halide::Expr groups, offset_groups;
};

}  // namespace dcn
