// dcn::deform_psroi_pool and dcn::deform_roi_pool against the independent
// double-precision references (tests/reference), written from
// docs/operators.md.
//
//  * PsroiPoolReference.* / RoiPoolReference.*: the references themselves on
//    hand-computed cases (C's round half away from zero, MSRA's float part
//    index, x-first trans / offset, RoIAlign's border rule, ...).
//  * PsroiPoolCases/* and RoiPoolCases/*: one parameterised test per (case,
//    CPU path). Every compiled CPU path is forced with dcn::set_max_cpu_isa
//    and checked with dcn::last_cpu_isa; paths this CPU cannot run are
//    skipped. Outputs (and counts) are poisoned with NaN before every run.
//  * PsroiPool.* / RoiPool.*: non-finite trans / offsets bin by bin, R = 0,
//    thread counts, strided views, the sample-count helpers.
//  * RoiValidation.*: argument errors (dcn::Error naming the argument, with
//    expected vs actual in what()).
//
// Float vs double. The kernels compute sample positions in float32, the
// references in double, and both operators have discontinuities in the
// position (a psroi sample is skipped past -0.5 / W-0.5, a RoIAlign sample
// is 0 past -1 / W, the adaptive grid is a ceil()). Test data must not put a
// sample on such a knife edge unless float computes that position exactly.
// scan_psroi() / scan_roi() classify every sample: either all its
// intermediate values are short dyadic numbers (then float is exact in any
// evaluation order and samples may sit exactly on a border: that is how the
// border families hit them), or it must be clearly away from every
// discontinuity. Random RoIs / trans / offsets are redrawn until that
// holds; a designed case that breaks it is a test bug and fails.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "reference/deform_psroi_pool_ref.h"
#include "reference/deform_roi_pool_ref.h"
#include "cpu_paths.h"
#include "test_support.h"

namespace {

using dcn::CpuIsa;
using dcn_ref::Tensor;
using dcn_test::numel;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- CPU paths (tests/cpu_paths.h) ------------------------------------------

using dcn_test::isa_label;
using dcn_test::usable_isas;
using dcn_test::why_unusable;
using RoiFixture = dcn_test::DcnTest;

uint32_t seed_of(const std::string &s) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char ch : s) h = (h ^ ch) * 16777619u;
    return h;
}

double udouble(std::mt19937 &rng, double lo, double hi) {
    return lo + (hi - lo) * (static_cast<double>(rng() >> 8) / 16777216.0);
}

// Storage for a tensor of `shape` that is never empty (an empty tensor still
// gets a valid, non-null pointer), NaN-poisoned.
std::vector<float> poisoned(const std::vector<int64_t> &shape) {
    std::vector<float> v(static_cast<size_t>(std::max<int64_t>(numel(shape), 1)));
    dcn_test::poison(v);
    return v;
}

const float *ptr_or_dummy(const std::vector<float> &v) {
    static const float dummy[4] = {0, 0, 0, 0};
    return v.empty() ? dummy : v.data();
}

// ---- knife edges ---------------------------------------------------------------

// A short dyadic number (a multiple of 2^-10 below 2^10 in magnitude): sums
// of a few of them, and their products with small integers, are exact in
// float32, whatever the evaluation order.
bool dyadic_ok(double v) {
    if (!std::isfinite(v) || std::fabs(v) >= 1024.0) return false;
    const double s = v * 1024.0;
    return s == std::floor(s);
}

bool all_dyadic(std::initializer_list<double> vs) {
    for (double v : vs)
        if (!dyadic_ok(v)) return false;
    return true;
}

double max_abs(std::initializer_list<double> vs) {
    double m = 0.0;
    for (double v : vs)
        if (std::isfinite(v)) m = std::max(m, std::fabs(v));
    return m;
}

// One coordinate of a sample: its value, the largest |intermediate| that
// produces it, and whether float computes it exactly in any order (every
// term that is not exactly 0, and every factor of such a term, is a short
// dyadic number).
struct Coord {
    double v = 0.0;
    double mag = 0.0;
    bool exact = true;
};

struct SampleScan {
    int64_t knife_edges = 0;  // samples float could put on the other side of a discontinuity
    int64_t on_border = 0;    // coordinates exactly on a discontinuity (exact in float)
    int64_t inside = 0, outside = 0;  // samples taken / skipped (or zero)
    double coord_max = 0.0;   // largest |intermediate| of a sample inside

    void merge(const SampleScan &o) {
        knife_edges += o.knife_edges;
        on_border += o.on_border;
        inside += o.inside;
        outside += o.outside;
        coord_max = std::max(coord_max, o.coord_max);
    }
};

// Margin from a discontinuity that float rounding of the position cannot
// cross: a few float ulps of the intermediates, times 80 for headroom.
double knife_margin(double mag) { return 1e-5 * (1.0 + mag); }

// A sample at (x, y), inside when lo <= coordinate <= hi on both axes.
void classify(SampleScan &s, const Coord &x, double xlo, double xhi, const Coord &y, double ylo,
              double yhi) {
    if (!std::isfinite(x.v) || !std::isfinite(y.v)) {  // outside by definition, float or double
        ++s.outside;
        return;
    }
    const std::pair<const Coord *, std::array<double, 2>> axes[] = {{&x, {xlo, xhi}}, {&y, {ylo, yhi}}};
    for (const auto &a : axes) {
        for (double b : a.second) {
            if (a.first->exact) {
                if (a.first->v == b) ++s.on_border;
            } else if (std::fabs(a.first->v - b) <= knife_margin(a.first->mag)) {
                ++s.knife_edges;
            }
        }
    }
    if (x.v >= xlo && x.v <= xhi && y.v >= ylo && y.v <= yhi) {
        ++s.inside;
        s.coord_max = std::max({s.coord_max, x.mag, y.mag});
    } else {
        ++s.outside;
    }
}

// Every sample of RoI `roi` (5 floats) for deform_psroi_pool; trans_r is the
// RoI's (2*num_classes, part, part) slice or null.
SampleScan scan_psroi(const float *roi, const float *trans_r, int64_t num_classes,
                      const dcn_ref::PsroiPoolParams &p, int64_t H, int64_t W) {
    SampleScan s;
    const int64_t P = p.pooled_size, S = p.sample_per_part;
    const int64_t part = p.part_size > 0 ? p.part_size : P;
    const double scale = p.spatial_scale;
    const double sw = std::round(double(roi[1])) * scale - 0.5, sh = std::round(double(roi[2])) * scale - 0.5;
    const double ew = (std::round(double(roi[3])) + 1) * scale - 0.5;
    const double eh = (std::round(double(roi[4])) + 1) * scale - 0.5;
    const double rw = std::max(ew - sw, 0.1), rh = std::max(eh - sh, 0.1);
    const double bw = rw / double(P), bh = rh / double(P), subw = bw / double(S), subh = bh / double(S);
    for (int64_t cls = 0; cls < (trans_r ? num_classes : 1); ++cls)
        for (int64_t ph = 0; ph < P; ++ph)
            for (int64_t pw = 0; pw < P; ++pw) {
                double tx = 0, ty = 0;
                if (trans_r) {
                    const int qh = dcn_ref::psroi_part_index(int(ph), int(P), int(part));
                    const int qw = dcn_ref::psroi_part_index(int(pw), int(P), int(part));
                    tx = double(trans_r[((2 * cls) * part + qh) * part + qw]) * p.trans_std;
                    ty = double(trans_r[((2 * cls + 1) * part + qh) * part + qw]) * p.trans_std;
                }
                // One axis: start + p*bin + i*sub + t*roi (t = trans * trans_std).
                auto axis = [&](double start, double end, double extent, double bin, double sub, double t,
                                int64_t pb, int64_t i) {
                    const double base = double(pb) * bin + start + t * extent;
                    Coord c;
                    c.v = base + double(i) * sub;
                    c.mag = max_abs(
                        {start, end, extent, bin, sub, t * extent, double(pb) * bin, double(i) * sub, base, c.v});
                    const bool bins_exact = (pb == 0 && i == 0) ||
                                            all_dyadic({bin, sub, double(pb) * bin, double(i) * sub});
                    const bool trans_exact = t == 0.0 || all_dyadic({t, extent, t * extent});
                    c.exact = bins_exact && trans_exact &&
                              all_dyadic({start, base, c.v, start + t * extent, double(pb) * bin + start});
                    return c;
                };
                for (int64_t ih = 0; ih < S; ++ih)
                    for (int64_t iw = 0; iw < S; ++iw) {
                        const Coord x = axis(sw, ew, rw, bw, subw, tx, pw, iw);
                        const Coord y = axis(sh, eh, rh, bh, subh, ty, ph, ih);
                        classify(s, x, -0.5, double(W) - 0.5, y, -0.5, double(H) - 0.5);
                    }
            }
    return s;
}

// The adaptive grid ceil(extent / bins) may flip in float when the quotient
// is within rounding of an integer (and not computed exactly).
bool grid_knife_edge(double extent, double start_part, double end_part, int bins) {
    const double q = extent / double(bins);
    if (!std::isfinite(q)) return false;
    const bool exact = dyadic_ok(q) && dyadic_ok(extent) && dyadic_ok(start_part) && dyadic_ok(end_part);
    return !exact && std::fabs(q - std::round(q)) <= knife_margin(std::fabs(start_part) + std::fabs(end_part));
}

// Every sample of RoI `roi` for deform_roi_pool; off_r is the RoI's
// (2, PH, PW) offset slice or null.
SampleScan scan_roi(const float *roi, const float *off_r, const dcn_ref::RoiPoolParams &p, int64_t H,
                    int64_t W) {
    SampleScan s;
    const int64_t PH = p.pooled_h, PW = p.pooled_w;
    const double scale = p.spatial_scale;
    const double x1 = double(roi[1]) * scale, y1 = double(roi[2]) * scale;
    const double x2 = double(roi[3]) * scale, y2 = double(roi[4]) * scale;
    const double sw0 = x1 - 0.5, sh0 = y1 - 0.5, ew = x2 - 0.5, eh = y2 - 0.5;
    const double rw = ew - sw0, rh = eh - sh0;
    const double bw = rw / double(PW), bh = rh / double(PH);
    int64_t gh = p.sampling_ratio, gw = p.sampling_ratio;
    if (p.sampling_ratio == 0) {
        if (grid_knife_edge(rh, sh0, eh, p.pooled_h) || grid_knife_edge(rw, sw0, ew, p.pooled_w))
            ++s.knife_edges;
        gh = std::max<int64_t>(int64_t(std::ceil(rh / double(PH))), 0);
        gw = std::max<int64_t>(int64_t(std::ceil(rw / double(PW))), 0);
    }
    for (int64_t ph = 0; ph < PH; ++ph)
        for (int64_t pw = 0; pw < PW; ++pw) {
            // One axis: (start0 + gamma * roi * off) + p*bin + (i + 0.5) * bin / grid.
            auto axis = [&](double f1, double start0, double end, double extent, double bin, double off,
                            int64_t pb, int64_t i, int64_t grid) {
                const double o = p.gamma * extent * off;
                const double start = start0 + o;
                const double f = (double(i) + 0.5) * bin / double(grid);
                Coord c;
                c.v = start + double(pb) * bin + f;
                c.mag = max_abs({f1, start0, end, extent, bin, o, start, double(pb) * bin, f, c.v});
                const bool off_exact =
                    off == 0.0 || all_dyadic({o, p.gamma * extent, p.gamma * off, extent * off});
                c.exact = off_exact && all_dyadic({f1, start0, end, extent, bin, bin / double(grid), f,
                                                   double(pb) * bin, start, start + double(pb) * bin,
                                                   start0 + double(pb) * bin, c.v});
                return c;
            };
            const double offx = off_r ? double(off_r[ph * PW + pw]) : 0.0;
            const double offy = off_r ? double(off_r[PH * PW + ph * PW + pw]) : 0.0;
            for (int64_t iy = 0; iy < gh; ++iy)
                for (int64_t ix = 0; ix < gw; ++ix) {
                    const Coord x = axis(x1, sw0, ew, rw, bw, offx, pw, ix, gw);
                    const Coord y = axis(y1, sh0, eh, rh, bh, offy, ph, iy, gh);
                    classify(s, x, -1.0, double(W), y, -1.0, double(H));
                }
        }
    return s;
}

// The per-element tolerance: test_support.h's bound plus the effect of
// float32 sample positions. Each position is a handful of float operations
// on intermediates no larger than coord_max, so it is off by at most ~5
// half-ulps (5 * 2^-24 * coord_max) per axis; a bilinear value moves by at
// most that times the largest difference of neighbouring data (2 * data_max)
// per axis: 20 * 2^-24 * coord_max * data_max. The relative L2 limit stays
// at 1e-5.
dcn_test::Tolerance position_tolerance(double coord_max, double data_max) {
    dcn_test::Tolerance t;
    t.abs_floor = 1e-6 + 20.0 * std::ldexp(1.0, -24) * coord_max * data_max;
    return t;
}

::testing::AssertionResult counts_match(const float *actual, const std::vector<double> &ref,
                                        const std::vector<int64_t> &shape) {
    int64_t bad = 0, first = -1;
    for (size_t i = 0; i < ref.size(); ++i)
        if (!(static_cast<double>(actual[i]) == ref[i]) && bad++ == 0) first = static_cast<int64_t>(i);
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << bad << " count(s) differ; first at " << dcn_test::index_str(shape, first) << ": got "
           << actual[first] << ", expected " << ref[static_cast<size_t>(first)];
}

// =============================================================================
// The references on hand-computed cases
// =============================================================================

// value(n, c, y, x) = x + 10 y + 100 c + 1000 n: bilinear interpolation of a
// linear function is exact, so expected values are easy to compute by hand.
Tensor linear_input(int64_t N, int64_t C, int64_t H, int64_t W) {
    Tensor t{{N, C, H, W}, {}};
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t y = 0; y < H; ++y)
                for (int64_t x = 0; x < W; ++x) t.data.push_back(float(x + 10 * y + 100 * c + 1000 * n));
    return t;
}

dcn_ref::PsroiPoolParams ps_params(int D, int G, int P, int S, double trans_std = 0.0, int part = 0) {
    dcn_ref::PsroiPoolParams p;
    p.output_dim = D;
    p.group_size = G;
    p.pooled_size = P;
    p.sample_per_part = S;
    p.trans_std = trans_std;
    p.part_size = part;
    return p;
}

TEST(PsroiPoolReference, WholeRoiTwoByTwoSamples) {
    // start -0.5, end 3.5, roi 4, one bin, sub-bin 2: samples at -0.5 and 1.5
    // on both axes (-0.5 is not skipped), clamped to 0: mean x 0.75, y 0.75.
    const auto r = dcn_ref::deform_psroi_pool(linear_input(1, 1, 4, 4), Tensor{{1, 5}, {0, 0, 0, 3, 3}},
                                              nullptr, ps_params(1, 1, 1, 2));
    EXPECT_DOUBLE_EQ(r.output[0], 0.75 + 7.5);
    EXPECT_EQ(r.count[0], 4.0);
}

TEST(PsroiPoolReference, RoundHalfAwayFromZero) {
    const Tensor in = linear_input(1, 1, 1, 12);
    // x1 = 2.5 -> 3 (half to even would give 2): start 2.5, value 2.5.
    auto r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 2.5f, 0, 2.5f, 0}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.output[0], 2.5);
    EXPECT_EQ(r.count[0], 1.0);
    // x1 = -0.5 -> -1 (half to even: 0, sample at -0.5, kept): start -1.5, skipped.
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, -0.5f, 0, 3, 0}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.count[0], 0.0);
    EXPECT_EQ(r.output[0], 0.0);
    // x1 = 0.5 -> 1: start 0.5 (half to even would give -0.5 -> value 0).
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0.5f, 0, 3, 0}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.output[0], 0.5);
    // x1 = -2.5 -> -3, x2 = 5: start -3.5, roi 9, samples at -3.5 (skipped)
    // and 1.0 (half to even: -2 -> start -2.5, roi 8, sample 1.5).
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, -2.5f, 0, 5, 0}}, nullptr, ps_params(1, 1, 1, 2));
    EXPECT_EQ(r.output[0], 1.0);  // y samples -0.5 and 0 both clamp to row 0
    EXPECT_EQ(r.count[0], 2.0);
    // x2 = 3.5 -> 4 (even: 4 too) and x2 = 4.5 -> 5 (even: 4): end 5.5, roi 6.
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0, 0, 4.5f, 0}}, nullptr, ps_params(1, 1, 1, 2));
    EXPECT_EQ(r.output[0], (0.0 + 2.5) / 2);
}

TEST(PsroiPoolReference, PartIndexIsComputedInFloat) {
    // floor(float(13) / 22 * 22) = floor(12.999999) = 12 in float32; 13 exactly.
    EXPECT_EQ(dcn_ref::psroi_part_index(13, 22, 22), 12);
    EXPECT_EQ(dcn_ref::psroi_part_index(7, 23, 23), 6);
    EXPECT_EQ(dcn_ref::psroi_part_index(6, 7, 7), 6);
    EXPECT_EQ(dcn_ref::psroi_part_index(3, 7, 3), 1);
    EXPECT_EQ(dcn_ref::psroi_part_index(0, 7, 3), 0);
    EXPECT_EQ(dcn_ref::psroi_part_index(2, 3, 5), 3);
}

TEST(PsroiPoolReference, TransIsXFirstAndScaledByRoi) {
    const Tensor in = linear_input(1, 1, 2, 8);
    const Tensor rois{{1, 5}, {0, 0, 0, 3, 0}};  // start -0.5, roi_w 4, roi_h 1
    Tensor tr{{1, 2, 1, 1}, {0.25f, 0.0f}};
    // w = -0.5 + 0.25 * 4 = 0.5, h = -0.5 -> clamped 0.
    auto r = dcn_ref::deform_psroi_pool(in, rois, &tr, ps_params(1, 1, 1, 1, 1.0));
    EXPECT_EQ(r.output[0], 0.5);
    // y: h = -0.5 + 0.5 * 1 * 2 = 0.5 with trans_std 2 (x: -0.5 + 0.5 * 4 * 2 = 3.5).
    tr.data = {0.5f, 0.5f};
    r = dcn_ref::deform_psroi_pool(in, rois, &tr, ps_params(1, 1, 1, 1, 2.0));
    EXPECT_EQ(r.output[0], 3.5 + 5.0);
}

TEST(PsroiPoolReference, ClassAwareTrans) {
    // output_dim 2, 2 classes (1 channel each): channel 1 uses trans channels 2, 3.
    const Tensor in = linear_input(1, 2, 1, 8);
    const Tensor tr{{1, 4, 1, 1}, {0.0f, 0.0f, 0.5f, 0.0f}};
    const auto r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0, 0, 3, 0}}, &tr, ps_params(2, 1, 1, 1, 0.5));
    EXPECT_EQ(r.output[0], 0.0);
    EXPECT_EQ(r.output[1], 100 + 0.5);
}

TEST(PsroiPoolReference, PositionSensitiveChannels) {
    // group 2, pooled 2: bin (ph, pw) reads channel ph*2 + pw.
    const auto r = dcn_ref::deform_psroi_pool(linear_input(1, 4, 6, 6), Tensor{{1, 5}, {0, 0, 0, 5, 5}}, nullptr,
                                              ps_params(1, 2, 2, 2));
    // roi 6, bin 3, sub 1.5: samples {-0.5, 1} -> {0, 1} or {2.5, 4}.
    EXPECT_EQ(r.output[0], 0.5 + 5.0);
    EXPECT_EQ(r.output[1], 100 + 3.25 + 5.0);
    EXPECT_EQ(r.output[2], 200 + 0.5 + 32.5);
    EXPECT_EQ(r.output[3], 300 + 3.25 + 32.5);
}

TEST(PsroiPoolReference, BorderSamplesAndNonFiniteTrans) {
    const Tensor in = linear_input(1, 1, 3, 4);
    // x1 = x2 = 4 (= W): start 3.5 = W - 0.5 (kept, clamped to 3); roi_w 1 ->
    // with 2 samples the second is at 4.0 (skipped).
    auto r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 4, 0, 4, 0}}, nullptr, ps_params(1, 1, 1, 2));
    EXPECT_EQ(r.count[0], 2.0);  // 1 x-sample kept times 2 y-samples (-0.5, 0)
    EXPECT_EQ(r.output[0], 3.0);
    // Degenerate (x2 < x1): roi 0.1.
    r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 3, 1, 1, 1}}, nullptr, ps_params(1, 1, 1, 1));
    EXPECT_EQ(r.output[0], 2.5 + 5.0);
    // NaN / Inf trans: skipped (also Inf * trans_std 0 = NaN).
    for (float bad : {kNaN, kInf, -kInf}) {
        const Tensor tr{{1, 2, 1, 1}, {bad, 0.0f}};
        for (double std : {0.1, 0.0}) {
            r = dcn_ref::deform_psroi_pool(in, Tensor{{1, 5}, {0, 0, 0, 3, 2}}, &tr, ps_params(1, 1, 1, 2, std));
            EXPECT_EQ(r.count[0], 0.0) << bad << " " << std;
            EXPECT_EQ(r.output[0], 0.0);
        }
    }
}

dcn_ref::RoiPoolParams roi_params(int ph, int pw, int sr, double gamma = 0.1, double scale = 1.0) {
    dcn_ref::RoiPoolParams p;
    p.pooled_h = ph;
    p.pooled_w = pw;
    p.sampling_ratio = sr;
    p.gamma = gamma;
    p.spatial_scale = scale;
    return p;
}

TEST(RoiPoolReference, AdaptiveGridCentredSamples) {
    // start 0, end 2: adaptive grid 2, samples at 0.5 and 1.5.
    const auto o = dcn_ref::deform_roi_pool(linear_input(1, 1, 4, 4), Tensor{{1, 5}, {0, 0.5f, 0.5f, 2.5f, 2.5f}},
                                            nullptr, nullptr, roi_params(1, 1, 0));
    EXPECT_EQ(o[0], 1.0 + 10.0);
}

TEST(RoiPoolReference, BorderRule) {
    const Tensor in = linear_input(1, 1, 4, 4);
    // One sample per bin at y = 4.0 (= H: the last row, replicated) and 4.25 (0).
    auto o = dcn_ref::deform_roi_pool(in, Tensor{{2, 5}, {0, 1, 4, 2, 5, 0, 1, 4.25f, 2, 5.25f}}, nullptr, nullptr,
                                      roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 1.0 + 30.0);
    EXPECT_EQ(o[1], 0.0);
    // y = -1.0 exactly (clamped to row 0) and -1.25 (0).
    o = dcn_ref::deform_roi_pool(in, Tensor{{2, 5}, {0, 1, -1, 2, 0, 0, 1, -1.25f, 2, -0.25f}}, nullptr, nullptr,
                                 roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 1.0);
    EXPECT_EQ(o[1], 0.0);
    // x in (W-1, W]: the last column replicated.
    o = dcn_ref::deform_roi_pool(in, Tensor{{1, 5}, {0, 3.75f, 1, 4.25f, 2}}, nullptr, nullptr, roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 3.0 + 10.0);
}

TEST(RoiPoolReference, OffsetXFirstAndMask) {
    const Tensor in = linear_input(1, 1, 4, 4);
    const Tensor rois{{1, 5}, {0, 0.5f, 0.5f, 2.5f, 2.5f}};  // start 0, roi 2
    const Tensor off{{1, 2, 1, 1}, {0.25f, 0.0f}};           // x += 1 * 2 * 0.25
    const Tensor mask{{1, 1, 1, 1}, {0.5f}};
    auto o = dcn_ref::deform_roi_pool(in, rois, &off, nullptr, roi_params(1, 1, 2, 1.0));
    EXPECT_EQ(o[0], 1.5 + 10.0);
    o = dcn_ref::deform_roi_pool(in, rois, &off, &mask, roi_params(1, 1, 2, 1.0));
    EXPECT_EQ(o[0], (1.5 + 10.0) * 0.5);
    // The adaptive grid is taken before the offset: a large offset keeps it.
    const Tensor off2{{1, 2, 1, 1}, {0.0f, -0.25f}};  // y -= 0.5: samples at 0 and 1 (0 clamps)
    o = dcn_ref::deform_roi_pool(in, rois, &off2, nullptr, roi_params(1, 1, 0, 1.0));
    EXPECT_EQ(o[0], 1.0 + 5.0);
}

TEST(RoiPoolReference, DegenerateRois) {
    const Tensor in = linear_input(1, 1, 4, 4);
    const Tensor rois{{2, 5}, {0, 2, 2, 1, 3, 0, 2, 2, 2, 2}};  // x2 < x1; zero size
    // Adaptive: no samples, 0.
    auto o = dcn_ref::deform_roi_pool(in, rois, nullptr, nullptr, roi_params(1, 1, 0));
    EXPECT_EQ(o[0], 0.0);
    EXPECT_EQ(o[1], 0.0);
    // sampling_ratio 1: x = 1.5 - 0.5 = 1.0, y = 1.5 + 0.5 = 2.0; zero size: (1.5, 1.5).
    o = dcn_ref::deform_roi_pool(in, rois, nullptr, nullptr, roi_params(1, 1, 1));
    EXPECT_EQ(o[0], 1.0 + 20.0);
    EXPECT_EQ(o[1], 1.5 + 15.0);
}

TEST(RoiPoolReference, NonFiniteOffsetContributesZero) {
    const Tensor in = linear_input(1, 1, 4, 4);
    for (float bad : {kNaN, kInf, -kInf, 1e30f}) {
        const Tensor off{{1, 2, 1, 1}, {0.0f, bad}};
        const auto o = dcn_ref::deform_roi_pool(in, Tensor{{1, 5}, {0, 0.5f, 0.5f, 2.5f, 2.5f}}, &off, nullptr,
                                                roi_params(1, 1, 2));
        EXPECT_EQ(o[0], 0.0) << bad;
    }
}

// =============================================================================
// deform_psroi_pool against the reference
// =============================================================================

enum class RoiSet {
    random,  // random boxes, mostly inside the image, some partly outside
    edges,   // designed: degenerate, zero-size, tiny, borders, outside, half-integers
    dyadic,  // random boxes on a 1/4 (psroi: integer) grid: exact in float, borders hit exactly
};

enum class Deform {
    none,       // no trans / offset
    random,     // uniform in [-1, 1)
    dyadic,     // multiples of 1/8 in [-1, 1] (exact in float with a dyadic trans_std / gamma)
    large,      // uniform in [-4, 4): most samples outside
    nonfinite,  // random with NaN / +-Inf / +-1e30 / 3e38 mixed in
};

struct PsCase {
    std::string name;
    int64_t N = 1, H = 8, W = 9, R = 6;
    int D = 2, G = 1, P = 3, part = 0, S = 2, classes = 1;
    float scale = 1.0f, trans_std = 0.1f;
    RoiSet rois = RoiSet::random;
    Deform trans = Deform::none;

    explicit PsCase(std::string n) : name(std::move(n)) {}
    PsCase &map(int64_t n, int64_t h, int64_t w) { N = n, H = h, W = w; return *this; }
    PsCase &dims(int d, int g, int p) { D = d, G = g, P = p; return *this; }
    PsCase &spp(int s) { S = s; return *this; }
    PsCase &part_size(int q) { part = q; return *this; }
    PsCase &num_rois(int64_t r) { R = r; return *this; }
    PsCase &spatial_scale(float s) { scale = s; return *this; }
    PsCase &with_trans(Deform t, int num_classes = 1, float std = 0.1f) {
        trans = t, classes = num_classes, trans_std = std;
        return *this;
    }
    PsCase &roi_set(RoiSet r) { rois = r; return *this; }
};

void PrintTo(const PsCase &c, std::ostream *os) {
    *os << c.name << ": map [" << c.N << ", " << c.D * c.G * c.G << ", " << c.H << ", " << c.W << "], R " << c.R
        << ", output_dim " << c.D << ", group " << c.G << ", pooled " << c.P << ", part " << c.part << ", spp "
        << c.S << ", scale " << c.scale << (c.trans != Deform::none ? ", trans" : "") << ", classes " << c.classes;
}

struct PsProblem {
    Tensor input, rois, trans;
    bool has_trans = false;
    dcn_ref::PsroiPoolParams p;
    dcn::DeformPsroiPoolOptions opt;
    std::vector<int64_t> out_shape;
    SampleScan scan;
    double data_max = 1.0;

    dcn_ref::PsroiPoolResult reference() const {
        return dcn_ref::deform_psroi_pool(input, rois, has_trans ? &trans : nullptr, p);
    }
    dcn_test::Tolerance tolerance() const { return position_tolerance(scan.coord_max, data_max); }
};

dcn::DeformPsroiPoolOptions ps_options(const PsCase &c) {
    dcn::DeformPsroiPoolOptions o;
    o.spatial_scale = c.scale;
    o.output_dim = c.D;
    o.group_size = c.G;
    o.pooled_size = c.P;
    o.part_size = c.part;
    o.sample_per_part = c.S;
    o.trans_std = c.trans_std;
    return o;
}

void fill_deform(float *v, int64_t n, Deform kind, std::mt19937 &rng) {
    static const float bad[] = {kNaN, kInf, -kInf, 1e30f, -1e30f, 3e38f, -kNaN};
    for (int64_t i = 0; i < n; ++i) {
        switch (kind) {
        case Deform::none: v[i] = 0.0f; break;
        case Deform::random: v[i] = dcn_test::uniform(rng, -1.0f, 1.0f); break;
        case Deform::dyadic: v[i] = float(dcn_test::uniform_int(rng, -8, 8)) / 8.0f; break;
        case Deform::large: v[i] = dcn_test::uniform(rng, -4.0f, 4.0f); break;
        case Deform::nonfinite:
            v[i] = dcn_test::uniform_int(rng, 0, 2) == 0 ? bad[dcn_test::uniform_int(rng, 0, 6)]
                                                         : dcn_test::uniform(rng, -1.0f, 1.0f);
            break;
        }
    }
}

// The designed RoIs, in feature-map units (multiplied by 1/scale into image
// coordinates by the caller): (x1, y1, x2, y2).
std::vector<std::array<double, 4>> edge_boxes(double H, double W) {
    return {
        {0, 0, W - 1, H - 1},                    // the whole map
        {0, 0, 0, 0},                            // zero-size at the origin (roi 1 pixel)
        {W - 1, H - 1, W - 1, H - 1},            // the last pixel
        {W, H, W, H},                            // starts exactly at W - 0.5, H - 0.5
        {5, 4, 2, 1},                            // x2 < x1, y2 < y1: roi 0.1
        {3, 2, 3, 2},                            // zero-size inside
        {2, 1, 2.25, 1.25},                      // tiny
        {-0.4 * W, -0.3 * H, 0.5 * W, 0.4 * H},  // partly outside, top left
        {0.6 * W, 0.5 * H, 1.5 * W, 1.3 * H},    // partly outside, bottom right
        {W + 2, 1, W + 5, 3},                    // wholly outside, right
        {-7, -6, -3, -2},                        // wholly outside, top left
        {1, H + 3, 2, H + 6},                    // wholly outside, below
        {-W, -H, 2 * W, 2 * H},                  // beyond every side
        {-1, -1, W, H},                          // one pixel beyond every side
        {0, 0, W - 1, 0},                        // a single row
        {1, 0, 1, H - 1},                        // a single column
    };
}

// Half-integer coordinates, in image units (round() half away from zero).
std::vector<std::array<float, 4>> half_integer_boxes() {
    return {{2.5f, 1.5f, 6.5f, 4.5f}, {-2.5f, -0.5f, 3.5f, 2.5f}, {0.5f, -1.5f, 4.5f, 0.5f},
            {-0.5f, 0.5f, 1.5f, 5.5f}};
}

PsProblem make_ps_problem(const PsCase &c) {
    std::mt19937 rng(seed_of(c.name));
    PsProblem pr;
    pr.opt = ps_options(c);
    pr.p.spatial_scale = c.scale;
    pr.p.output_dim = c.D;
    pr.p.group_size = c.G;
    pr.p.pooled_size = c.P;
    pr.p.part_size = c.part;
    pr.p.sample_per_part = c.S;
    pr.p.trans_std = static_cast<double>(c.trans_std);  // the float the library sees
    const int64_t C = int64_t(c.D) * c.G * c.G, part = c.part > 0 ? c.part : c.P;
    pr.input = dcn_test::random_tensor({c.N, C, c.H, c.W}, rng, -1.0f, 1.0f);
    pr.has_trans = c.trans != Deform::none;

    // The RoIs: designed ones first (edges), then random ones up to R.
    std::vector<std::array<float, 4>> fixed;
    const double inv = 1.0 / c.scale;
    if (c.rois == RoiSet::edges) {
        for (const auto &b : edge_boxes(double(c.H), double(c.W)))
            fixed.push_back({float(b[0] * inv), float(b[1] * inv), float(b[2] * inv), float(b[3] * inv)});
        for (const auto &b : half_integer_boxes()) fixed.push_back(b);
    }
    const int64_t R = c.rois == RoiSet::edges ? int64_t(fixed.size()) : c.R;
    pr.rois = dcn_test::zeros({R, 5});
    const int64_t tslice = 2 * c.classes * part * part;
    if (pr.has_trans) pr.trans = dcn_test::zeros({R, 2 * c.classes, part, part});
    const double Wi = double(c.W) * inv, Hi = double(c.H) * inv;

    for (int64_t r = 0; r < R; ++r) {
        float *roi = pr.rois.data.data() + r * 5;
        float *tr = pr.has_trans ? pr.trans.data.data() + r * tslice : nullptr;
        const bool redraw_roi = c.rois != RoiSet::edges;
        const bool redraw_trans = pr.has_trans;
        SampleScan s;
        for (int attempt = 0;; ++attempt) {
            roi[0] = float(c.N > 1 ? (c.rois == RoiSet::edges ? r % c.N : dcn_test::uniform_int(rng, 0, c.N - 1)) : 0);
            if (c.rois == RoiSet::edges) {
                for (int k = 0; k < 4; ++k) roi[k + 1] = fixed[size_t(r)][size_t(k)];
            } else {
                const double x1 = udouble(rng, -0.25, 0.95) * Wi, y1 = udouble(rng, -0.25, 0.95) * Hi;
                const double x2 = x1 + udouble(rng, 0.02, 0.8) * Wi, y2 = y1 + udouble(rng, 0.02, 0.8) * Hi;
                const double q = c.rois == RoiSet::dyadic ? 1.0 : 0.0;  // psroi rounds to integers anyway
                auto snap = [&](double v) { return q > 0 ? float(std::round(v)) : float(v); };
                roi[1] = snap(x1), roi[2] = snap(y1), roi[3] = snap(x2), roi[4] = snap(y2);
            }
            if (tr) fill_deform(tr, tslice, c.trans, rng);
            s = scan_psroi(roi, tr, c.classes, pr.p, c.H, c.W);
            if (s.knife_edges == 0) break;
            if ((!redraw_roi && !redraw_trans) || attempt > 500) {
                ADD_FAILURE() << c.name << ": RoI " << r << " (" << roi[1] << ", " << roi[2] << ", " << roi[3]
                              << ", " << roi[4] << ") puts " << s.knife_edges
                              << " sample(s) on a float/double knife edge: a test-data bug";
                break;
            }
        }
        pr.scan.merge(s);
    }
    pr.out_shape = {R, c.D, c.P, c.P};
    return pr;
}

struct PsOutput {
    std::vector<float> out, count;
};

// Runs the library on NaN-poisoned output (and count) buffers.
PsOutput run_psroi(const PsProblem &pr, bool with_count = true) {
    PsOutput o;
    o.out = poisoned(pr.out_shape);
    o.count = poisoned(pr.out_shape);
    std::optional<dcn::TensorView> trans, count;
    if (pr.has_trans) trans = dcn::TensorView(ptr_or_dummy(pr.trans.data), pr.trans.shape);
    if (with_count) count = dcn::TensorView(o.count.data(), pr.out_shape);
    dcn::deform_psroi_pool(dcn::TensorView(pr.input.data.data(), pr.input.shape),
                           dcn::TensorView(ptr_or_dummy(pr.rois.data), pr.rois.shape), trans,
                           dcn::TensorView(o.out.data(), pr.out_shape), count, pr.opt);
    return o;
}

std::vector<PsCase> ps_cases() {
    using D = Deform;
    return {
        // the paper's plain deformable RoI pooling: group 1, output_dim = C
        PsCase("plain_no_trans").map(1, 9, 11).dims(5, 1, 3).spp(2),
        PsCase("plain_trans_P7_spp4_scale_half").map(1, 8, 10).dims(4, 1, 7).spp(4).spatial_scale(0.5f)
            .with_trans(D::random),
        PsCase("plain_trans_spp1").map(1, 7, 9).dims(3, 1, 4).spp(1).with_trans(D::random, 1, 0.2f),
        // position-sensitive
        PsCase("ps_g3_no_trans_scale_quarter").map(1, 10, 12).dims(4, 3, 3).spp(2).spatial_scale(0.25f),
        PsCase("ps_g3_P6_part3").map(1, 9, 8).dims(2, 3, 6).part_size(3).spp(2).with_trans(D::random),
        PsCase("ps_g7_P7_scale_1_16").map(1, 12, 14).dims(3, 7, 7).spp(4).spatial_scale(0.0625f)
            .with_trans(D::random),
        PsCase("ps_g7_P7_no_trans_spp1").map(1, 11, 9).dims(2, 7, 7).spp(1).spatial_scale(0.0625f),
        PsCase("ps_g2_P5").map(1, 8, 8).dims(3, 2, 5).spp(2).with_trans(D::random),  // gw = floor(pw*2/5)
        // class-aware trans
        PsCase("classes2_g2").map(1, 9, 10).dims(4, 2, 4).part_size(2).spp(2).with_trans(D::random, 2),
        PsCase("classes3").map(1, 8, 9).dims(6, 1, 5).spp(2).with_trans(D::random, 3),
        PsCase("classes3_g3_P7_part4").map(1, 10, 11).dims(3, 3, 7).part_size(4).spp(2)
            .with_trans(D::random, 3, 0.15f),
        // part size vs pooled size (0 = pooled)
        PsCase("part3_P7").map(1, 9, 9).dims(2, 1, 7).part_size(3).spp(2).with_trans(D::random),
        PsCase("part7_P7_explicit").map(1, 9, 9).dims(2, 1, 7).part_size(7).spp(2).with_trans(D::random),
        PsCase("part5_gt_P3").map(1, 8, 9).dims(2, 1, 3).part_size(5).spp(2).with_trans(D::random),
        // pooled 22, part 0 (= 22): MSRA's float part index differs from exact math
        PsCase("P22_float_part_index").map(1, 8, 8).dims(1, 1, 22).spp(1).num_rois(3).with_trans(D::random),
        PsCase("P23_part23").map(1, 6, 7).dims(1, 1, 23).part_size(23).spp(1).num_rois(2)
            .with_trans(D::random, 1, 0.3f),
        // designed RoIs, batch 2 (batch index r % 2), with and without trans
        PsCase("edges_no_trans").map(2, 7, 8).dims(2, 1, 4).spp(2).roi_set(RoiSet::edges),
        PsCase("edges_trans_g3_P3").map(2, 7, 8).dims(2, 3, 3).spp(4).roi_set(RoiSet::edges)
            .with_trans(D::random),
        PsCase("edges_scale_1_16").map(2, 6, 9).dims(2, 2, 4).spp(2).spatial_scale(0.0625f)
            .roi_set(RoiSet::edges).with_trans(D::random, 2),
        PsCase("edges_scale_half_P7").map(1, 6, 7).dims(1, 1, 7).spp(4).spatial_scale(0.5f)
            .roi_set(RoiSet::edges).with_trans(D::random),
        // exact positions: samples exactly on -0.5 / W-0.5 and just past
        PsCase("dyadic_borders").map(2, 3, 4).dims(2, 2, 4).spp(2).num_rois(24).spatial_scale(0.5f)
            .roi_set(RoiSet::dyadic).with_trans(D::dyadic, 1, 0.5f),
        PsCase("dyadic_borders_no_trans").map(1, 4, 3).dims(1, 1, 2).spp(4).num_rois(16)
            .roi_set(RoiSet::dyadic),
        // batch index 1 of N = 2, R = 1
        PsCase("batch2").map(2, 8, 9).dims(3, 2, 3).spp(2).num_rois(8).with_trans(D::random),
        PsCase("R1").map(1, 9, 7).dims(2, 3, 3).spp(4).num_rois(1).with_trans(D::random),
        // H or W = 1
        PsCase("H1").map(1, 1, 9).dims(2, 1, 3).spp(2).with_trans(D::random),
        PsCase("W1").map(1, 9, 1).dims(2, 2, 2).spp(2).with_trans(D::random),
        PsCase("H1_W1").map(2, 1, 1).dims(2, 1, 2).spp(2).roi_set(RoiSet::edges).with_trans(D::random),
        // large and non-finite trans
        PsCase("large_trans").map(1, 8, 9).dims(2, 2, 4).spp(2).num_rois(8).with_trans(D::large, 1, 1.0f),
        PsCase("nonfinite_trans").map(1, 8, 9).dims(2, 2, 3).spp(2).num_rois(8).with_trans(D::nonfinite, 2),
        PsCase("nonfinite_trans_std0").map(1, 7, 8).dims(2, 1, 3).spp(2).with_trans(D::nonfinite, 1, 0.0f),
        // a moderately large one
        PsCase("moderate_rfcn_like").map(1, 19, 31).dims(5, 7, 7).spp(4).num_rois(12).spatial_scale(0.0625f)
            .with_trans(D::random, 1, 0.1f),
    };
}

class PsroiPoolCases : public RoiFixture, public ::testing::WithParamInterface<std::tuple<PsCase, CpuIsa>> {};

TEST_P(PsroiPoolCases, MatchesReference) {
    const PsCase &c = std::get<0>(GetParam());
    const CpuIsa isa = std::get<1>(GetParam());
    const std::string why = why_unusable(isa);
    if (!why.empty()) GTEST_SKIP() << why;

    const PsProblem pr = make_ps_problem(c);
    const dcn_ref::PsroiPoolResult ref = pr.reference();
    dcn::set_max_cpu_isa(isa);
    const PsOutput o = run_psroi(pr);
    EXPECT_EQ(dcn::last_cpu_isa(), isa) << "ran " << dcn::cpu_isa_name(dcn::last_cpu_isa());
    EXPECT_TRUE(dcn_test::matches_reference(o.out.data(), ref.output, pr.out_shape, int64_t(c.S) * c.S,
                                            pr.tolerance()));
    EXPECT_TRUE(counts_match(o.count.data(), ref.count, pr.out_shape));
    // The count output is optional and does not change the result.
    const PsOutput no_count = run_psroi(pr, false);
    EXPECT_TRUE(dcn_test::bitwise_equal(std::vector<float>(o.out.begin(), o.out.begin() + numel(pr.out_shape)),
                                        std::vector<float>(no_count.out.begin(),
                                                           no_count.out.begin() + numel(pr.out_shape)),
                                        pr.out_shape));
    if (c.trans == Deform::nonfinite || c.trans == Deform::large) {
        EXPECT_TRUE(std::all_of(o.out.begin(), o.out.begin() + numel(pr.out_shape),
                                [](float v) { return std::isfinite(v); }));
        EXPECT_GT(pr.scan.outside, 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Edge, PsroiPoolCases,
                         ::testing::Combine(::testing::ValuesIn(ps_cases()), ::testing::ValuesIn(dcn_test::all_cpu_paths())),
                         [](const ::testing::TestParamInfo<std::tuple<PsCase, CpuIsa>> &info) {
                             return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param));
                         });

// float64: every case on every CPU path, against the same reference to
// 1e-12 (the cases' float32 values are exact in float64).
template <typename T>
T *f64_ptr(std::vector<T> &v) {
    static T dummy = 0;
    return v.empty() ? &dummy : v.data();
}

PsOutput run_psroi_f64(const PsProblem &pr, std::vector<double> &out, dcn::Device device = dcn::Device::cpu) {
    std::vector<double> x = dcn_test::to_f64(pr.input.data), rois = dcn_test::to_f64(pr.rois.data),
                        tr = dcn_test::to_f64(pr.trans.data), cnt(static_cast<size_t>(numel(pr.out_shape)), std::nan(""));
    out.assign(static_cast<size_t>(numel(pr.out_shape)), std::nan(""));
    std::optional<dcn::TensorView> trans;
    if (pr.has_trans) trans = dcn::TensorView(f64_ptr(tr), pr.trans.shape);
    dcn::DeformPsroiPoolOptions opt = pr.opt;
    opt.device = device;
    dcn::deform_psroi_pool(dcn::TensorView(f64_ptr(x), pr.input.shape), dcn::TensorView(f64_ptr(rois), pr.rois.shape),
                           trans, dcn::TensorView(f64_ptr(out), pr.out_shape), dcn::TensorView(f64_ptr(cnt), pr.out_shape),
                           opt);
    PsOutput o;
    o.count.assign(cnt.begin(), cnt.end());  // small integers: exact in float
    return o;
}

class PsroiPoolFloat64Cases : public RoiFixture,
                              public ::testing::WithParamInterface<std::tuple<PsCase, CpuIsa>> {};

TEST_P(PsroiPoolFloat64Cases, MatchesReferenceTo1e12) {
    const PsCase &c = std::get<0>(GetParam());
    const CpuIsa isa = std::get<1>(GetParam());
    const std::string why = why_unusable(isa);
    if (!why.empty()) GTEST_SKIP() << why;
    const PsProblem pr = make_ps_problem(c);
    const dcn_ref::PsroiPoolResult ref = pr.reference();
    dcn::set_max_cpu_isa(isa);
    std::vector<double> out;
    const PsOutput o = run_psroi_f64(pr, out);
    EXPECT_EQ(dcn::last_cpu_isa(), isa);
    EXPECT_TRUE(dcn_test::matches_reference(out.data(), ref.output, pr.out_shape, int64_t(c.S) * c.S,
                                            dcn_test::Tolerance::float64()));
    EXPECT_TRUE(counts_match(o.count.data(), ref.count, pr.out_shape));
}

INSTANTIATE_TEST_SUITE_P(Float64, PsroiPoolFloat64Cases,
                         ::testing::Combine(::testing::ValuesIn(ps_cases()), ::testing::ValuesIn(dcn_test::all_cpu_paths())),
                         [](const ::testing::TestParamInfo<std::tuple<PsCase, CpuIsa>> &info) {
                             return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param));
                         });

TEST_F(RoiFixture, PsroiPoolFloat64GpuScheduleOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "opencl not usable here: " << why;
    for (const PsCase &c : ps_cases()) {
        SCOPED_TRACE(c.name);
        const PsProblem pr = make_ps_problem(c);
        std::vector<double> out;
        run_psroi_f64(pr, out, dcn::Device::opencl);
        EXPECT_TRUE(dcn_test::matches_reference(out.data(), pr.reference().output, pr.out_shape, int64_t(c.S) * c.S,
                                                dcn_test::Tolerance::float64()));
    }
}

// The designed families really hit what they are meant to.
TEST(PsroiPoolCoverage, FamiliesHitTheirEdges) {
    for (const PsCase &c : ps_cases()) {
        SCOPED_TRACE(c.name);
        const PsProblem pr = make_ps_problem(c);
        EXPECT_EQ(pr.scan.knife_edges, 0);
        if (c.rois == RoiSet::dyadic || (c.rois == RoiSet::edges && c.trans == Deform::none)) {
            EXPECT_GT(pr.scan.on_border, 0);
        }
        if (c.rois == RoiSet::edges || c.trans == Deform::large) {
            EXPECT_GT(pr.scan.outside, 0);
        }
        EXPECT_GT(pr.scan.inside, 0);
        const auto ref = pr.reference();
        if (c.rois == RoiSet::edges) {  // some bins empty, some not
            EXPECT_TRUE(std::count(ref.count.begin(), ref.count.end(), 0.0) > 0);
            EXPECT_TRUE(std::count(ref.count.begin(), ref.count.end(), double(c.S) * c.S) > 0);
        }
    }
    // P = 22 with trans really reads a different part cell than exact math would.
    EXPECT_NE(dcn_ref::psroi_part_index(13, 22, 22), 13 * 22 / 22);
}

// NaN / Inf / 1e30 in one bin's trans: that bin (for the class using it) is
// 0 with count 0; every other bin is as usual.
TEST_F(RoiFixture, PsroiPoolNonFiniteTransZeroesItsBins) {
    const float bad_values[] = {kNaN, kInf, -kInf, 1e30f, -1e30f};
    for (float bad : bad_values) {
        for (int component = 0; component < 2; ++component) {
            SCOPED_TRACE(std::to_string(bad) + (component ? " in y" : " in x"));
            PsCase c = PsCase("nonfinite_one_bin").map(1, 8, 9).dims(4, 1, 3).spp(2).num_rois(3)
                           .with_trans(Deform::random, 2);
            PsProblem pr = make_ps_problem(c);
            // RoI 1, class 1 (channels 2, 3), part cell (1, 2) = bin (1, 2) (part = pooled).
            const int64_t part = 3;
            pr.trans.data[size_t((((1 * 4) + 2 + component) * part + 1) * part + 2)] = bad;
            const auto ref = pr.reference();
            for (CpuIsa isa : usable_isas()) {
                SCOPED_TRACE(isa_label(isa));
                dcn::set_max_cpu_isa(isa);
                const PsOutput o = run_psroi(pr);
                for (int64_t ctop = 2; ctop < 4; ++ctop) {
                    const size_t i = size_t(((1 * 4 + ctop) * 3 + 1) * 3 + 2);
                    EXPECT_EQ(o.out[i], 0.0f) << "channel " << ctop;
                    EXPECT_EQ(o.count[i], 0.0f) << "channel " << ctop;
                    EXPECT_EQ(ref.count[i], 0.0);
                }
                EXPECT_TRUE(dcn_test::matches_reference(o.out.data(), ref.output, pr.out_shape, 4, pr.tolerance()));
                EXPECT_TRUE(counts_match(o.count.data(), ref.count, pr.out_shape));
            }
        }
    }
}

// Every trans NaN (or Inf): every bin 0 with count 0.
TEST_F(RoiFixture, PsroiPoolAllTransNonFinite) {
    for (float fill : {kNaN, kInf, -kInf}) {
        PsProblem pr = make_ps_problem(PsCase("all_nonfinite").map(1, 6, 7).dims(2, 2, 3).spp(2)
                                           .with_trans(Deform::random));
        std::fill(pr.trans.data.begin(), pr.trans.data.end(), fill);
        for (CpuIsa isa : usable_isas()) {
            SCOPED_TRACE(std::string(isa_label(isa)) + " fill " + std::to_string(fill));
            dcn::set_max_cpu_isa(isa);
            const PsOutput o = run_psroi(pr);
            const int64_t n = numel(pr.out_shape);
            EXPECT_EQ(std::count(o.out.begin(), o.out.begin() + n, 0.0f), n);
            EXPECT_EQ(std::count(o.count.begin(), o.count.begin() + n, 0.0f), n);
        }
    }
}

TEST_F(RoiFixture, PsroiPoolZeroRois) {
    for (bool with_trans : {false, true}) {
        SCOPED_TRACE(with_trans ? "trans" : "no trans");
        PsCase c = PsCase("zero_rois").map(2, 5, 6).dims(2, 2, 3).spp(2).num_rois(0);
        if (with_trans) c.with_trans(Deform::random);
        const PsProblem pr = make_ps_problem(c);
        EXPECT_EQ(pr.out_shape, (std::vector<int64_t>{0, 2, 3, 3}));
        EXPECT_EQ(dcn::deform_psroi_pool_output_shape(pr.input.shape, pr.rois.shape, pr.opt), pr.out_shape);
        for (CpuIsa isa : usable_isas()) {
            dcn::set_max_cpu_isa(isa);
            EXPECT_NO_THROW(run_psroi(pr));
        }
    }
}

TEST_F(RoiFixture, PsroiPoolThreadCountsGiveIdenticalResults) {
    const PsProblem pr = make_ps_problem(PsCase("threads").map(2, 13, 15).dims(3, 3, 7).spp(4).num_rois(20)
                                             .spatial_scale(0.5f).with_trans(Deform::random, 3));
    const auto ref = pr.reference();
    const int64_t n = numel(pr.out_shape);
    for (CpuIsa isa : usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        dcn::set_max_cpu_isa(isa);
        dcn::set_num_threads(1);
        const PsOutput one = run_psroi(pr);
        dcn::set_num_threads(2);
        const PsOutput two = run_psroi(pr);
        dcn::set_num_threads(0);
        const PsOutput again = run_psroi(pr);
        EXPECT_TRUE(dcn_test::matches_reference(one.out.data(), ref.output, pr.out_shape, 16, pr.tolerance()));
        EXPECT_TRUE(counts_match(two.count.data(), ref.count, pr.out_shape));
        const std::vector<float> a(one.out.begin(), one.out.begin() + n), b(two.out.begin(), two.out.begin() + n),
            d(again.out.begin(), again.out.begin() + n);
        EXPECT_TRUE(dcn_test::bitwise_equal(a, b, pr.out_shape));
        EXPECT_TRUE(dcn_test::bitwise_equal(a, d, pr.out_shape));
    }
}

// ---- strided views -----------------------------------------------------------------

// A copy of `data` (C-contiguous in `shape`) inside a larger buffer of shape
// shape + extra filled with `fill`, so the view has non-trivial strides.
struct Strided {
    std::vector<float> buffer;
    std::vector<int64_t> shape, strides;
    dcn::TensorView view() { return dcn::TensorView(buffer.data(), shape, strides); }
    int64_t offset_of(int64_t flat) const {
        int64_t off = 0;
        for (size_t d = shape.size(); d-- > 0;) {
            off += (flat % shape[d]) * strides[d];
            flat /= shape[d];
        }
        return off;
    }
    std::vector<float> gather() const {
        std::vector<float> r(size_t(numel(shape)));
        for (int64_t i = 0; i < numel(shape); ++i) r[size_t(i)] = buffer[size_t(offset_of(i))];
        return r;
    }
};

Strided embed(const std::vector<int64_t> &shape, const std::vector<int64_t> &extra, const std::vector<float> *data,
              float fill) {
    Strided s;
    s.shape = shape;
    std::vector<int64_t> big(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) big[d] = shape[d] + extra[d];
    s.strides.assign(shape.size(), 1);
    for (size_t d = shape.size() - 1; d-- > 0;) s.strides[d] = s.strides[d + 1] * big[d + 1];
    s.buffer.assign(size_t(numel(big)), fill);
    for (int64_t i = 0; i < numel(shape); ++i)
        s.buffer[size_t(s.offset_of(i))] = data ? (*data)[size_t(i)] : kNaN;
    return s;
}

// Elements of the big buffer outside the view still hold `fill`.
::testing::AssertionResult untouched_outside(const Strided &s, float fill) {
    std::vector<char> in_view(s.buffer.size(), 0);
    for (int64_t i = 0; i < numel(s.shape); ++i) in_view[size_t(s.offset_of(i))] = 1;
    for (size_t k = 0; k < s.buffer.size(); ++k)
        if (!in_view[k] && s.buffer[k] != fill)
            return ::testing::AssertionFailure() << "element " << k << " outside the view was written";
    return ::testing::AssertionSuccess();
}

TEST_F(RoiFixture, PsroiPoolStridedViews) {
    const PsProblem pr = make_ps_problem(PsCase("strided").map(2, 7, 9).dims(2, 3, 3).spp(2).num_rois(5)
                                             .with_trans(Deform::random, 2));
    const auto ref = pr.reference();
    const float sentinel = 4321.0f;
    for (CpuIsa isa : usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        dcn::set_max_cpu_isa(isa);
        Strided in = embed(pr.input.shape, {1, 2, 1, 3}, &pr.input.data, 0.0f);
        Strided rois = embed(pr.rois.shape, {2, 3}, &pr.rois.data, 0.0f);
        Strided tr = embed(pr.trans.shape, {0, 1, 2, 1}, &pr.trans.data, 0.0f);
        Strided out = embed(pr.out_shape, {1, 1, 2, 3}, nullptr, sentinel);
        Strided cnt = embed(pr.out_shape, {0, 2, 0, 1}, nullptr, sentinel);
        dcn::deform_psroi_pool(in.view(), rois.view(), tr.view(), out.view(), cnt.view(), pr.opt);
        EXPECT_TRUE(dcn_test::matches_reference(out.gather(), ref.output, pr.out_shape, 4, pr.tolerance()));
        EXPECT_TRUE(counts_match(cnt.gather().data(), ref.count, pr.out_shape));
        EXPECT_TRUE(untouched_outside(out, sentinel));
        EXPECT_TRUE(untouched_outside(cnt, sentinel));
    }
}

TEST(PsroiPoolHelpers, OutputShapeAndSamples) {
    dcn::DeformPsroiPoolOptions o;
    o.output_dim = 21;
    o.group_size = 7;
    o.pooled_size = 7;
    o.sample_per_part = 4;
    o.spatial_scale = 0.0625f;
    const std::vector<int64_t> shape = dcn::deform_psroi_pool_output_shape({1, 1029, 38, 63}, {300, 5}, o);
    EXPECT_EQ(shape, (std::vector<int64_t>{300, 21, 7, 7}));
    EXPECT_EQ(dcn::deform_psroi_pool_samples(shape, o), 300.0 * 21 * 49 * 16);
    o.output_dim = 2;
    o.group_size = 1;
    o.pooled_size = 3;
    o.sample_per_part = 1;
    EXPECT_EQ(dcn::deform_psroi_pool_output_shape({2, 2, 5, 6}, {4, 5}, o), (std::vector<int64_t>{4, 2, 3, 3}));
    EXPECT_EQ(dcn::deform_psroi_pool_samples({4, 2, 3, 3}, o), 4.0 * 2 * 9);
    EXPECT_EQ(dcn::deform_psroi_pool_samples({0, 2, 3, 3}, o), 0.0);
}

// =============================================================================
// deform_roi_pool against the reference
// =============================================================================

struct RoiCase {
    std::string name;
    int64_t N = 1, C = 3, H = 8, W = 9, R = 6;
    int PH = 7, PW = 7, sr = 2;
    float scale = 1.0f, gamma = 0.1f;
    RoiSet rois = RoiSet::random;
    Deform offset = Deform::none;
    bool mask = false;

    explicit RoiCase(std::string n) : name(std::move(n)) {}
    RoiCase &map(int64_t n, int64_t c, int64_t h, int64_t w) { N = n, C = c, H = h, W = w; return *this; }
    RoiCase &out(int ph, int pw) { PH = ph, PW = pw; return *this; }
    RoiCase &ratio(int s) { sr = s; return *this; }
    RoiCase &num_rois(int64_t r) { R = r; return *this; }
    RoiCase &spatial_scale(float s) { scale = s; return *this; }
    RoiCase &with_offset(Deform d, float g = 0.1f) { offset = d, gamma = g; return *this; }
    RoiCase &with_mask() { mask = true; return *this; }
    RoiCase &roi_set(RoiSet r) { rois = r; return *this; }
};

void PrintTo(const RoiCase &c, std::ostream *os) {
    *os << c.name << ": map [" << c.N << ", " << c.C << ", " << c.H << ", " << c.W << "], R " << c.R << ", output "
        << c.PH << "x" << c.PW << ", sampling_ratio " << c.sr << ", scale " << c.scale << ", gamma " << c.gamma
        << (c.offset != Deform::none ? ", offset" : "") << (c.mask ? ", mask" : "");
}

struct RoiProblem {
    Tensor input, rois, offset, mask;
    bool has_offset = false, has_mask = false;
    dcn_ref::RoiPoolParams p;
    dcn::DeformRoiPoolOptions opt;
    std::vector<int64_t> out_shape;
    SampleScan scan;
    int64_t max_grid = 1;  // largest grid_h * grid_w of a RoI

    std::vector<double> reference() const {
        return dcn_ref::deform_roi_pool(input, rois, has_offset ? &offset : nullptr, has_mask ? &mask : nullptr, p);
    }
    dcn_test::Tolerance tolerance() const { return position_tolerance(scan.coord_max, 1.0); }
};

RoiProblem make_roi_problem(const RoiCase &c) {
    std::mt19937 rng(seed_of(c.name));
    RoiProblem pr;
    pr.opt.output_size = {c.PH, c.PW};
    pr.opt.spatial_scale = c.scale;
    pr.opt.sampling_ratio = c.sr;
    pr.opt.gamma = c.gamma;
    pr.p.pooled_h = c.PH;
    pr.p.pooled_w = c.PW;
    pr.p.spatial_scale = c.scale;
    pr.p.sampling_ratio = c.sr;
    pr.p.gamma = static_cast<double>(c.gamma);  // the float the library sees
    pr.input = dcn_test::random_tensor({c.N, c.C, c.H, c.W}, rng, -1.0f, 1.0f);
    pr.has_offset = c.offset != Deform::none;
    pr.has_mask = c.mask;

    std::vector<std::array<float, 4>> fixed;
    const double inv = 1.0 / c.scale;
    if (c.rois == RoiSet::edges) {
        const double H = double(c.H), W = double(c.W);
        const std::vector<std::array<double, 4>> boxes = {
            {0, 0, W, H},                            // the whole map
            {-W, -H, 2 * W, 2 * H},                  // beyond every side
            {-0.4 * W, -0.3 * H, 0.5 * W, 0.4 * H},  // partly outside, top left
            {0.6 * W, 0.5 * H, 1.5 * W, 1.3 * H},    // partly outside, bottom right
            {W + 2, 1, W + 5, 3},                    // wholly outside, right
            {-6, -5, -2, -1.5},                      // wholly outside, top left
            {1, H + 2, 3, H + 4},                    // wholly outside, below
            {5, 4, 2, 1},                            // x2 < x1, y2 < y1
            {3, 2, 3, 2},                            // zero size
            {2.125, 2.375, 2.25, 2.5},               // tiny
            {1, 0, 1.125, H},                        // thin column
            {W - 0.5, H - 0.5, W + 0.5, H + 0.5},    // the last row / column replicated
            {-0.875, -0.875, 0.125, 0.125},          // straddles -1
            {0.25, 0.25, W - 0.25, 0.75},            // a single row band
        };
        for (const auto &b : boxes)
            fixed.push_back({float(b[0] * inv), float(b[1] * inv), float(b[2] * inv), float(b[3] * inv)});
    }
    const int64_t R = c.rois == RoiSet::edges ? int64_t(fixed.size()) : c.R;
    const int64_t plane = int64_t(c.PH) * c.PW;
    pr.rois = dcn_test::zeros({R, 5});
    if (pr.has_offset) pr.offset = dcn_test::zeros({R, 2, c.PH, c.PW});
    if (pr.has_mask) {
        pr.mask = dcn_test::random_tensor({R, 1, c.PH, c.PW}, rng, 0.0f, 1.0f);
        for (float &m : pr.mask.data)
            if (dcn_test::uniform_int(rng, 0, 7) == 0) m = 0.0f;
    }
    const double Wi = double(c.W) * inv, Hi = double(c.H) * inv;
    for (int64_t r = 0; r < R; ++r) {
        float *roi = pr.rois.data.data() + r * 5;
        float *off = pr.has_offset ? pr.offset.data.data() + r * 2 * plane : nullptr;
        SampleScan s;
        for (int attempt = 0;; ++attempt) {
            roi[0] = float(c.N > 1 ? (c.rois == RoiSet::edges ? r % c.N : dcn_test::uniform_int(rng, 0, c.N - 1)) : 0);
            if (c.rois == RoiSet::edges) {
                for (int k = 0; k < 4; ++k) roi[k + 1] = fixed[size_t(r)][size_t(k)];
            } else {
                // Sizes from a sliver to most of the map, so the adaptive grid varies.
                const double x1 = udouble(rng, -0.25, 0.95) * Wi, y1 = udouble(rng, -0.25, 0.95) * Hi;
                const double x2 = x1 + udouble(rng, 0.02, 1.1) * Wi, y2 = y1 + udouble(rng, 0.02, 1.1) * Hi;
                // dyadic: feature coordinates on a 1/8 grid (exact in float).
                auto snap = [&](double v) {
                    return c.rois == RoiSet::dyadic ? float(std::round(v * c.scale * 8.0) / 8.0 * inv) : float(v);
                };
                roi[1] = snap(x1), roi[2] = snap(y1), roi[3] = snap(x2), roi[4] = snap(y2);
            }
            if (off) fill_deform(off, 2 * plane, c.offset, rng);
            s = scan_roi(roi, off, pr.p, c.H, c.W);
            if (s.knife_edges == 0) break;
            if ((c.rois == RoiSet::edges && !off) || attempt > 500) {
                ADD_FAILURE() << c.name << ": RoI " << r << " (" << roi[1] << ", " << roi[2] << ", " << roi[3]
                              << ", " << roi[4] << ") puts " << s.knife_edges
                              << " sample(s) on a float/double knife edge: a test-data bug";
                break;
            }
        }
        pr.scan.merge(s);
        if (c.sr > 0) {
            pr.max_grid = int64_t(c.sr) * c.sr;
        } else {
            const double rw = (double(roi[3]) - double(roi[1])) * c.scale, rh = (double(roi[4]) - double(roi[2])) * c.scale;
            const int64_t gw = std::max<int64_t>(int64_t(std::ceil(rw / c.PW)), 0);
            const int64_t gh = std::max<int64_t>(int64_t(std::ceil(rh / c.PH)), 0);
            pr.max_grid = std::max(pr.max_grid, gw * gh);
        }
    }
    pr.out_shape = {R, c.C, c.PH, c.PW};
    return pr;
}

std::vector<float> run_roi(const RoiProblem &pr) {
    std::vector<float> out = poisoned(pr.out_shape);
    std::optional<dcn::TensorView> offset, mask;
    if (pr.has_offset) offset = dcn::TensorView(ptr_or_dummy(pr.offset.data), pr.offset.shape);
    if (pr.has_mask) mask = dcn::TensorView(ptr_or_dummy(pr.mask.data), pr.mask.shape);
    dcn::deform_roi_pool(dcn::TensorView(pr.input.data.data(), pr.input.shape),
                         dcn::TensorView(ptr_or_dummy(pr.rois.data), pr.rois.shape), offset, mask,
                         dcn::TensorView(out.data(), pr.out_shape), pr.opt);
    return out;
}

std::vector<RoiCase> roi_cases() {
    using D = Deform;
    return {
        RoiCase("basic_sr2").map(1, 5, 10, 12),
        RoiCase("offset_sr2").map(1, 4, 9, 11).with_offset(D::random),
        RoiCase("sr1").map(1, 3, 8, 9).ratio(1).with_offset(D::random),
        RoiCase("sr3").map(1, 3, 8, 10).ratio(3).with_offset(D::random),
        RoiCase("adaptive_no_offset").map(1, 3, 20, 23).ratio(0).num_rois(10),
        RoiCase("adaptive_offset").map(1, 3, 19, 24).ratio(0).num_rois(10).with_offset(D::random),
        RoiCase("adaptive_scale_half").map(1, 2, 12, 14).ratio(0).num_rois(8).spatial_scale(0.5f)
            .with_offset(D::random),
        RoiCase("out7x5").map(1, 3, 9, 8).out(7, 5).with_offset(D::random),
        RoiCase("out3x8_adaptive").map(1, 2, 11, 13).out(3, 8).ratio(0).with_offset(D::random),
        RoiCase("out1x1").map(1, 4, 7, 8).out(1, 1).ratio(0).with_offset(D::random),
        RoiCase("out1x1_sr3").map(1, 4, 7, 8).out(1, 1).ratio(3).with_mask(),
        RoiCase("gamma1").map(1, 3, 8, 9).out(4, 4).with_offset(D::random, 1.0f),
        RoiCase("modulated").map(1, 3, 8, 9).with_offset(D::random).with_mask(),
        RoiCase("modulated_no_offset").map(1, 3, 8, 9).ratio(0).with_mask(),
        RoiCase("scale_1_16").map(1, 3, 10, 13).spatial_scale(0.0625f).ratio(0).with_offset(D::random),
        RoiCase("scale_quarter_sr2").map(1, 3, 9, 10).spatial_scale(0.25f).with_offset(D::random).with_mask(),
        RoiCase("batch2").map(2, 3, 8, 9).num_rois(8).with_offset(D::random),
        RoiCase("R1").map(1, 3, 8, 9).num_rois(1).ratio(0).with_offset(D::random),
        RoiCase("H1").map(1, 3, 1, 9).out(2, 3).with_offset(D::random),
        RoiCase("W1").map(1, 3, 9, 1).out(3, 2).ratio(0).with_offset(D::random),
        RoiCase("H1_W1").map(1, 2, 1, 1).out(2, 2).ratio(1).roi_set(RoiSet::edges),
        RoiCase("edges_sr0").map(2, 3, 7, 8).out(3, 3).ratio(0).roi_set(RoiSet::edges),
        RoiCase("edges_sr2_offset").map(2, 3, 7, 8).out(4, 3).roi_set(RoiSet::edges).with_offset(D::random)
            .with_mask(),
        RoiCase("edges_sr1").map(1, 2, 6, 7).out(2, 2).ratio(1).roi_set(RoiSet::edges),
        RoiCase("edges_scale_1_16_sr0").map(1, 2, 7, 9).out(3, 3).ratio(0).spatial_scale(0.0625f)
            .roi_set(RoiSet::edges).with_offset(D::random),
        RoiCase("dyadic_borders").map(2, 2, 4, 5).out(2, 2).num_rois(24).roi_set(RoiSet::dyadic)
            .with_offset(D::dyadic, 0.5f),
        RoiCase("dyadic_borders_sr1_gamma1").map(1, 2, 3, 4).out(2, 4).ratio(1).num_rois(24)
            .roi_set(RoiSet::dyadic).with_offset(D::dyadic, 1.0f),
        RoiCase("dyadic_borders_no_offset").map(1, 2, 4, 3).out(4, 2).ratio(0).num_rois(16)
            .roi_set(RoiSet::dyadic),
        RoiCase("large_offsets").map(1, 3, 8, 9).num_rois(8).with_offset(D::large, 1.0f),
        RoiCase("nonfinite_offsets").map(1, 3, 8, 9).num_rois(8).with_offset(D::nonfinite).with_mask(),
        RoiCase("nonfinite_offsets_adaptive").map(1, 3, 8, 9).ratio(0).num_rois(6).with_offset(D::nonfinite),
        RoiCase("moderate_frcnn_like").map(1, 16, 25, 42).spatial_scale(0.0625f).num_rois(16)
            .with_offset(D::random),
    };
}

class RoiPoolCases : public RoiFixture, public ::testing::WithParamInterface<std::tuple<RoiCase, CpuIsa>> {};

TEST_P(RoiPoolCases, MatchesReference) {
    const RoiCase &c = std::get<0>(GetParam());
    const CpuIsa isa = std::get<1>(GetParam());
    const std::string why = why_unusable(isa);
    if (!why.empty()) GTEST_SKIP() << why;

    const RoiProblem pr = make_roi_problem(c);
    const std::vector<double> ref = pr.reference();
    dcn::set_max_cpu_isa(isa);
    const std::vector<float> out = run_roi(pr);
    EXPECT_EQ(dcn::last_cpu_isa(), isa) << "ran " << dcn::cpu_isa_name(dcn::last_cpu_isa());
    EXPECT_TRUE(dcn_test::matches_reference(out.data(), ref, pr.out_shape, pr.max_grid, pr.tolerance()));
    if (c.offset == Deform::nonfinite || c.offset == Deform::large) {
        EXPECT_TRUE(std::all_of(out.begin(), out.begin() + numel(pr.out_shape),
                                [](float v) { return std::isfinite(v); }));
        EXPECT_GT(pr.scan.outside, 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Edge, RoiPoolCases,
                         ::testing::Combine(::testing::ValuesIn(roi_cases()), ::testing::ValuesIn(dcn_test::all_cpu_paths())),
                         [](const ::testing::TestParamInfo<std::tuple<RoiCase, CpuIsa>> &info) {
                             return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param));
                         });

std::vector<double> run_roi_f64(const RoiProblem &pr, dcn::Device device = dcn::Device::cpu) {
    std::vector<double> x = dcn_test::to_f64(pr.input.data), rois = dcn_test::to_f64(pr.rois.data),
                        off = dcn_test::to_f64(pr.offset.data), m = dcn_test::to_f64(pr.mask.data),
                        out(static_cast<size_t>(numel(pr.out_shape)), std::nan(""));
    std::optional<dcn::TensorView> offset, mask;
    if (pr.has_offset) offset = dcn::TensorView(f64_ptr(off), pr.offset.shape);
    if (pr.has_mask) mask = dcn::TensorView(f64_ptr(m), pr.mask.shape);
    dcn::DeformRoiPoolOptions opt = pr.opt;
    opt.device = device;
    dcn::deform_roi_pool(dcn::TensorView(f64_ptr(x), pr.input.shape), dcn::TensorView(f64_ptr(rois), pr.rois.shape),
                         offset, mask, dcn::TensorView(f64_ptr(out), pr.out_shape), opt);
    return out;
}

class RoiPoolFloat64Cases : public RoiFixture, public ::testing::WithParamInterface<std::tuple<RoiCase, CpuIsa>> {};

TEST_P(RoiPoolFloat64Cases, MatchesReferenceTo1e12) {
    const RoiCase &c = std::get<0>(GetParam());
    const CpuIsa isa = std::get<1>(GetParam());
    const std::string why = why_unusable(isa);
    if (!why.empty()) GTEST_SKIP() << why;
    const RoiProblem pr = make_roi_problem(c);
    dcn::set_max_cpu_isa(isa);
    const std::vector<double> out = run_roi_f64(pr);
    EXPECT_EQ(dcn::last_cpu_isa(), isa);
    EXPECT_TRUE(dcn_test::matches_reference(out.data(), pr.reference(), pr.out_shape, pr.max_grid,
                                            dcn_test::Tolerance::float64()));
}

INSTANTIATE_TEST_SUITE_P(Float64, RoiPoolFloat64Cases,
                         ::testing::Combine(::testing::ValuesIn(roi_cases()), ::testing::ValuesIn(dcn_test::all_cpu_paths())),
                         [](const ::testing::TestParamInfo<std::tuple<RoiCase, CpuIsa>> &info) {
                             return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param));
                         });

TEST_F(RoiFixture, RoiPoolFloat64GpuScheduleOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "opencl not usable here: " << why;
    for (const RoiCase &c : roi_cases()) {
        SCOPED_TRACE(c.name);
        const RoiProblem pr = make_roi_problem(c);
        EXPECT_TRUE(dcn_test::matches_reference(run_roi_f64(pr, dcn::Device::opencl).data(), pr.reference(),
                                                pr.out_shape, pr.max_grid, dcn_test::Tolerance::float64()));
    }
}

TEST(RoiPoolCoverage, FamiliesHitTheirEdges) {
    for (const RoiCase &c : roi_cases()) {
        SCOPED_TRACE(c.name);
        const RoiProblem pr = make_roi_problem(c);
        EXPECT_EQ(pr.scan.knife_edges, 0);
        if (c.rois == RoiSet::dyadic) {
            EXPECT_GT(pr.scan.on_border, 0);
        }
        if (c.rois == RoiSet::edges || c.offset == Deform::large) {
            EXPECT_GT(pr.scan.outside, 0);
        }
        EXPECT_GT(pr.scan.inside, 0);
    }
    // The adaptive cases really use different grids for different RoIs.
    for (const char *name : {"adaptive_no_offset", "adaptive_offset"}) {
        SCOPED_TRACE(name);
        RoiCase c(name);
        for (const RoiCase &k : roi_cases())
            if (k.name == name) c = k;
        const RoiProblem pr = make_roi_problem(c);
        std::vector<int64_t> grids;
        for (int64_t r = 0; r < pr.rois.shape[0]; ++r) {
            const float *roi = pr.rois.data.data() + r * 5;
            grids.push_back(int64_t(std::ceil((roi[3] - roi[1]) * c.scale / c.PW)) *
                            int64_t(std::ceil((roi[4] - roi[2]) * c.scale / c.PH)));
        }
        std::sort(grids.begin(), grids.end());
        EXPECT_GE(std::unique(grids.begin(), grids.end()) - grids.begin(), 3);
    }
}

// NaN / Inf / 1e30 offset in one bin: that bin is 0 (also with a mask).
TEST_F(RoiFixture, RoiPoolNonFiniteOffsetZeroesItsBin) {
    const float bad_values[] = {kNaN, kInf, -kInf, 1e30f, -1e30f};
    for (float bad : bad_values) {
        for (int component = 0; component < 2; ++component) {
            for (int sr : {0, 2}) {
                SCOPED_TRACE(std::to_string(bad) + (component ? " in y" : " in x") + " sampling_ratio " +
                             std::to_string(sr));
                RoiProblem pr = make_roi_problem(RoiCase("nonfinite_one_bin").map(1, 3, 8, 9).out(3, 4).ratio(sr)
                                                     .num_rois(3).with_offset(Deform::random).with_mask());
                // RoI 2, bin (1, 3).
                pr.offset.data[size_t((2 * 2 + component) * 12 + 1 * 4 + 3)] = bad;
                pr.mask.data[size_t(2 * 12 + 1 * 4 + 3)] = 0.75f;
                const auto ref = pr.reference();
                for (CpuIsa isa : usable_isas()) {
                    SCOPED_TRACE(isa_label(isa));
                    dcn::set_max_cpu_isa(isa);
                    const std::vector<float> out = run_roi(pr);
                    for (int64_t ch = 0; ch < 3; ++ch) {
                        const size_t i = size_t(((2 * 3 + ch) * 3 + 1) * 4 + 3);
                        EXPECT_EQ(out[i], 0.0f) << "channel " << ch;
                        EXPECT_EQ(ref[i], 0.0);
                    }
                    EXPECT_TRUE(dcn_test::matches_reference(out.data(), ref, pr.out_shape, pr.max_grid,
                                                            pr.tolerance()));
                }
            }
        }
    }
}

TEST_F(RoiFixture, RoiPoolZeroRois) {
    for (bool deform : {false, true}) {
        SCOPED_TRACE(deform ? "offset and mask" : "plain");
        RoiCase c = RoiCase("zero_rois").map(2, 3, 5, 6).out(2, 3).num_rois(0);
        if (deform) c.with_offset(Deform::random).with_mask();
        const RoiProblem pr = make_roi_problem(c);
        EXPECT_EQ(pr.out_shape, (std::vector<int64_t>{0, 3, 2, 3}));
        EXPECT_EQ(dcn::deform_roi_pool_output_shape(pr.input.shape, pr.rois.shape, pr.opt), pr.out_shape);
        for (CpuIsa isa : usable_isas()) {
            dcn::set_max_cpu_isa(isa);
            EXPECT_NO_THROW(run_roi(pr));
        }
    }
}

TEST_F(RoiFixture, RoiPoolThreadCountsGiveIdenticalResults) {
    const RoiProblem pr = make_roi_problem(RoiCase("threads").map(2, 8, 15, 17).num_rois(20).ratio(0)
                                               .with_offset(Deform::random).with_mask());
    const auto ref = pr.reference();
    const int64_t n = numel(pr.out_shape);
    for (CpuIsa isa : usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        dcn::set_max_cpu_isa(isa);
        dcn::set_num_threads(1);
        const std::vector<float> one = run_roi(pr);
        dcn::set_num_threads(2);
        const std::vector<float> two = run_roi(pr);
        dcn::set_num_threads(0);
        const std::vector<float> again = run_roi(pr);
        EXPECT_TRUE(dcn_test::matches_reference(one.data(), ref, pr.out_shape, pr.max_grid, pr.tolerance()));
        const std::vector<float> a(one.begin(), one.begin() + n), b(two.begin(), two.begin() + n),
            d(again.begin(), again.begin() + n);
        EXPECT_TRUE(dcn_test::bitwise_equal(a, b, pr.out_shape));
        EXPECT_TRUE(dcn_test::bitwise_equal(a, d, pr.out_shape));
    }
}

TEST_F(RoiFixture, RoiPoolStridedViews) {
    const RoiProblem pr = make_roi_problem(RoiCase("strided").map(2, 3, 7, 9).out(3, 4).num_rois(5)
                                               .with_offset(Deform::random).with_mask());
    const auto ref = pr.reference();
    const float sentinel = 4321.0f;
    for (CpuIsa isa : usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        dcn::set_max_cpu_isa(isa);
        Strided in = embed(pr.input.shape, {1, 2, 1, 3}, &pr.input.data, 0.0f);
        Strided rois = embed(pr.rois.shape, {2, 3}, &pr.rois.data, 0.0f);
        Strided off = embed(pr.offset.shape, {0, 1, 2, 1}, &pr.offset.data, 0.0f);
        Strided mask = embed(pr.mask.shape, {1, 0, 1, 2}, &pr.mask.data, 0.0f);
        Strided out = embed(pr.out_shape, {1, 1, 2, 3}, nullptr, sentinel);
        dcn::deform_roi_pool(in.view(), rois.view(), off.view(), mask.view(), out.view(), pr.opt);
        EXPECT_TRUE(dcn_test::matches_reference(out.gather(), ref, pr.out_shape, pr.max_grid, pr.tolerance()));
        EXPECT_TRUE(untouched_outside(out, sentinel));
    }
}

TEST(RoiPoolHelpers, OutputShapeAndSamples) {
    dcn::DeformRoiPoolOptions o;
    o.output_size = {7, 5};
    o.sampling_ratio = 2;
    EXPECT_EQ(dcn::deform_roi_pool_output_shape({2, 4, 9, 10}, {3, 5}, o), (std::vector<int64_t>{3, 4, 7, 5}));
    std::vector<float> rois = {0, 0, 0, 4, 4, 1, 1, 1, 8, 3, 0, 2, 2, 3, 3};
    const dcn::TensorView rv(rois.data(), {3, 5});
    EXPECT_EQ(dcn::deform_roi_pool_samples(rv, 4, o), 3.0 * 4 * 35 * 4);
    // Adaptive: per RoI ceil(roi_h / PH) * ceil(roi_w / PW), scale 1 (the
    // -0.5 shifts cancel in the extents).
    o.output_size = {7, 7};
    o.sampling_ratio = 0;
    std::vector<float> ar = {0, 0, 0, 14, 7,   // grid 1 x 2 = 2
                             0, 3, 1, 24, 23,  // roi_w 21 -> 3, roi_h 22 -> 4: 12
                             0, 5, 5, 5.5f, 6};  // 1 x 1
    EXPECT_EQ(dcn::deform_roi_pool_samples(dcn::TensorView(ar.data(), {3, 5}), 6, o), 6.0 * 49 * (2 + 12 + 1));
    // scale 1/2: roi_w 28 * 0.5 = 14 -> 2, roi_h 14 * 0.5 = 7 -> 1.
    o.spatial_scale = 0.5f;
    std::vector<float> half = {0, 0, 0, 28, 14};
    EXPECT_EQ(dcn::deform_roi_pool_samples(dcn::TensorView(half.data(), {1, 5}), 3, o), 3.0 * 49 * 2);
    // A zero-height RoI takes no samples.
    o.spatial_scale = 1.0f;
    std::vector<float> flat = {0, 1, 2, 9, 2};
    EXPECT_EQ(dcn::deform_roi_pool_samples(dcn::TensorView(flat.data(), {1, 5}), 3, o), 0.0);
    // No RoIs.
    EXPECT_EQ(dcn::deform_roi_pool_samples(dcn::TensorView(flat.data(), {0, 5}), 3, o), 0.0);
}

// =============================================================================
// GPU devices (when usable here: OpenCL on PoCL in CI), host-memory tensors
// =============================================================================

TEST(RoiDevices, UsableGpuDevicesMatchReference) {
    int ran = 0;
    for (dcn::Device d : {dcn::Device::opencl, dcn::Device::cuda}) {
        std::string why;
        if (!dcn::device_usable(d, &why)) continue;
        SCOPED_TRACE(dcn::device_name(d));
        ++ran;
        for (const PsCase &c : ps_cases()) {
            if (c.name != "ps_g7_P7_scale_1_16" && c.name != "edges_trans_g3_P3" && c.name != "nonfinite_trans" &&
                c.name != "dyadic_borders" && c.name != "P22_float_part_index")
                continue;
            SCOPED_TRACE(c.name);
            PsProblem pr = make_ps_problem(c);
            pr.opt.device = d;
            const auto ref = pr.reference();
            PsOutput o;
            try {
                o = run_psroi(pr);
            } catch (const dcn::Error &e) {
                ADD_FAILURE() << e.what();
                continue;
            }
            EXPECT_TRUE(dcn_test::matches_reference(o.out.data(), ref.output, pr.out_shape, int64_t(c.S) * c.S,
                                                    pr.tolerance()));
            EXPECT_TRUE(counts_match(o.count.data(), ref.count, pr.out_shape));
        }
        for (const RoiCase &c : roi_cases()) {
            if (c.name != "adaptive_offset" && c.name != "edges_sr2_offset" && c.name != "nonfinite_offsets" &&
                c.name != "dyadic_borders" && c.name != "out7x5")
                continue;
            SCOPED_TRACE(c.name);
            RoiProblem pr = make_roi_problem(c);
            pr.opt.device = d;
            std::vector<float> out;
            try {
                out = run_roi(pr);
            } catch (const dcn::Error &e) {
                ADD_FAILURE() << e.what();
                continue;
            }
            EXPECT_TRUE(dcn_test::matches_reference(out.data(), pr.reference(), pr.out_shape, pr.max_grid,
                                                    pr.tolerance()));
        }
    }
    if (ran == 0) GTEST_SKIP() << "no GPU device (cuda, opencl) is usable here";
}

// =============================================================================
// Validation
// =============================================================================

// Whether `text` contains `number` as a whole token.
bool contains_number(const std::string &text, int64_t number) {
    const std::string n = std::to_string(number);
    for (size_t pos = text.find(n); pos != std::string::npos; pos = text.find(n, pos + 1)) {
        const bool left_ok = pos == 0 || !(std::isdigit(static_cast<unsigned char>(text[pos - 1])) ||
                                           (number >= 0 && text[pos - 1] == '-') || text[pos - 1] == '.');
        const size_t end = pos + n.size();
        const bool right_ok = end >= text.size() ||
                              !(std::isdigit(static_cast<unsigned char>(text[end])) ||
                                (text[end] == '.' && end + 1 < text.size() &&
                                 std::isdigit(static_cast<unsigned char>(text[end + 1]))));
        if (left_ok && right_ok) return true;
    }
    return false;
}

bool contains_ci(std::string text, std::string part) {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
        return s;
    };
    return lower(std::move(text)).find(lower(std::move(part))) != std::string::npos;
}

struct Expect {
    std::vector<std::string> arguments;
    std::vector<std::string> texts = {};
    std::vector<int64_t> numbers = {};
    std::vector<std::string> texts_ci = {};
};

::testing::AssertionResult check_error(const std::function<void()> &call, const std::string &function,
                                       const Expect &x) {
    try {
        call();
    } catch (const dcn::Error &e) {
        const std::string what = e.what();
        std::vector<std::string> problems;
        if (std::find(x.arguments.begin(), x.arguments.end(), e.argument()) == x.arguments.end()) {
            std::string names;
            for (const auto &a : x.arguments) names += (names.empty() ? "\"" : " or \"") + a + "\"";
            problems.push_back("argument() is \"" + e.argument() + "\", expected " + names);
        }
        // The shape helpers may name themselves (deform_psroi_pool_output_shape).
        if (e.function().rfind(function, 0) != 0)
            problems.push_back("function() is \"" + e.function() + "\", expected \"" + function + "\"");
        const std::string prefix = e.function() + ": " + e.argument() + ": ";
        if (what.rfind(prefix, 0) != 0) problems.push_back("what() does not start with \"" + prefix + "\"");
        if (what.find('\n') != std::string::npos) problems.push_back("what() is not one line");
        if (what != prefix + e.detail()) problems.push_back("what() is not \"<function>: <argument>: \" + detail()");
        for (const auto &t : x.texts)
            if (what.find(t) == std::string::npos) problems.push_back("what() lacks \"" + t + "\"");
        for (const auto &t : x.texts_ci)
            if (!contains_ci(what, t)) problems.push_back("what() lacks \"" + t + "\" (any case)");
        for (int64_t v : x.numbers)
            if (!contains_number(what, v)) problems.push_back("what() lacks the number " + std::to_string(v));
        if (problems.empty()) return ::testing::AssertionSuccess();
        auto r = ::testing::AssertionFailure() << "dcn::Error what() = \"" << what << "\"";
        for (const auto &p : problems) r << "\n  " << p;
        return r;
    } catch (const std::exception &e) {
        return ::testing::AssertionFailure() << "threw a std::exception that is not dcn::Error: " << e.what();
    } catch (...) {
        return ::testing::AssertionFailure() << "threw something that is not a std::exception";
    }
    return ::testing::AssertionFailure() << "did not throw";
}

// Valid RoIs for an image of 2 x 9 x 10 (N = 2): 8 of them.
std::vector<float> valid_rois() {
    std::vector<float> v;
    for (int r = 0; r < 8; ++r) {
        const float b = float(r % 2), x = float(r % 4), y = float(r % 3);
        v.insert(v.end(), {b, x, y, x + 4.5f, y + 3.25f});
    }
    return v;
}

// A valid deform_psroi_pool call that each test breaks in one way:
//   input (2, 18, 9, 10): output_dim 2, group 3; pooled 3, part 0, spp 2;
//   rois (8, 5); trans (8, 2, 3, 3); output and count (8, 2, 3, 3).
struct PsCall {
    std::vector<int64_t> input{2, 18, 9, 10}, rois{8, 5}, trans{8, 2, 3, 3}, output{8, 2, 3, 3},
        count{8, 2, 3, 3};
    std::vector<float> roi_values = valid_rois();
    bool use_trans = true, use_count = true;
    dcn::DeformPsroiPoolOptions options = [] {
        dcn::DeformPsroiPoolOptions o;
        o.output_dim = 2;
        o.group_size = 3;
        o.pooled_size = 3;
        o.sample_per_part = 2;
        o.trans_std = 0.1f;
        return o;
    }();

    void operator()() const {
        auto storage = [](const std::vector<int64_t> &s) {
            return std::vector<float>(size_t(std::max<int64_t>(numel(s), 1)) + 64, 0.25f);
        };
        std::vector<float> in = storage(input), tr = storage(trans), out = storage(output), cnt = storage(count);
        std::vector<float> ro = storage(rois);
        std::copy(roi_values.begin(), roi_values.begin() + std::min(roi_values.size(), ro.size()), ro.begin());
        const std::vector<float> out_before = out, cnt_before = cnt;
        try {
            dcn::deform_psroi_pool(dcn::TensorView(in.data(), input), dcn::TensorView(ro.data(), rois),
                                   use_trans ? std::optional<dcn::TensorView>(dcn::TensorView(tr.data(), trans))
                                             : std::nullopt,
                                   dcn::TensorView(out.data(), output),
                                   use_count ? std::optional<dcn::TensorView>(dcn::TensorView(cnt.data(), count))
                                             : std::nullopt,
                                   options);
        } catch (...) {
            EXPECT_TRUE(out == out_before) << "the output was written before the error was raised";
            EXPECT_TRUE(cnt == cnt_before) << "the count was written before the error was raised";
            throw;
        }
    }
};

// A valid deform_roi_pool call: input (2, 3, 9, 10), rois (8, 5), offset
// (8, 2, 2, 3), mask (8, 1, 2, 3), output (8, 3, 2, 3), output_size 2x3.
struct RoiCall {
    std::vector<int64_t> input{2, 3, 9, 10}, rois{8, 5}, offset{8, 2, 2, 3}, mask{8, 1, 2, 3}, output{8, 3, 2, 3};
    std::vector<float> roi_values = valid_rois();
    bool use_offset = true, use_mask = true;
    dcn::DeformRoiPoolOptions options = [] {
        dcn::DeformRoiPoolOptions o;
        o.output_size = {2, 3};
        o.sampling_ratio = 0;
        return o;
    }();

    void operator()() const {
        auto storage = [](const std::vector<int64_t> &s) {
            return std::vector<float>(size_t(std::max<int64_t>(numel(s), 1)) + 64, 0.25f);
        };
        std::vector<float> in = storage(input), off = storage(offset), m = storage(mask), out = storage(output);
        std::vector<float> ro = storage(rois);
        std::copy(roi_values.begin(), roi_values.begin() + std::min(roi_values.size(), ro.size()), ro.begin());
        const std::vector<float> out_before = out;
        try {
            dcn::deform_roi_pool(dcn::TensorView(in.data(), input), dcn::TensorView(ro.data(), rois),
                                 use_offset ? std::optional<dcn::TensorView>(dcn::TensorView(off.data(), offset))
                                            : std::nullopt,
                                 use_mask ? std::optional<dcn::TensorView>(dcn::TensorView(m.data(), mask))
                                          : std::nullopt,
                                 dcn::TensorView(out.data(), output), options);
        } catch (...) {
            EXPECT_TRUE(out == out_before) << "the output was written before the error was raised";
            throw;
        }
    }
};

const char *const kPs = "deform_psroi_pool";
const char *const kRoi = "deform_roi_pool";

TEST(RoiValidation, TheBaseCallsAreValid) {
    EXPECT_NO_THROW(PsCall{}());
    PsCall p;
    p.use_trans = p.use_count = false;
    EXPECT_NO_THROW(p());
    EXPECT_NO_THROW(RoiCall{}());
    RoiCall r;
    r.use_offset = r.use_mask = false;
    EXPECT_NO_THROW(r());
    r.options.sampling_ratio = 3;
    EXPECT_NO_THROW(r());
}

// ---- rois (both operators) -------------------------------------------------------

TEST(RoiValidation, RoisShape) {
    {
        PsCall c;
        c.rois = {8, 4};
        EXPECT_TRUE(check_error(c, kPs, {{"rois"}, {"[8, 4]"}}));
        c.rois = {40};
        EXPECT_TRUE(check_error(c, kPs, {{"rois"}, {"[40]"}}));
        c.rois = {8, 5, 1};
        EXPECT_TRUE(check_error(c, kPs, {{"rois"}, {"[8, 5, 1]"}}));
    }
    {
        RoiCall c;
        c.rois = {8, 6};
        EXPECT_TRUE(check_error(c, kRoi, {{"rois"}, {"[8, 6]"}}));
        c.rois = {1, 8, 5};
        EXPECT_TRUE(check_error(c, kRoi, {{"rois"}, {"[1, 8, 5]"}}));
    }
}

// A bad batch index or coordinate in RoI 6 (of 8): named by its index.
TEST(RoiValidation, RoisBatchIndexAndCoordinates) {
    struct Bad {
        int column;
        float value;
        const char *what;
    };
    const Bad bads[] = {{0, 0.5f, "batch 0.5"},   {0, 2.0f, "batch N"},     {0, -1.0f, "batch -1"},
                        {0, kNaN, "batch NaN"},   {0, kInf, "batch Inf"},   {0, 1e30f, "batch 1e30"},
                        {1, kNaN, "x1 NaN"},      {2, kInf, "y1 Inf"},      {3, -kInf, "x2 -Inf"},
                        {4, kNaN, "y2 NaN"}};
    for (const Bad &b : bads) {
        SCOPED_TRACE(b.what);
        PsCall p;
        p.roi_values[6 * 5 + size_t(b.column)] = b.value;
        EXPECT_TRUE(check_error(p, kPs, {{"rois"}, {}, {6}}));
        RoiCall r;
        r.roi_values[6 * 5 + size_t(b.column)] = b.value;
        EXPECT_TRUE(check_error(r, kRoi, {{"rois"}, {}, {6}}));
    }
    // Batch index 1 of N = 2 is fine; huge finite coordinates are fine too.
    PsCall p;
    p.roi_values[6 * 5 + 1] = -1e30f;
    p.roi_values[6 * 5 + 3] = 1e30f;
    EXPECT_NO_THROW(p());
    RoiCall r;
    r.options.sampling_ratio = 2;
    r.roi_values[6 * 5 + 1] = -1e30f;
    EXPECT_NO_THROW(r());
}

// ---- deform_psroi_pool ------------------------------------------------------------

TEST(RoiValidation, PsroiInputChannels) {
    PsCall c;
    c.input = {2, 17, 9, 10};
    EXPECT_TRUE(check_error(c, kPs, {{"input", "output_dim"}, {}, {17, 18}}));
    c.input = {2, 18, 9};
    EXPECT_TRUE(check_error(c, kPs, {{"input"}, {"[2, 18, 9]"}}));
    PsCall d;
    d.options.group_size = 2;  // 2 * 2^2 = 8 != 18
    EXPECT_TRUE(check_error(d, kPs, {{"input", "output_dim", "group_size"}, {}, {18}}));
}

TEST(RoiValidation, PsroiTransShape) {
    PsCall c;
    c.trans = {8, 2, 4, 4};  // part 0 = pooled 3
    EXPECT_TRUE(check_error(c, kPs, {{"trans"}, {"[8, 2, 4, 4]"}}));
    c.trans = {8, 3, 3, 3};  // odd channel count
    EXPECT_TRUE(check_error(c, kPs, {{"trans"}, {"[8, 3, 3, 3]"}}));
    c.trans = {8, 6, 3, 3};  // 3 classes, output_dim 2
    EXPECT_TRUE(check_error(c, kPs, {{"trans"}, {}, {2, 3}}));
    c.trans = {7, 2, 3, 3};  // R
    EXPECT_TRUE(check_error(c, kPs, {{"trans"}, {"[7, 2, 3, 3]"}}));
    c.trans = {8, 2, 3};  // rank
    EXPECT_TRUE(check_error(c, kPs, {{"trans"}, {"[8, 2, 3]"}}));
    c.trans = {8, 0, 3, 3};  // no classes
    EXPECT_TRUE(check_error(c, kPs, {{"trans"}, {"[8, 0, 3, 3]"}}));
    PsCall d;
    d.options.part_size = 2;  // explicit part size, trans 3x3
    EXPECT_TRUE(check_error(d, kPs, {{"trans"}, {"[8, 2, 3, 3]"}}));
    d.trans = {8, 2, 2, 2};
    EXPECT_NO_THROW(d());
    d.options.part_size = 5;  // larger than pooled is valid
    d.trans = {8, 4, 5, 5};   // 2 classes
    EXPECT_NO_THROW(d());
}

TEST(RoiValidation, PsroiOutputAndCountShape) {
    PsCall c;
    c.output = {8, 2, 3, 4};
    EXPECT_TRUE(check_error(c, kPs, {{"output"}, {"[8, 2, 3, 3]", "[8, 2, 3, 4]"}}));
    c.output = {7, 2, 3, 3};
    EXPECT_TRUE(check_error(c, kPs, {{"output"}, {"[8, 2, 3, 3]", "[7, 2, 3, 3]"}}));
    c.output = {8, 18, 3, 3};
    EXPECT_TRUE(check_error(c, kPs, {{"output"}, {"[8, 2, 3, 3]", "[8, 18, 3, 3]"}}));
    PsCall d;
    d.count = {8, 2, 3, 2};
    EXPECT_TRUE(check_error(d, kPs, {{"count"}, {"[8, 2, 3, 3]", "[8, 2, 3, 2]"}}));
    d.count = {8, 2, 9};
    EXPECT_TRUE(check_error(d, kPs, {{"count"}, {"[8, 2, 3, 3]", "[8, 2, 9]"}}));
}

TEST(RoiValidation, PsroiOptions) {
    struct Opt {
        const char *argument;
        std::function<void(dcn::DeformPsroiPoolOptions &)> set;
        std::vector<int64_t> numbers;
    };
    const std::vector<Opt> opts = {
        {"output_dim", [](auto &o) { o.output_dim = 0; }, {0}},
        {"output_dim", [](auto &o) { o.output_dim = -2; }, {-2}},
        {"group_size", [](auto &o) { o.group_size = 0; }, {0}},
        {"pooled_size", [](auto &o) { o.pooled_size = 0; }, {0}},
        {"pooled_size", [](auto &o) { o.pooled_size = -3; }, {-3}},
        {"sample_per_part", [](auto &o) { o.sample_per_part = 0; }, {0}},
        {"part_size", [](auto &o) { o.part_size = -1; }, {-1}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = 0.0f; }, {}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = -0.0625f; }, {}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = kNaN; }, {}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = kInf; }, {}},
    };
    for (const Opt &o : opts) {
        SCOPED_TRACE(o.argument);
        PsCall c;
        o.set(c.options);
        EXPECT_TRUE(check_error(c, kPs, {{o.argument}, {}, o.numbers}));
    }
}

// A device this machine cannot use is refused, naming the device (usable
// GPU devices are exercised by RoiDevices.* below).
TEST(RoiValidation, PsroiDevices) {
    for (dcn::Device d : {dcn::Device::cuda, dcn::Device::opencl}) {
        SCOPED_TRACE(dcn::device_name(d));
        if (dcn::device_usable(d)) continue;
        PsCall c;
        c.options.device = d;
        EXPECT_TRUE(check_error(c, kPs, {{"device"}, {}, {}, {dcn::device_name(d)}}));
    }
}

TEST(RoiValidation, PsroiOutputShapeHelper) {
    PsCall c;
    EXPECT_EQ(dcn::deform_psroi_pool_output_shape(c.input, c.rois, c.options), c.output);
    EXPECT_TRUE(check_error([&] { dcn::deform_psroi_pool_output_shape(c.input, {8, 4}, c.options); }, kPs,
                            {{"rois"}, {"[8, 4]"}}));
    auto o = c.options;
    o.pooled_size = 0;
    EXPECT_TRUE(check_error([&] { dcn::deform_psroi_pool_output_shape(c.input, c.rois, o); }, kPs,
                            {{"pooled_size"}, {}, {0}}));
}

// ---- deform_roi_pool -------------------------------------------------------------------

TEST(RoiValidation, RoiOffsetAndMaskShape) {
    RoiCall c;
    c.offset = {8, 2, 3, 2};
    EXPECT_TRUE(check_error(c, kRoi, {{"offset"}, {"[8, 2, 2, 3]", "[8, 2, 3, 2]"}}));
    c.offset = {8, 1, 2, 3};
    EXPECT_TRUE(check_error(c, kRoi, {{"offset"}, {"[8, 2, 2, 3]", "[8, 1, 2, 3]"}}));
    c.offset = {7, 2, 2, 3};
    EXPECT_TRUE(check_error(c, kRoi, {{"offset"}, {"[8, 2, 2, 3]", "[7, 2, 2, 3]"}}));
    c.offset = {8, 2, 6};
    EXPECT_TRUE(check_error(c, kRoi, {{"offset"}, {"[8, 2, 2, 3]", "[8, 2, 6]"}}));
    RoiCall d;
    d.mask = {8, 2, 2, 3};
    EXPECT_TRUE(check_error(d, kRoi, {{"mask"}, {"[8, 1, 2, 3]", "[8, 2, 2, 3]"}}));
    d.mask = {8, 1, 3, 2};
    EXPECT_TRUE(check_error(d, kRoi, {{"mask"}, {"[8, 1, 2, 3]", "[8, 1, 3, 2]"}}));
    d.mask = {8, 6};
    EXPECT_TRUE(check_error(d, kRoi, {{"mask"}, {"[8, 1, 2, 3]", "[8, 6]"}}));
    // A mask without an offset is valid (modulated plain RoIAlign pooling).
    RoiCall e;
    e.use_offset = false;
    EXPECT_NO_THROW(e());
}

TEST(RoiValidation, RoiInputAndOutputShape) {
    RoiCall c;
    c.output = {8, 3, 3, 2};
    EXPECT_TRUE(check_error(c, kRoi, {{"output"}, {"[8, 3, 2, 3]", "[8, 3, 3, 2]"}}));
    c.output = {8, 4, 2, 3};
    EXPECT_TRUE(check_error(c, kRoi, {{"output"}, {"[8, 3, 2, 3]", "[8, 4, 2, 3]"}}));
    c.output = {3, 2, 3};
    EXPECT_TRUE(check_error(c, kRoi, {{"output"}, {"[8, 3, 2, 3]", "[3, 2, 3]"}}));
    RoiCall d;
    d.input = {3, 9, 10};
    EXPECT_TRUE(check_error(d, kRoi, {{"input"}, {"[3, 9, 10]"}}));
}

TEST(RoiValidation, RoiOptions) {
    struct Opt {
        const char *argument;
        std::function<void(dcn::DeformRoiPoolOptions &)> set;
        std::vector<int64_t> numbers;
    };
    const std::vector<Opt> opts = {
        {"output_size", [](auto &o) { o.output_size = {0, 3}; }, {0}},
        {"output_size", [](auto &o) { o.output_size = {2, -1}; }, {-1}},
        {"sampling_ratio", [](auto &o) { o.sampling_ratio = -1; }, {-1}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = 0.0f; }, {}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = -1.0f; }, {}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = kNaN; }, {}},
        {"spatial_scale", [](auto &o) { o.spatial_scale = -kInf; }, {}},
    };
    for (const Opt &o : opts) {
        SCOPED_TRACE(o.argument);
        RoiCall c;
        // With output_size changed the views no longer match; validation of
        // the option must come first or name the option anyway.
        o.set(c.options);
        EXPECT_TRUE(check_error(c, kRoi, {{o.argument}, {}, o.numbers}));
    }
}

TEST(RoiValidation, RoiAdaptiveGridTooLarge) {
    // output_size 2x3, scale 1: the adaptive grid of a RoI is
    // ceil(roi_h / 2) x ceil(roi_w / 3); K = kMaxAdaptiveSamplingGrid.
    const float K = float(dcn::kMaxAdaptiveSamplingGrid);
    RoiCall c;  // RoI 5: roi_w = 3K + 2 -> K + 1
    c.roi_values[5 * 5 + 1] = 0.0f;
    c.roi_values[5 * 5 + 3] = 3 * K + 2;
    EXPECT_TRUE(check_error(c, kRoi, {{"rois"}, {}, {5}, {"sampling_ratio"}}));
    RoiCall h;  // RoI 3: roi_h = 2K + 2 -> K + 1
    h.roi_values[3 * 5 + 2] = 0.0f;
    h.roi_values[3 * 5 + 4] = 2 * K + 2;
    EXPECT_TRUE(check_error(h, kRoi, {{"rois"}, {}, {3}, {"sampling_ratio"}}));
    // Exactly K is allowed: roi_h = 2K.
    h.roi_values[3 * 5 + 4] = 2 * K;
    EXPECT_NO_THROW(h());
    // A fixed sampling ratio takes any RoI.
    c.options.sampling_ratio = 2;
    EXPECT_NO_THROW(c());
    // The same RoI at scale 1/16 is small on the map.
    c.options.sampling_ratio = 0;
    c.options.spatial_scale = 0.0625f;
    EXPECT_NO_THROW(c());
}

TEST(RoiValidation, RoiDevices) {
    for (dcn::Device d : {dcn::Device::cuda, dcn::Device::opencl}) {
        SCOPED_TRACE(dcn::device_name(d));
        if (dcn::device_usable(d)) continue;
        RoiCall c;
        c.options.device = d;
        EXPECT_TRUE(check_error(c, kRoi, {{"device"}, {}, {}, {dcn::device_name(d)}}));
    }
}

TEST(RoiValidation, RoiOutputShapeHelper) {
    RoiCall c;
    EXPECT_EQ(dcn::deform_roi_pool_output_shape(c.input, c.rois, c.options), c.output);
    EXPECT_TRUE(check_error([&] { dcn::deform_roi_pool_output_shape(c.input, {8}, c.options); }, kRoi,
                            {{"rois"}, {"[8]"}}));
    auto o = c.options;
    o.output_size = {3, 0};
    EXPECT_TRUE(check_error([&] { dcn::deform_roi_pool_output_shape(c.input, c.rois, o); }, kRoi,
                            {{"output_size"}, {}, {0}}));
}

}  // namespace
