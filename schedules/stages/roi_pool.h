// Named stages of the two deformable RoI pooling algorithms, handed from the
// generators (what is computed) to the schedules (how).
#pragma once

#include "Halide.h"

namespace dcn {

// deform_psroi_pool (MSRA). Halide order, innermost first.
struct DeformPsroiPoolStages {
    // pw, ph = bin; ct = output channel; cc = channel within its class;
    // cls = trans class; r = RoI; iw, ih = sample within a bin;
    // x, y, n = input pixel and image; gi = position-sensitive group gh*G+gw.
    Halide::Var pw{"pw"}, ph{"ph"}, ct{"ct"}, cc{"cc"}, cls{"cls"}, r{"r"};
    Halide::Var iw{"iw"}, ih{"ih"}, x{"x"}, y{"y"}, n{"n"}, gi{"gi"};
    // input_ps(ct, x, y, gi, n): input channel ct*G*G + gi, so that the
    // output channels of one bin are contiguous (vector loads).
    Halide::Func input_ps{"input_ps"};
    // sample(iw, ih, pw, ph, cls, r): (row, column, the 4 bilinear weights)
    // once per sample, shared by every channel of the class.
    Halide::Func sample{"sample"};
    // valid(iw, ih, pw, ph, cls, r): 1 when the sample is inside the image,
    // else 0: what count sums (its own Func, so that a schedule need not
    // keep a whole bin's samples for the count).
    Halide::Func valid{"valid"};
    // pooled(cc, cls, pw, ph, r): sum of samples; count(pw, ph, cls, r).
    Halide::Func pooled{"pooled"}, count{"count"};
    Halide::RDom s;  // s.x = iw, s.y = ih
    Halide::Func output{"output"};  // (pw, ph, ct, r) -> (value, count)
    Halide::Type type = Halide::Float(32);  // the element type: vector widths follow it
};

// deform_roi_pool (mmcv RoIAlign style).
struct DeformRoiPoolStages {
    // pw, ph = bin; c = channel; r = RoI; i = sample index along one axis.
    Halide::Var pw{"pw"}, ph{"ph"}, c{"c"}, r{"r"}, i{"i"}, x{"x"}, y{"y"}, n{"n"};
    // input_cl(c, x, y, n): channels innermost.
    Halide::Func input_cl{"input_cl"};
    // RoIAlign's bilinear rule is separable: per bin, the rows of its
    // samples y_sample(i, pw, ph, r) = (low, high, weight of low, weight of
    // high, inside) and the columns x_sample(i, pw, ph, r) likewise; a
    // sample outside the image (inside = 0) is selected away, not weighted.
    Halide::Func y_sample{"y_sample"}, x_sample{"x_sample"};
    Halide::Func pooled{"pooled"};  // (c, pw, ph, r): sum over the bin's samples
    Halide::RDom s;       // s.x = column sample, s.y = row sample
    Halide::Func output{"output"};  // (pw, ph, c, r)
    Halide::Type type = Halide::Float(32);  // the element type: vector widths follow it
};

}  // namespace dcn
