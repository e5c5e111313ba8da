// deform_conv2d test problems shared by the forward and backward suites:
// the edge-case matrix (all_cases), seeded data for each case (make_problem),
// the options of a case. Header-only, for the GoogleTest suites.
#pragma once

#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "reference/deform_conv2d_ref.h"
#include "test_support.h"

namespace dcn_conv_cases {

using dcn_ref::DeformConv2dParams;
using dcn_ref::Tensor;

// ---- problem description ----------------------------------------------------

enum class Offsets {
    zero,       // all zero
    random,     // uniform in [-scale, scale)
    border,     // sample points exactly on / just inside / just past the borders
    large,      // uniform in +-(2*max(H, W) + 4): most samples outside
    dyadic,     // multiples of 1/4 in [-3, 3] with dyadic data: exact in float
    nonfinite,  // random, with NaN / +-Inf / +-1e30 / +-3e38 mixed into dy and dx
};

struct Case {
    std::string name;
    int64_t N = 1, C = 1, H = 1, W = 1, K = 1, kH = 1, kW = 1;
    DeformConv2dParams p;
    bool mask = false, bias = false;
    Offsets offsets = Offsets::random;
    float offset_scale = 2.5f;

    explicit Case(std::string n) : name(std::move(n)) {}
    Case &in(int64_t n, int64_t c, int64_t h, int64_t w) {
        N = n, C = c, H = h, W = w;
        return *this;
    }
    Case &wt(int64_t k, int64_t kh, int64_t kw) {
        K = k, kH = kh, kW = kw;
        return *this;
    }
    Case &stride(int s) { return stride(s, s); }
    Case &stride(int sh, int sw) {
        p.stride_h = sh, p.stride_w = sw;
        return *this;
    }
    Case &dil(int d) { return dil(d, d); }
    Case &dil(int dh, int dw) {
        p.dilation_h = dh, p.dilation_w = dw;
        return *this;
    }
    Case &pad(int q) { return pads(q, q, q, q); }
    Case &pad(int ph, int pw) { return pads(ph, pw, ph, pw); }
    Case &pads(int top, int left, int bottom, int right) {
        p.pad_top = top, p.pad_left = left, p.pad_bottom = bottom, p.pad_right = right;
        return *this;
    }
    Case &groups(int g) {
        p.groups = g;
        return *this;
    }
    Case &og(int g) {
        p.offset_groups = g;
        return *this;
    }
    Case &with_mask() {
        mask = true;
        return *this;
    }
    Case &with_bias() {
        bias = true;
        return *this;
    }
    Case &offs(Offsets o, float scale = 2.5f) {
        offsets = o, offset_scale = scale;
        return *this;
    }
};

// Readable parameter printing in gtest messages.
inline void PrintTo(const Case &c, std::ostream *os) {
    *os << c.name << " input [" << c.N << ", " << c.C << ", " << c.H << ", " << c.W
        << "] weight [" << c.K << ", " << c.C / c.p.groups << ", " << c.kH << ", " << c.kW
        << "] stride " << c.p.stride_h << "x" << c.p.stride_w << " dilation " << c.p.dilation_h
        << "x" << c.p.dilation_w << " pad (t,l,b,r) " << c.p.pad_top << "," << c.p.pad_left
        << "," << c.p.pad_bottom << "," << c.p.pad_right << " groups " << c.p.groups
        << " offset_groups " << c.p.offset_groups << (c.mask ? " mask" : "")
        << (c.bias ? " bias" : "");
}

struct Problem {
    Tensor input, offset, weight, mask, bias;
    bool has_mask = false, has_bias = false;
    DeformConv2dParams p;
    std::vector<int64_t> out_shape;
    bool exact = false;  // dyadic / integer data: the float result must be exact

    int64_t reduction_len() const { return weight.shape[1] * weight.shape[2] * weight.shape[3]; }
    std::vector<double> reference() const {
        return dcn_ref::deform_conv2d(input, offset, weight, has_mask ? &mask : nullptr,
                                      has_bias ? &bias : nullptr, p);
    }
    dcn_test::Tolerance tolerance() const {
        return exact ? dcn_test::Tolerance::exact() : dcn_test::Tolerance{};
    }
    // sum |weight * mask * sampled value| per output (Tolerance::with_term_sums).
    std::vector<double> term_sums() const {
        return dcn_ref::deform_conv2d_term_sums(input, offset, weight, has_mask ? &mask : nullptr, p);
    }
    // The tolerance of a result in `dtype` computed on `isa`.
    dcn_test::Tolerance tolerance_on(dcn::DType dtype, dcn::CpuIsa isa) const {
        dcn_test::Tolerance t = dcn_test::tolerance_for(dtype, tolerance());
        if (dcn_test::rounds_gemm_operands(isa, dtype)) t = t.with_term_sums(dcn_test::unit_roundoff(dtype), term_sums());
        return t;
    }
    // The tolerance of a forward result in `dtype` on a GPU: its columns
    // are stored in the dtype (docs/operators.md, "Precision of 16-bit
    // storage"), so a 16-bit result carries the rounded-operand term.
    dcn_test::Tolerance gpu_forward_tolerance(dcn::DType dtype) const {
        dcn_test::Tolerance t = dcn_test::tolerance_for(dtype, tolerance());
        if (dcn_test::is_storage16(dtype)) t = t.with_term_sums(dcn_test::unit_roundoff(dtype), term_sums());
        return t;
    }
};

inline uint32_t seed_of(const std::string &s) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char ch : s) h = (h ^ ch) * 16777619u;
    return h;
}

// A coordinate for the border family: exactly on, just inside or just past
// -1, 0, L-1 and L, or (sometimes) an ordinary position inside. eps values are
// powers of two so base + offset is exact in float as well as in double.
inline double border_coordinate(std::mt19937 &rng, int64_t L) {
    static const double eps[] = {1.0 / 65536, 1.0 / 256, 0.25};
    const double e = eps[dcn_test::uniform_int(rng, 0, 2)];
    const double l = static_cast<double>(L);
    const double specials[] = {-1 - e, -1.0, -1 + e, -0.5, -e,    0.0,   e,
                               l - 1 - e, l - 1, l - 1 + e, l - 0.5, l - e, l, l + e};
    const int64_t n_special = sizeof(specials) / sizeof(specials[0]);
    const int64_t pick = dcn_test::uniform_int(rng, 0, n_special + 3);
    if (pick < n_special) return specials[pick];
    return static_cast<double>(dcn_test::uniform_int(rng, 0, 8 * (L - 1))) / 8.0;  // inside
}

inline Problem make_problem(const Case &c) {
    std::mt19937 rng(seed_of(c.name));
    Problem pr;
    pr.p = c.p;
    pr.has_mask = c.mask;
    pr.has_bias = c.bias;
    pr.exact = c.offsets == Offsets::dyadic;
    const int64_t G = c.p.offset_groups, taps = c.kH * c.kW;
    const std::vector<int64_t> in_shape{c.N, c.C, c.H, c.W};
    const std::vector<int64_t> w_shape{c.K, c.C / c.p.groups, c.kH, c.kW};
    pr.out_shape = dcn_ref::deform_conv2d_output_shape(in_shape, w_shape, c.p);
    const int64_t oH = pr.out_shape[2], oW = pr.out_shape[3];
    const std::vector<int64_t> off_shape{c.N, 2 * G * taps, oH, oW};
    const std::vector<int64_t> mask_shape{c.N, G * taps, oH, oW};

    if (pr.exact) {
        // See Tolerance::exact: products have denominators <= 2^12 and the sums
        // stay far below 2^11, so any float evaluation order is exact.
        pr.input = dcn_test::dyadic_tensor(in_shape, rng, -2.0f, 2.0f, 8);
        pr.weight = dcn_test::dyadic_tensor(w_shape, rng, -1.0f, 1.0f, 8);
        pr.offset = dcn_test::dyadic_tensor(off_shape, rng, -3.0f, 3.0f, 4);
        pr.mask = dcn_test::dyadic_tensor(mask_shape, rng, 0.0f, 1.0f, 4);
        pr.bias = dcn_test::dyadic_tensor({c.K}, rng, -1.0f, 1.0f, 8);
    } else {
        pr.input = dcn_test::random_tensor(in_shape, rng, -1.0f, 1.0f);
        pr.weight = dcn_test::random_tensor(w_shape, rng, -1.0f, 1.0f);
        pr.offset = dcn_test::random_tensor(off_shape, rng, -c.offset_scale, c.offset_scale);
        pr.mask = dcn_test::random_tensor(mask_shape, rng, 0.0f, 1.0f);
        for (float &m : pr.mask.data)  // some exact zeros
            if (dcn_test::uniform_int(rng, 0, 9) == 0) m = 0.0f;
        pr.bias = dcn_test::random_tensor({c.K}, rng, -1.0f, 1.0f);
    }

    const int64_t plane = oH * oW;
    auto off_at = [&](int64_t n, int64_t ch, int64_t oy, int64_t ox) -> float & {
        return pr.offset.data[static_cast<size_t>(((n * 2 * G * taps + ch) * oH + oy) * oW + ox)];
    };
    switch (c.offsets) {
    case Offsets::zero:
        std::fill(pr.offset.data.begin(), pr.offset.data.end(), 0.0f);
        break;
    case Offsets::random:
    case Offsets::dyadic:
        break;
    case Offsets::large: {
        const float r = static_cast<float>(2 * std::max(c.H, c.W) + 4);
        dcn_test::fill_uniform(pr.offset.data, rng, -r, r);
        break;
    }
    case Offsets::border:
        for (int64_t n = 0; n < c.N; ++n)
            for (int64_t g = 0; g < G; ++g)
                for (int64_t i = 0; i < c.kH; ++i)
                    for (int64_t j = 0; j < c.kW; ++j)
                        for (int64_t oy = 0; oy < oH; ++oy)
                            for (int64_t ox = 0; ox < oW; ++ox) {
                                const int64_t k = i * c.kW + j;
                                const double by = static_cast<double>(
                                    oy * c.p.stride_h - c.p.pad_top + i * c.p.dilation_h);
                                const double bx = static_cast<double>(
                                    ox * c.p.stride_w - c.p.pad_left + j * c.p.dilation_w);
                                const double ty = border_coordinate(rng, c.H);
                                const double tx = border_coordinate(rng, c.W);
                                const float dy = static_cast<float>(ty - by);
                                const float dx = static_cast<float>(tx - bx);
                                // The targets must be hit exactly.
                                EXPECT_EQ(static_cast<double>(dy), ty - by);
                                EXPECT_EQ(static_cast<double>(dx), tx - bx);
                                off_at(n, g * 2 * taps + 2 * k, oy, ox) = dy;
                                off_at(n, g * 2 * taps + 2 * k + 1, oy, ox) = dx;
                            }
        break;
    case Offsets::nonfinite: {
        const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(),
                             1e30f,
                             -1e30f,
                             3e38f,
                             -3e38f,
                             -std::numeric_limits<float>::quiet_NaN()};
        for (float &v : pr.offset.data)
            if (dcn_test::uniform_int(rng, 0, 3) == 0) v = bad[dcn_test::uniform_int(rng, 0, 7)];
        break;
    }
    }
    (void)plane;
    return pr;
}

inline dcn::DeformConv2dOptions options_of(const DeformConv2dParams &p, bool explicit_groups = true) {
    dcn::DeformConv2dOptions o;
    o.stride = {p.stride_h, p.stride_w};
    o.padding = {p.pad_top, p.pad_left, p.pad_bottom, p.pad_right};
    o.dilation = {p.dilation_h, p.dilation_w};
    o.groups = explicit_groups ? p.groups : 0;
    o.offset_groups = explicit_groups ? p.offset_groups : 0;
    return o;
}

inline std::vector<Case> all_cases() {
    using O = Offsets;
    return {
        Case("basic_3x3").in(1, 4, 8, 9).wt(5, 3, 3).pad(1).with_mask().with_bias(),
        // mask / bias: all four combinations on one shape
        Case("no_mask_no_bias").in(1, 6, 7, 10).wt(4, 3, 3).pad(1),
        Case("mask_only").in(1, 6, 7, 10).wt(4, 3, 3).pad(1).with_mask(),
        Case("bias_only").in(1, 6, 7, 10).wt(4, 3, 3).pad(1).with_bias(),
        Case("mask_and_bias").in(1, 6, 7, 10).wt(4, 3, 3).pad(1).with_mask().with_bias(),
        // samples exactly on and just past the borders
        Case("border").in(1, 3, 6, 5).wt(4, 3, 3).pad(1).offs(O::border).with_mask().with_bias(),
        Case("border_no_mask_batch2").in(2, 4, 5, 7).wt(3, 3, 3).offs(O::border),
        Case("border_stride2_dilation2").in(1, 4, 9, 11).wt(5, 3, 3).stride(2).dil(2).pad(2)
            .offs(O::border).with_mask(),
        Case("border_H1").in(1, 3, 1, 8).wt(4, 3, 3).pad(1).offs(O::border).with_bias(),
        Case("border_W1_groups").in(1, 4, 6, 1).wt(4, 3, 3).pad(1).groups(2).og(2)
            .offs(O::border).with_mask(),
        Case("border_2x2_input").in(1, 2, 2, 2).wt(3, 3, 3).pad(1).offs(O::border),
        // large offsets: most samples outside
        Case("large_offsets").in(1, 5, 8, 8).wt(6, 3, 3).pad(1).offs(O::large).with_mask()
            .with_bias(),
        Case("large_offsets_groups").in(2, 8, 6, 9).wt(6, 3, 3).groups(2).og(4).offs(O::large),
        Case("medium_offsets").in(1, 4, 9, 10).wt(5, 3, 3).pad(1).offs(O::random, 6.0f)
            .with_mask(),
        // H or W = 1
        Case("H1").in(1, 4, 1, 12).wt(5, 3, 3).pad(1).with_mask().with_bias(),
        Case("W1").in(1, 4, 12, 1).wt(5, 3, 3).pad(1).with_mask(),
        Case("H1_W1").in(2, 3, 1, 1).wt(4, 3, 3).pad(1).with_bias(),
        Case("H1_W1_k1x1").in(1, 3, 1, 1).wt(2, 1, 1).with_mask(),
        Case("H1_k1x3").in(1, 4, 1, 10).wt(3, 1, 3),
        // 1x1 and non-square kernels
        Case("k1x1").in(1, 8, 6, 7).wt(5, 1, 1).with_mask().with_bias(),
        Case("k1x1_stride2").in(1, 6, 9, 10).wt(7, 1, 1).stride(2),
        Case("k1x3").in(1, 4, 6, 9).wt(5, 1, 3).pad(0, 1).with_bias(),
        Case("k3x1").in(1, 4, 9, 6).wt(5, 3, 1).pad(1, 0).with_mask(),
        Case("k2x5").in(1, 3, 7, 11).wt(4, 2, 5).pads(1, 2, 0, 2).with_mask().with_bias(),
        Case("k5x5").in(1, 2, 9, 10).wt(3, 5, 5).pad(2),
        Case("k2x2").in(1, 3, 6, 6).wt(4, 2, 2).with_mask(),
        // stride / dilation
        Case("stride2").in(1, 4, 11, 13).wt(5, 3, 3).stride(2).pad(1).with_mask(),
        Case("dilation2").in(1, 4, 10, 12).wt(5, 3, 3).dil(2).pad(2).with_bias(),
        Case("stride2_dilation2").in(1, 4, 13, 14).wt(6, 3, 3).stride(2).dil(2).pad(2)
            .with_mask().with_bias(),
        Case("stride2x1_dilation1x2").in(1, 4, 10, 11).wt(5, 3, 3).stride(2, 1).dil(1, 2)
            .pads(1, 2, 0, 1),
        Case("stride1x3_dilation3x1").in(1, 3, 12, 13).wt(4, 3, 2).stride(1, 3).dil(3, 1)
            .with_mask(),
        Case("stride3").in(1, 3, 11, 14).wt(4, 3, 3).stride(3).pad(1),
        // asymmetric padding (top, left, bottom, right all different)
        Case("asym_padding").in(1, 4, 8, 9).wt(5, 3, 3).pads(2, 0, 1, 3).with_mask().with_bias(),
        Case("asym_padding_stride2").in(1, 3, 9, 8).wt(4, 3, 2).stride(2).pads(0, 3, 2, 1)
            .with_mask(),
        Case("asym_padding_large").in(1, 2, 5, 6).wt(3, 3, 3).pads(4, 1, 3, 5).with_bias(),
        // groups and offset groups
        Case("groups2").in(1, 8, 7, 8).wt(6, 3, 3).groups(2).pad(1).with_mask().with_bias(),
        Case("groups4").in(1, 8, 6, 7).wt(12, 3, 3).groups(4).pad(1),
        Case("depthwise").in(1, 6, 7, 9).wt(6, 3, 3).groups(6).pad(1).with_mask(),
        Case("depthwise_multiplier2").in(1, 5, 6, 8).wt(10, 3, 3).groups(5).og(5).pad(1)
            .with_bias(),
        Case("offset_groups2").in(1, 8, 7, 8).wt(5, 3, 3).og(2).pad(1).with_mask(),
        Case("offset_groups4").in(1, 8, 6, 9).wt(4, 3, 3).og(4).pad(1).with_bias(),
        Case("offset_groups_eq_C").in(1, 6, 6, 6).wt(4, 3, 3).og(6).pad(1).with_mask(),
        Case("groups3_offset_groups2").in(1, 12, 7, 9).wt(9, 3, 3).groups(3).og(2).pad(1)
            .with_mask().with_bias(),
        Case("groups2_offset_groups3").in(2, 6, 8, 7).wt(4, 3, 3).groups(2).og(3).pad(1)
            .with_mask(),
        Case("groups4_offset_groups6").in(1, 12, 6, 6).wt(8, 3, 3).groups(4).og(6).pad(1),
        // batch > 1
        Case("batch3").in(3, 4, 7, 8).wt(5, 3, 3).pad(1).with_mask().with_bias(),
        // prime channel counts, K not a multiple of 8 / 16 / 32
        Case("prime_C7_K5").in(1, 7, 9, 11).wt(5, 3, 3).pad(1).with_mask().with_bias(),
        Case("prime_C13_K11").in(2, 13, 7, 7).wt(11, 3, 3).pad(1).with_mask(),
        Case("prime_C5_K13").in(1, 5, 8, 10).wt(13, 3, 3).pad(1).with_bias(),
        Case("K1").in(1, 4, 6, 8).wt(1, 3, 3).pad(1).with_mask().with_bias(),
        Case("C1_K1").in(1, 1, 5, 6).wt(1, 3, 3).pad(1),
        Case("K17").in(1, 3, 6, 9).wt(17, 3, 3).pad(1),
        Case("K33_groups3").in(1, 6, 5, 7).wt(33, 3, 3).groups(3).pad(1).with_mask(),
        // output widths < 16 and not multiples of 8 (and a few just above)
        Case("oW1").in(1, 4, 5, 3).wt(4, 3, 3),
        Case("oW3").in(1, 4, 5, 5).wt(4, 3, 3).with_mask(),
        Case("oW7").in(1, 4, 6, 7).wt(4, 3, 3).pad(1).with_bias(),
        Case("oW9").in(1, 4, 5, 9).wt(6, 3, 3).pad(1),
        Case("oW15").in(1, 3, 4, 15).wt(5, 3, 3).pad(1).with_mask(),
        Case("oW17").in(1, 3, 4, 17).wt(5, 3, 3).pad(1).with_bias(),
        Case("oW33").in(1, 2, 3, 33).wt(3, 3, 3).pad(1).with_mask(),
        // zero offsets with a mask (the mask still applies)
        Case("zero_offsets_mask").in(1, 4, 7, 8).wt(5, 3, 3).pad(1).offs(O::zero).with_mask(),
        // non-finite / huge offsets (in dy and dx separately), masks with zeros
        Case("nonfinite_offsets").in(1, 4, 7, 8).wt(5, 3, 3).pad(1).offs(O::nonfinite)
            .with_bias(),
        Case("nonfinite_offsets_mask_og2").in(1, 6, 6, 9).wt(4, 3, 3).og(2).pad(1)
            .offs(O::nonfinite).with_mask(),
        // dyadic data and offsets: exact
        Case("dyadic_exact").in(1, 6, 7, 9).wt(5, 3, 3).pad(1).offs(O::dyadic).with_mask()
            .with_bias(),
        Case("dyadic_exact_groups_stride2").in(2, 8, 9, 10).wt(6, 3, 3).groups(2).og(4)
            .stride(2).pads(1, 0, 2, 1).offs(O::dyadic).with_mask(),
        Case("dyadic_exact_no_mask").in(1, 3, 6, 13).wt(7, 2, 3).dil(2, 1).offs(O::dyadic)
            .with_bias(),
        // several column tiles per image (tiles cross rows; the last one is
        // short and not a whole register tile), K not a multiple of the
        // accumulator block, C not a multiple of the reduction unroll
        Case("tiles_across_rows").in(2, 19, 11, 13).wt(37, 3, 3).pad(1).with_mask().with_bias(),
        Case("tiles_groups_offset_groups").in(2, 12, 10, 11).wt(18, 3, 3).groups(3).og(2).pad(1)
            .with_mask(),
        // a moderately large problem
        Case("moderate_2x32x17x23_to_48").in(2, 32, 17, 23).wt(48, 3, 3).pad(1).og(2)
            .with_mask().with_bias(),
    };
}

}  // namespace dcn_conv_cases
