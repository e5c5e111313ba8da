// Named stages of the two deformable RoI pooling backward algorithms, handed
// from the generators (what is computed: generators/deform_*roi_pool_backward_
// data_generator.cpp) to the schedules (how: schedules/<backend>/
// roi_pool_backward.h).
//
// Both gradients of the input are scatters whose target rows / columns
// depend on the data. They are made deterministic by construction: each
// channel's scatter has one owner (a thread, a vector lane) that adds every
// (RoI, bin, sample, corner) contribution in one fixed order, and every other
// sum (over channels, samples, bins) is a reduction with a fixed order.
#pragma once

#include "Halide.h"

namespace dcn {

// deform_roi_pool's data gradients (mmcv): grad_input, grad_offset, grad_mask.
struct DeformRoiPoolBackwardStages {
    // pw, ph = bin; c = channel; r = RoI; i = sample index along one axis;
    // x, y, n = input pixel and image.
    Halide::Var pw{"pw"}, ph{"ph"}, c{"c"}, r{"r"}, i{"i"}, x{"x"}, y{"y"}, n{"n"};
    // input_cl(c, x, y, n): the input channels-innermost (for the offset
    // and mask gradients' gathers).
    Halide::Func input_cl{"input_cl"};
    // bin_start(pw, ph, r) = (the bin's first x, y with the offset, bin
    // width, height, grid columns, rows (>= 1)).
    Halide::Func bin_start{"bin_start"};
    // The separable sample rows y_sample(i, pw, ph, r) and columns
    // x_sample(i, pw, ph, r): (low, high, w_low, w_high, inside, span,
    // d_high) (roi_align_axis with the derivative).
    Halide::Func y_sample{"y_sample"}, x_sample{"x_sample"};
    // gy(c, pw, ph, r): grad_output in the compute type, channels innermost;
    // share(c, pw, ph, r) = gy * mask / (samples of the bin): what each
    // sample of the bin passes on.
    Halide::Func gy{"gy"}, share{"share"};
    // sums(c, pw, ph, r) = (pooled sum, sum of d/dx, sum of d/dy) over the
    // bin's samples; bin_grads(pw, ph, r) = (grad_offset x, y, grad_mask):
    // their sums over the channels weighted by grad_output.
    Halide::Func sums{"sums"}, bin_grads{"bin_grads"};
    Halide::RDom s;   // the bin's samples: s.x = column, s.y = row
    Halide::RDom rc;  // channels
    // The scatter: grad_input_cl(c, x, y, n) += share * corner weight, over
    // rs = (corner, column sample, row sample, pw, ph, r) in that order
    // (innermost first).
    Halide::Func grad_input_cl{"grad_input_cl"};
    Halide::RDom rs;
    // The outputs (grad_offset / grad_mask undefined without offset / mask).
    Halide::Func grad_input, grad_offset, grad_mask;
    Halide::Type type = Halide::Float(32);
};

// deform_psroi_pool's data gradients (MSRA): grad_input, grad_trans.
struct DeformPsroiPoolBackwardStages {
    // pw, ph = bin; cc = channel within its class; cls = trans class;
    // r = RoI; iw, ih = sample within a bin; x, y, n = input pixel and
    // image; gi = position-sensitive group gh*G + gw; px, py = part cell;
    // k = 0 (x) / 1 (y) within a class's pair of trans channels.
    Halide::Var pw{"pw"}, ph{"ph"}, cc{"cc"}, cls{"cls"}, r{"r"}, iw{"iw"}, ih{"ih"};
    Halide::Var x{"x"}, y{"y"}, n{"n"}, gi{"gi"}, px{"px"}, py{"py"}, k{"k"}, ct{"ct"};
    // input_ps(ct, x, y, gi, n): input channel ct*G*G + gi, output channels
    // innermost (the trans gradient's gather).
    Halide::Func input_ps{"input_ps"};
    // bin_start(pw, ph, cls, r) = (the bin's first sample's x, y with trans,
    // sub-bin width, height); sample(iw, ih, pw, ph, cls, r) =
    // (y1, x1, y2, x2, dy, dx, valid).
    Halide::Func bin_start{"bin_start"};
    Halide::Func sample{"sample"};
    // valid(iw, ih, pw, ph, cls, r): 1 for a sample inside the image, else
    // 0 (its own Func, so that the count need not keep a bin's samples);
    // count(pw, ph, cls, r): the bin's samples inside the image.
    Halide::Func valid{"valid"}, count{"count"};
    Halide::RDom s;  // the bin's samples: s.x = iw, s.y = ih
    // share(cc, cls, pw, ph, r) = grad_output / count (0 for an empty bin).
    Halide::Func share{"share"};
    // tsums(cc, cls, pw, ph, r) = (sum of d/dx, sum of d/dy) over the bin's
    // valid samples; bin_trans(pw, ph, cls, r): their sums over the class's
    // channels weighted by share, times trans_std * the RoI's size; rc: the
    // class's channels.
    Halide::Func tsums{"tsums"}, bin_trans{"bin_trans"};
    Halide::RDom rc;
    // cell_sum(px, py, 2*cls + k, r): bin_trans summed over the bins of the
    // part cell (rb: the P x P bins, those of the cell); grad_trans scales it.
    Halide::Func cell_sum{"cell_sum"};
    Halide::RDom rb;
    // The scatter, per (cc, gi, cls): grad_ps(cc, x, y, gi, cls, n) +=
    // share * corner weight over rs = (corner, iw, ih, the group's bins
    // along x, along y, r).
    Halide::Func grad_ps{"grad_ps"};
    Halide::RDom rs;
    // The outputs: grad_input(x, y, gi, cc, cls, n) is the NCHW gradient
    // with its channel c = ((cls*per_class + cc)*G + gh)*G + gw split into
    // (gi, cc, cls); grad_trans undefined without trans.
    Halide::Func grad_input, grad_trans;
    Halide::Type type = Halide::Float(32);
};

}  // namespace dcn
