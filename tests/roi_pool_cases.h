// Shared by the deformable RoI pooling tests (test_psroi_pool.cpp,
// test_roi_pool.cpp, test_roi_pool_reference.cpp, test_roi_validation.cpp):
// the settings fixture, the knife-edge scans, the case families (PsCase /
// RoiCase), the problems built from them and the runs of the library. The
// helpers have internal linkage (an anonymous namespace): each test file
// gets its own copy.
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
#pragma once

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
#include "error_expect.h"
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

// A vector's data, or a valid pointer when it is empty (R = 0 cases).
template <typename T>
const T *ptr_or_dummy(const std::vector<T> &v) {
    static const T dummy[4] = {};
    return v.empty() ? dummy : v.data();
}
template <typename T>
T *ptr_or_dummy(std::vector<T> &v) {
    static T dummy[4] = {};
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
// integer_edges: an inside sample's coordinate within rounding of an
// integer is a knife edge too (where MSRA's trans derivative jumps: its far
// corner is ceil(), the near one on an integer); the 16-bit suites ask for
// it, whose rounded inputs land on integers far more often.
void classify(SampleScan &s, const Coord &x, double xlo, double xhi, const Coord &y, double ylo,
              double yhi, bool integer_edges = false) {
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
        if (integer_edges)
            for (const Coord *c : {&x, &y})
                if (!c->exact && std::fabs(c->v - std::round(c->v)) <= knife_margin(c->mag)) ++s.knife_edges;
        ++s.inside;
        s.coord_max = std::max({s.coord_max, x.mag, y.mag});
    } else {
        ++s.outside;
    }
}

// Every sample of RoI `roi` (5 floats) for deform_psroi_pool; trans_r is the
// RoI's (2*num_classes, part, part) slice or null.
SampleScan scan_psroi(const float *roi, const float *trans_r, int64_t num_classes,
                      const dcn_ref::PsroiPoolParams &p, int64_t H, int64_t W, bool integer_edges = false) {
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
                        classify(s, x, -0.5, double(W) - 0.5, y, -0.5, double(H) - 0.5, integer_edges);
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

// round (if given): every value rounded to a storage type (16-bit suites)
// as it is drawn, so that the knife-edge scan sees the values the kernels
// get; it also scans for integer knife edges (classify()).
PsProblem make_ps_problem(const PsCase &c, float (*round)(float) = nullptr) {
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
            if (round) {
                for (int k = 1; k < 5; ++k) roi[k] = round(roi[k]);
                if (tr)
                    for (int64_t k = 0; k < tslice; ++k) tr[k] = round(tr[k]);
            }
            s = scan_psroi(roi, tr, c.classes, pr.p, c.H, c.W, round != nullptr);
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





// ---- strided views -----------------------------------------------------------------

using dcn_test::embed;
using dcn_test::Strided;
using dcn_test::untouched_outside;

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

// ---- the runners in any dtype of the list --------------------------------------

using dcn_test::as;
using dcn_test::is_storage16_v;

// A NaN-filled vector of T (so that an element a kernel does not write fails).
template <typename T>
std::vector<T> nan_filled(const std::vector<int64_t> &shape) {
    const size_t n = static_cast<size_t>(std::max<int64_t>(numel(shape), 1));
    if constexpr (is_storage16_v<T>)
        return std::vector<T>(n, T::from_float(std::numeric_limits<float>::quiet_NaN()));
    else
        return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

template <typename T>
std::vector<double> to_double(const std::vector<T> &v) {
    if constexpr (is_storage16_v<T>) {
        const std::vector<float> f = dcn_test::to_float(v);
        return std::vector<double>(f.begin(), f.end());
    } else {
        return std::vector<double>(v.begin(), v.end());
    }
}

// deform_roi_pool in T (the problem's float data converted to T) on a
// NaN-filled output; the output as double.
template <typename T>
std::vector<double> run_roi_in(const RoiProblem &pr, dcn::Device device = dcn::Device::cpu) {
    const std::vector<T> x = as<T>(pr.input.data), rois = as<T>(pr.rois.data), off = as<T>(pr.offset.data),
                         m = as<T>(pr.mask.data);
    std::vector<T> out = nan_filled<T>(pr.out_shape);
    std::optional<dcn::TensorView> offset, mask;
    if (pr.has_offset) offset = dcn::TensorView(ptr_or_dummy(off), pr.offset.shape);
    if (pr.has_mask) mask = dcn::TensorView(ptr_or_dummy(m), pr.mask.shape);
    dcn::DeformRoiPoolOptions opt = pr.opt;
    opt.device = device;
    dcn::deform_roi_pool(dcn::TensorView(x.data(), pr.input.shape), dcn::TensorView(ptr_or_dummy(rois), pr.rois.shape),
                         offset, mask, dcn::TensorView(out.data(), pr.out_shape), opt);
    std::vector<double> r = to_double(out);
    r.resize(static_cast<size_t>(numel(pr.out_shape)));
    return r;
}

// deform_psroi_pool in T: (output, count) as double; without the count
// output when !with_count (its vector then stays NaN).
template <typename T>
std::pair<std::vector<double>, std::vector<double>> run_ps_in(const PsProblem &pr, dcn::Device device = dcn::Device::cpu,
                                                              bool with_count = true) {
    const std::vector<T> x = as<T>(pr.input.data), rois = as<T>(pr.rois.data), tr = as<T>(pr.trans.data);
    std::vector<T> out = nan_filled<T>(pr.out_shape), count = nan_filled<T>(pr.out_shape);
    std::optional<dcn::TensorView> trans, cnt;
    if (pr.has_trans) trans = dcn::TensorView(ptr_or_dummy(tr), pr.trans.shape);
    if (with_count) cnt = dcn::TensorView(count.data(), pr.out_shape);
    dcn::DeformPsroiPoolOptions opt = pr.opt;
    opt.device = device;
    dcn::deform_psroi_pool(dcn::TensorView(x.data(), pr.input.shape), dcn::TensorView(ptr_or_dummy(rois), pr.rois.shape),
                           trans, dcn::TensorView(out.data(), pr.out_shape), cnt, opt);
    std::pair<std::vector<double>, std::vector<double>> r{to_double(out), to_double(count)};
    r.first.resize(static_cast<size_t>(numel(pr.out_shape)));
    r.second.resize(static_cast<size_t>(numel(pr.out_shape)));
    return r;
}







}  // namespace
