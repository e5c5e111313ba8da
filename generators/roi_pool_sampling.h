// The sampling rules of the two deformable RoI pooling operators
// (docs/operators.md), shared by their forward and backward generators: the
// RoI box, the bins, the offset / trans, the sample points and their
// bilinear cells. Each rule is stated here once.
#pragma once

#include "Halide.h"
#include "common.h"

namespace dcn {

// ---- deform_roi_pool (mmcv, RoIAlign sampling) ---------------------------

// One RoI's box and bins (no rounding, no +1, no minimum size) and its
// sampling grid sides, from the size before any offset, bounded by max_grid.
struct RoiAlignBox {
    Halide::Expr batch, start_w, start_h, roi_w, roi_h, bin_w, bin_h, grid_w, grid_h;
    // max(grid_h * grid_w, 1): what a bin's sum is divided by.
    Halide::Expr count() const { return Halide::max(grid_h * grid_w, 1); }
};

inline RoiAlignBox roi_align_box(const Halide::Func &rois, const Halide::Expr &r, const Halide::Expr &batches,
                                 const Halide::Expr &spatial_scale, const Halide::Expr &sampling_ratio,
                                 const Halide::Expr &max_grid, const Halide::Expr &PW, const Halide::Expr &PH,
                                 const Halide::Type &t) {
    using namespace Halide;
    RoiAlignBox b;
    b.batch = roi_batch_index(rois(0, r), batches);
    Expr scale = cast(t, spatial_scale);
    b.start_w = rois(1, r) * scale - 0.5f;
    b.start_h = rois(2, r) * scale - 0.5f;
    b.roi_w = (rois(3, r) * scale - 0.5f) - b.start_w;
    b.roi_h = (rois(4, r) * scale - 0.5f) - b.start_h;
    b.bin_w = b.roi_w / cast(t, PW);
    b.bin_h = b.roi_h / cast(t, PH);
    auto grid = [&](const Expr &roi, const Expr &bins) {
        Expr adaptive = clamp(ceil(roi / cast(t, bins)), Internal::make_zero(t), cast(t, max_grid));
        return select(sampling_ratio > 0, min(sampling_ratio, max_grid), cast<int>(adaptive));
    };
    b.grid_w = grid(b.roi_w, PW);
    b.grid_h = grid(b.roi_h, PH);
    return b;
}

// The coordinate of sample i along one axis of bin `bin` whose RoI starts at
// `start` (offset included): bins of `bin_size`, `grid` samples per bin.
inline Halide::Expr roi_align_coordinate(const Halide::Expr &start, const Halide::Expr &bin, const Halide::Expr &i,
                                         const Halide::Expr &bin_size, const Halide::Expr &grid) {
    using namespace Halide;
    const Type t = start.type();
    return start + cast(t, bin) * bin_size + (cast(t, i) + 0.5f) * bin_size / cast(t, max(grid, 1));
}

// RoIAlign's bilinear rule along one axis for the sample at `coord`: 0
// outside [-1, size]; negative -> 0; at the last row / column the edge is
// replicated. Returns (low, high, w_low, w_high, inside) (inside: 1 / 0
// for a sample inside / outside; a sample outside must contribute exactly 0
// whatever the pixels its clamped corners hold, so its users select on it
// rather than multiply by its zero weights); with `derivative` also
// (span, d_high): the factors of mmcv's derivative, which weights
// the low line by high - coord and the high line by coord - low with the
// unclamped coordinate: span = high - low (0 or 1) and d_high = coord - low
// (so that high - coord = span - d_high; both 0 outside).
inline Halide::Tuple roi_align_axis(const Halide::Expr &coord, const Halide::Expr &size, bool derivative) {
    using namespace Halide;
    const Type t = coord.type();
    const Expr zero = Internal::make_zero(t), one = Internal::make_one(t);
    Expr sizef = cast(t, size);
    Expr inside = is_finite(coord) && coord >= -1.0f && coord <= sizef;
    Expr cc = clamp(select(inside, coord, zero), zero, sizef - 1.0f);
    Expr low = clamp(cast<int>(floor(cc)), 0, size - 1);
    Expr high = min(low + 1, size - 1);
    Expr l = cc - cast(t, low);
    Expr v = select(inside, one, zero);
    if (!derivative) return Tuple(low, high, (1.0f - l) * v, l * v, v);
    return Tuple(low, high, (1.0f - l) * v, l * v, v, select(inside, cast(t, high - low), zero),
                 select(inside, coord - cast(t, low), zero));
}

// ---- deform_psroi_pool (MSRA) -----------------------------------------

// One RoI's box (C's round() on the corners, +1 on the far corner, a
// minimum size of 0.1) and its bins and sub-bins.
struct PsroiBox {
    Halide::Expr batch, start_w, start_h, roi_w, roi_h, bin_w, bin_h, sub_w, sub_h;
};

inline PsroiBox psroi_box(const Halide::Func &rois, const Halide::Expr &r, const Halide::Expr &batches,
                          const Halide::Expr &spatial_scale, const Halide::Expr &P,
                          const Halide::Expr &sample_per_part, const Halide::Type &t, const Halide::Target &target) {
    using namespace Halide;
    PsroiBox b;
    b.batch = roi_batch_index(rois(0, r), batches);
    Expr scale = cast(t, spatial_scale);
    b.start_w = round_half_away(rois(1, r)) * scale - 0.5f;
    b.start_h = round_half_away(rois(2, r)) * scale - 0.5f;
    Expr end_w = (round_half_away(rois(3, r)) + 1.0f) * scale - 0.5f;
    Expr end_h = (round_half_away(rois(4, r)) + 1.0f) * scale - 0.5f;
    // The minimum RoI size 0.1. Halide's OpenCL code generator prints a
    // float64 constant through float (float_from_bits), which would round
    // 0.1: there it is made at run time, P / (10 P), exactly the double
    // nearest 0.1 (a correctly rounded quotient of exact integers).
    Expr min_size = Internal::make_const(t, 0.1);
    if (target.has_feature(Target::OpenCL) && t.bits() == 64) min_size = cast(t, P) / cast(t, P * 10);
    b.roi_w = max(end_w - b.start_w, min_size);
    b.roi_h = max(end_h - b.start_h, min_size);
    b.bin_w = b.roi_w / cast(t, P);
    b.bin_h = b.roi_h / cast(t, P);
    b.sub_w = b.bin_w / cast(t, sample_per_part);
    b.sub_h = b.bin_h / cast(t, sample_per_part);
    return b;
}

// The part cell of bin p, computed in float as MSRA does (strict, so that
// fast-math cannot reassociate it and move a floor()), whatever the dtype.
inline Halide::Expr psroi_part(const Halide::Expr &p, const Halide::Expr &P, const Halide::Expr &part_size) {
    using namespace Halide;
    Expr f = strict_float(floor(cast<float>(p) / cast<float>(P) * cast<float>(part_size)));
    return clamp(cast<int>(f), 0, part_size - 1);
}

// A sample of a bin: skipped outside [-0.5, W-0.5] x [-0.5, H-0.5] (and
// when not finite), otherwise clamped into the image; its cell's top-left
// corner (x1, y1), MSRA's far corner (x2, y2) = ceil() of the clamped
// coordinate (equal to the near one on an integer coordinate), and the
// fractions (dx, dy).
struct PsroiSample {
    Halide::Expr valid, x1, y1, x2, y2, dx, dy;
};

inline PsroiSample psroi_sample(const Halide::Expr &sw, const Halide::Expr &sh, const Halide::Expr &W,
                                const Halide::Expr &H) {
    using namespace Halide;
    const Type t = sw.type();
    const Expr zero = Internal::make_zero(t);
    Expr Wf = cast(t, W), Hf = cast(t, H);
    PsroiSample s;
    s.valid = is_finite(sw) && is_finite(sh) && sw >= -0.5f && sw <= Wf - 0.5f && sh >= -0.5f && sh <= Hf - 0.5f;
    Expr wc = clamp(select(s.valid, sw, zero), zero, Wf - 1.0f);
    Expr hc = clamp(select(s.valid, sh, zero), zero, Hf - 1.0f);
    s.x1 = clamp(cast<int>(floor(wc)), 0, W - 1);
    s.y1 = clamp(cast<int>(floor(hc)), 0, H - 1);
    s.dx = wc - cast(t, s.x1);
    s.dy = hc - cast(t, s.y1);
    s.x2 = select(s.dx > zero, min(s.x1 + 1, W - 1), s.x1);
    s.y2 = select(s.dy > zero, min(s.y1 + 1, H - 1), s.y1);
    return s;
}

}  // namespace dcn
