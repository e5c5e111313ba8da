// The deform_conv2d algorithm's named stages, handed from the generator
// (what is computed) to a schedule (how). See generators/deform_conv2d_generator.cpp.
#pragma once

#include "Halide.h"

namespace dcn {

struct DeformConv2dStages {
    // Pure variables. Halide dimension order is innermost first:
    // x = output column, y = output row, o = output channel, n = batch,
    // c = input channel, k = tap (i*kW + j), g = offset group.
    Halide::Var x{"x"}, y{"y"}, o{"o"}, n{"n"}, c{"c"}, k{"k"}, g{"g"};

    // input_cl(c, x, y, n): the input repacked channels-innermost, zero
    // outside the image (only [-1, W] x [-1, H] is ever needed).
    Halide::Func input_cl;
    // sample(x, y, k, g, n): per output pixel, tap and offset group, the
    // top-left corner (row, column) clamped to [-1, H-1] x [-1, W-1] and the
    // four bilinear weights, already multiplied by the mask and zeroed for a
    // sample outside the image. Computed once, shared by all channels of g.
    Halide::Func sample;
    // columns(c, k, x, y, n): the bilinearly sampled input (im2col).
    Halide::Func columns;
    // weight_packed(o, ci, k): weights with output channels innermost.
    Halide::Func weight_packed;
    // accum(o, x, y, n): bias + sum over (ci, k) of weight * column.
    Halide::Func accum;
    Halide::RDom r;  // r.x = channel within the group, r.y = tap
    // The pipeline output (x, y, o, n).
    Halide::Func output;

    // Scalar parameters the schedule may specialise on.
    Halide::Expr groups, offset_groups;
};

}  // namespace dcn
