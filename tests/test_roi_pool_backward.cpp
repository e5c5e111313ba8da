// dcn::deform_roi_pool_backward and dcn::deform_psroi_pool_backward against
// the independent double-precision gradient references (tests/reference/
// deform_*roi_pool_backward_ref, themselves checked by finite differences
// in test_roi_pool_backward_reference.cpp).
//
//  * Every case of the forwards' edge families (roi_pool_cases.h) on every
//    CPU path (forced), every dtype of the list, the forward and every
//    gradient.
//  * The GPU schedules on OpenCL (PoCL), CUDA where a driver answers: the
//    same cases in every dtype the device has kernels in, a bitwise repeat.
//  * NaN / Inf / huge offsets and trans: finite gradients.
//  * Determinism: bitwise equal over runs and thread counts 1, 2, 5.
//  * Only the gradients asked for are written; R = 0; validation errors.
// Gradient buffers are poisoned with NaN before every run.
#include <gtest/gtest.h>

#include <cstring>
#include <type_traits>

#include "reference/deform_conv2d_backward_ref.h"
#include "reference/deform_psroi_pool_backward_ref.h"
#include "reference/deform_roi_pool_backward_ref.h"
#include "error_expect.h"
#include "roi_pool_cases.h"

namespace {

using dcn_test::round_to;
using dcn_test::to_float;

void round_all(std::initializer_list<Tensor *> ts, float (*round)(float)) {
    if (!round) return;
    for (Tensor *t : ts)
        for (float &v : t->data) v = round(v);
}

template <typename T>
bool bitwise_equal(const std::vector<T> &a, const std::vector<T> &b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
bool all_finite(const std::vector<T> &v, int64_t n) {
    return std::all_of(v.begin(), v.begin() + n, [](T x) { return std::isfinite(x); });
}

template <typename T>
bool all_nan(const std::vector<T> &v) {
    return std::all_of(v.begin(), v.end(), [](T x) { return std::isnan(x); });
}

// The float32 tolerance of a gradient that sums `terms` contributions, each
// at most `term_max` in magnitude with a factor that moves by at most
// `slope` per unit of sample position: matches_reference's bound plus the
// float32 sample positions' error (5 half-ulps of coord_max per axis, as
// position_tolerance()), on every term.
dcn_test::Tolerance gradient_tolerance(double coord_max, int64_t terms, double slope) {
    dcn_test::Tolerance t;
    t.abs_floor = 1e-6 + double(terms) * slope * 2.0 * 5.0 * std::ldexp(1.0, -24) * coord_max;
    return t;
}

// Runs `check` with the CPU path capped at `isa` (a path this CPU lacks is
// skipped), then checks that the kernels ran on that path.
template <typename Check>
void on_cpu_path(CpuIsa isa, const char *op, dcn::DType dtype, Check check) {
    const std::string why = dcn_test::why_not_own(isa, op, {"forward", "backward_data"}, dtype);
    if (!why.empty()) GTEST_SKIP() << why;
    dcn::set_max_cpu_isa(isa);
    check();
    EXPECT_EQ(dcn::last_cpu_isa(), isa) << "ran " << dcn::cpu_isa_name(dcn::last_cpu_isa());
}


// ---- deform_roi_pool -------------------------------------------------------------

struct RoiBackward {
    RoiProblem fwd;
    Tensor grad_output;
    dcn_ref::RoiPoolGradients ref;
    double roi_extent_max = 1.0;  // the largest RoI side in feature units (the offset's factor)
};

// `round` (if given) rounds every input to a storage type first.
RoiBackward make_roi_backward(const RoiCase &c, float (*round)(float) = nullptr) {
    RoiBackward b;
    b.fwd = make_roi_problem(c);
    std::mt19937 rng(seed_of(c.name) ^ 0x85ebca6bu);
    b.grad_output = dcn_test::random_tensor(b.fwd.out_shape, rng, -1.0f, 1.0f);
    round_all({&b.fwd.input, &b.fwd.rois, &b.fwd.offset, &b.fwd.mask, &b.grad_output}, round);
    const RoiProblem &f = b.fwd;
    const dcn_ref::TensorD offset = dcn_ref::to_double(f.offset), mask = dcn_ref::to_double(f.mask);
    b.ref = dcn_ref::deform_roi_pool_backward(dcn_ref::to_double(b.grad_output), dcn_ref::to_double(f.input),
                                              dcn_ref::to_double(f.rois), f.has_offset ? &offset : nullptr,
                                              f.has_mask ? &mask : nullptr, f.p);
    for (int64_t r = 0; r < f.rois.shape[0]; ++r) {
        const float *roi = f.rois.data.data() + r * 5;
        b.roi_extent_max = std::max({b.roi_extent_max, std::fabs(double(roi[3]) - roi[1]) * c.scale,
                                     std::fabs(double(roi[4]) - roi[2]) * c.scale});
    }
    return b;
}

template <typename T>
struct RoiGrads {
    std::vector<T> input, offset, mask;
};

struct RoiWant {
    bool input = true, offset = true, mask = true;
};

template <typename T>
RoiGrads<T> run_roi_backward(const RoiBackward &b, RoiWant want = {}, dcn::Device device = dcn::Device::cpu) {
    const RoiProblem &f = b.fwd;
    const std::vector<T> x = as<T>(f.input.data), rois = as<T>(f.rois.data), off = as<T>(f.offset.data),
                         m = as<T>(f.mask.data), gy = as<T>(b.grad_output.data);
    RoiGrads<T> g;
    g.input = nan_filled<T>(f.input.shape);
    g.offset = nan_filled<T>(f.offset.shape);
    g.mask = nan_filled<T>(f.mask.shape);
    dcn::DeformRoiPoolGradients req;
    if (want.input) req.input = dcn::TensorView(g.input.data(), f.input.shape);
    if (want.offset && f.has_offset) req.offset = dcn::TensorView(g.offset.data(), f.offset.shape);
    if (want.mask && f.has_mask) req.mask = dcn::TensorView(g.mask.data(), f.mask.shape);
    std::optional<dcn::TensorView> offset, mask;
    if (f.has_offset) offset = dcn::TensorView(ptr_or_dummy(off), f.offset.shape);
    if (f.has_mask) mask = dcn::TensorView(ptr_or_dummy(m), f.mask.shape);
    dcn::DeformRoiPoolOptions o = f.opt;
    o.device = device;
    dcn::deform_roi_pool_backward(dcn::TensorView(ptr_or_dummy(gy), f.out_shape),
                                  dcn::TensorView(x.data(), f.input.shape),
                                  dcn::TensorView(ptr_or_dummy(rois), f.rois.shape), offset, mask, req, o);
    return g;
}

template <typename T>
void expect_roi_matches(const RoiGrads<T> &g, const RoiBackward &b, bool float64, double u = 0.0) {
    const RoiProblem &f = b.fwd;
    const int64_t R = f.rois.shape[0], C = f.input.shape[1], bins = int64_t(f.p.pooled_h) * f.p.pooled_w;
    const double cm = f.scan.coord_max;
    // grad_input: every (RoI, bin, sample) may reach a pixel; weights move
    // with the position (slope 1 per unit). grad_offset: C * grid terms of
    // gamma * extent * share * derivative (derivative slope 2 * |data|);
    // grad_mask: C * grid terms of the bilinear value (slope 2).
    const double scale = std::max(1.0, double(f.p.gamma) * b.roi_extent_max);
    const auto tol = [&](int64_t terms, double slope) {
        return float64 ? dcn_test::Tolerance::float64() : gradient_tolerance(cm, terms, slope).with_rounding(u);
    };
    EXPECT_TRUE(dcn_test::matches_reference(g.input.data(), b.ref.input, f.input.shape, R * bins * f.max_grid,
                                            tol(R * bins * f.max_grid, 1.0)))
        << "grad_input";
    if (f.has_offset)
        EXPECT_TRUE(dcn_test::matches_reference(g.offset.data(), b.ref.offset, f.offset.shape, C * f.max_grid,
                                                tol(C * f.max_grid, 2.0 * scale)))
            << "grad_offset";
    if (f.has_mask)
        EXPECT_TRUE(dcn_test::matches_reference(g.mask.data(), b.ref.mask, f.mask.shape, C * f.max_grid,
                                                tol(C * f.max_grid, 2.0)))
            << "grad_mask";
}


// ---- deform_psroi_pool -----------------------------------------------------------

struct PsBackward {
    PsProblem fwd;
    Tensor grad_output;
    dcn_ref::PsroiPoolGradients ref;
    double roi_extent_max = 1.0;
};

PsBackward make_ps_backward(const PsCase &c, float (*round)(float) = nullptr) {
    PsBackward b;
    b.fwd = make_ps_problem(c, round);
    std::mt19937 rng(seed_of(c.name) ^ 0x85ebca6bu);
    b.grad_output = dcn_test::random_tensor(b.fwd.out_shape, rng, -1.0f, 1.0f);
    round_all({&b.fwd.input, &b.fwd.rois, &b.fwd.trans, &b.grad_output}, round);
    const PsProblem &f = b.fwd;
    const dcn_ref::TensorD trans = dcn_ref::to_double(f.trans);
    b.ref = dcn_ref::deform_psroi_pool_backward(dcn_ref::to_double(b.grad_output), dcn_ref::to_double(f.input),
                                                dcn_ref::to_double(f.rois), f.has_trans ? &trans : nullptr, f.p);
    for (int64_t r = 0; r < f.rois.shape[0]; ++r) {
        const float *roi = f.rois.data.data() + r * 5;
        b.roi_extent_max = std::max({b.roi_extent_max, (std::fabs(double(roi[3]) - roi[1]) + 2.0) * c.scale,
                                     (std::fabs(double(roi[4]) - roi[2]) + 2.0) * c.scale});
    }
    return b;
}

template <typename T>
struct PsGrads {
    std::vector<T> input, trans;
};

template <typename T>
PsGrads<T> run_ps_backward(const PsBackward &b, bool want_input = true, bool want_trans = true,
                           dcn::Device device = dcn::Device::cpu) {
    const PsProblem &f = b.fwd;
    const std::vector<T> x = as<T>(f.input.data), rois = as<T>(f.rois.data), tr = as<T>(f.trans.data),
                         gy = as<T>(b.grad_output.data);
    PsGrads<T> g;
    g.input = nan_filled<T>(f.input.shape);
    g.trans = nan_filled<T>(f.trans.shape);
    dcn::DeformPsroiPoolGradients req;
    if (want_input) req.input = dcn::TensorView(g.input.data(), f.input.shape);
    if (want_trans && f.has_trans) req.trans = dcn::TensorView(g.trans.data(), f.trans.shape);
    std::optional<dcn::TensorView> trans;
    if (f.has_trans) trans = dcn::TensorView(ptr_or_dummy(tr), f.trans.shape);
    dcn::DeformPsroiPoolOptions o = f.opt;
    o.device = device;
    dcn::deform_psroi_pool_backward(dcn::TensorView(ptr_or_dummy(gy), f.out_shape),
                                    dcn::TensorView(x.data(), f.input.shape),
                                    dcn::TensorView(ptr_or_dummy(rois), f.rois.shape), trans, req, o);
    return g;
}

template <typename T>
void expect_ps_matches(const PsGrads<T> &g, const PsBackward &b, bool float64, double u = 0.0) {
    const PsProblem &f = b.fwd;
    const int64_t R = f.rois.shape[0], P = f.p.pooled_size, S = f.p.sample_per_part;
    const int64_t part = f.p.part_size > 0 ? f.p.part_size : P;
    const int64_t per_class = f.has_trans ? f.p.output_dim / (f.trans.shape[1] / 2) : f.p.output_dim;
    const double cm = f.scan.coord_max;
    // grad_input: (RoI, bin, sample) terms; grad_trans: per part cell, the
    // cell's bins x the class's channels x samples, each trans_std * extent
    // * share * derivative.
    const int64_t bins_per_cell = ((P + part - 1) / part) * ((P + part - 1) / part);
    const double scale = std::max(1.0, double(f.p.trans_std) * b.roi_extent_max);
    const auto tol = [&](int64_t terms, double slope) {
        return float64 ? dcn_test::Tolerance::float64() : gradient_tolerance(cm, terms, slope).with_rounding(u);
    };
    EXPECT_TRUE(dcn_test::matches_reference(g.input.data(), b.ref.input, f.input.shape, R * P * P * S * S,
                                            tol(R * P * P * S * S, 1.0)))
        << "grad_input";
    if (f.has_trans) {
        const int64_t terms = bins_per_cell * per_class * S * S;
        EXPECT_TRUE(dcn_test::matches_reference(g.trans.data(), b.ref.trans, f.trans.shape, terms,
                                                tol(terms, 2.0 * scale * f.data_max)))
            << "grad_trans";
    }
}


// ---- both poolings, forward and every gradient: every case, CPU path and dtype ----
// Every input (RoI table included) rounded to the dtype first
// (dcn_test::round_to), so the references see what the kernels see; the
// forward within the dtype's tolerance (dcn_test::tolerance_for), the
// gradients within expect_*_matches' (float64: 1e-12; 16-bit: plus one
// rounding of each result, docs/operators.md "Precision of 16-bit
// storage"). The psroi count is an integer, exact in every dtype here (at
// most sample_per_part^2 = 16). A dtype added to the list runs here with no
// test edits (run_in_dtype: dcn::visit_dtype).

// Gradients as float (16-bit) or as they are (float32, float64).
template <typename T>
auto widened(const std::vector<T> &v) {
    if constexpr (is_storage16_v<T>)
        return to_float(v);
    else
        return v;
}

// The rounding of the dtype's storage (nullptr: float32 and float64 hold
// the float32 data exactly).
float (*rounding_of(dcn::DType t))(float) {
    if (t == dcn::DType::bfloat16) return &round_to<dcn::bfloat16_t>;
    if (t == dcn::DType::float16) return &round_to<dcn::float16_t>;
    return nullptr;
}

// The extra per-element tolerance of a 16-bit result (0 otherwise).
double storage_u(dcn::DType t) { return dcn_test::is_storage16(t) ? dcn_test::unit_roundoff(t) : 0.0; }

// `twice` (the GPU devices): a second backward must give the same bits.
template <typename T>
void check_roi_in(const RoiCase &c, dcn::DType dtype, dcn::Device device, bool twice) {
    const RoiBackward b = make_roi_backward(c, rounding_of(dtype));
    const RoiProblem &f = b.fwd;
    const std::vector<double> out = run_roi_in<T>(f, device);
    EXPECT_TRUE(dcn_test::matches_reference(out, f.reference(), f.out_shape, f.max_grid,
                                            dcn_test::tolerance_for(dtype, f.tolerance())))
        << "forward";
    if (c.offset == Deform::nonfinite || c.offset == Deform::large) {
        EXPECT_TRUE(all_finite(out, numel(f.out_shape))) << "forward";
        EXPECT_GT(f.scan.outside, 0);
    }
    const RoiGrads<T> g = run_roi_backward<T>(b, {}, device);
    if (twice) {
        const RoiGrads<T> again = run_roi_backward<T>(b, {}, device);
        EXPECT_TRUE(bitwise_equal(g.input, again.input) && bitwise_equal(g.offset, again.offset) &&
                    bitwise_equal(g.mask, again.mask))
            << "second run";
    }
    const auto gi = widened(g.input), goff = widened(g.offset), gm = widened(g.mask);
    expect_roi_matches(RoiGrads<typename decltype(gi)::value_type>{gi, goff, gm}, b, dtype == dcn::DType::float64,
                       storage_u(dtype));
    if (c.offset == Deform::nonfinite || c.offset == Deform::large) {
        EXPECT_TRUE(all_finite(gi, numel(f.input.shape)));
        EXPECT_TRUE(all_finite(goff, numel(f.offset.shape)));
        if (c.mask) EXPECT_TRUE(all_finite(gm, numel(f.mask.shape)));
    }
}

template <typename T>
void check_ps_in(const PsCase &c, dcn::DType dtype, dcn::Device device, bool twice) {
    const PsBackward b = make_ps_backward(c, rounding_of(dtype));
    const PsProblem &f = b.fwd;
    const dcn_ref::PsroiPoolResult ref = f.reference();
    const auto [out, count] = run_ps_in<T>(f, device);
    EXPECT_TRUE(dcn_test::matches_reference(out, ref.output, f.out_shape, int64_t(c.S) * c.S,
                                            dcn_test::tolerance_for(dtype, f.tolerance())))
        << "forward";
    EXPECT_TRUE(dcn_test::matches_reference(count, ref.count, f.out_shape, 1, dcn_test::Tolerance::exact()))
        << "count";
    // The count output is optional and does not change the result.
    EXPECT_TRUE(dcn_test::bitwise_equal(out, run_ps_in<T>(f, device, false).first, f.out_shape))
        << "forward without count";
    if (c.trans == Deform::nonfinite || c.trans == Deform::large) {
        EXPECT_TRUE(all_finite(out, numel(f.out_shape))) << "forward";
        EXPECT_GT(f.scan.outside, 0);
    }
    const PsGrads<T> g = run_ps_backward<T>(b, true, true, device);
    if (twice) {
        const PsGrads<T> again = run_ps_backward<T>(b, true, true, device);
        EXPECT_TRUE(bitwise_equal(g.input, again.input) && bitwise_equal(g.trans, again.trans)) << "second run";
    }
    const auto gi = widened(g.input), gt = widened(g.trans);
    expect_ps_matches(PsGrads<typename decltype(gi)::value_type>{gi, gt}, b, dtype == dcn::DType::float64,
                      storage_u(dtype));
    if (c.trans == Deform::nonfinite || c.trans == Deform::large) {
        EXPECT_TRUE(all_finite(gi, numel(f.input.shape)));
        EXPECT_TRUE(all_finite(gt, numel(f.trans.shape)));
    }
}

// Runs check<T> with T the C++ type of `dtype`.
template <template <typename> class Check, typename Case>
void run_in_dtype(const Case &c, dcn::DType dtype, dcn::Device device = dcn::Device::cpu, bool twice = false) {
    dcn::visit_dtype(dtype, [&](auto t) { Check<decltype(t)>::run(c, dtype, device, twice); });
}

template <typename T>
struct RoiCheck {
    static void run(const RoiCase &c, dcn::DType d, dcn::Device device, bool twice) {
        check_roi_in<T>(c, d, device, twice);
    }
};
template <typename T>
struct PsCheck {
    static void run(const PsCase &c, dcn::DType d, dcn::Device device, bool twice) {
        check_ps_in<T>(c, d, device, twice);
    }
};

template <typename Case>
using DtypeParam = std::tuple<Case, CpuIsa, dcn::DType>;

template <typename Case>
std::string case_path_dtype(const ::testing::TestParamInfo<DtypeParam<Case>> &info) {
    return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param)) + "_" +
           dcn::dtype_name(std::get<2>(info.param));
}

class RoiBackwardCases : public RoiFixture, public ::testing::WithParamInterface<DtypeParam<RoiCase>> {};

TEST_P(RoiBackwardCases, ForwardAndGradientsMatchReference) {
    on_cpu_path(std::get<1>(GetParam()), "deform_roi_pool", std::get<2>(GetParam()),
                [&] { run_in_dtype<RoiCheck>(std::get<0>(GetParam()), std::get<2>(GetParam())); });
}

INSTANTIATE_TEST_SUITE_P(Edge, RoiBackwardCases,
                         ::testing::Combine(::testing::ValuesIn(roi_cases()),
                                            ::testing::ValuesIn(dcn_test::all_cpu_paths()),
                                            ::testing::ValuesIn(dcn_test::all_dtypes())),
                         case_path_dtype<RoiCase>);

class PsBackwardCases : public RoiFixture, public ::testing::WithParamInterface<DtypeParam<PsCase>> {};

TEST_P(PsBackwardCases, ForwardAndGradientsMatchReference) {
    on_cpu_path(std::get<1>(GetParam()), "deform_psroi_pool", std::get<2>(GetParam()),
                [&] { run_in_dtype<PsCheck>(std::get<0>(GetParam()), std::get<2>(GetParam())); });
}

INSTANTIATE_TEST_SUITE_P(Edge, PsBackwardCases,
                         ::testing::Combine(::testing::ValuesIn(ps_cases()),
                                            ::testing::ValuesIn(dcn_test::all_cpu_paths()),
                                            ::testing::ValuesIn(dcn_test::all_dtypes())),
                         case_path_dtype<PsCase>);

// ---- GPU schedules: OpenCL on PoCL (how CI runs them), CUDA where a driver
// answers: every case, forward and gradients, in every dtype the device has
// kernels in, and a bitwise repeat of the backward. -------------------------------

using GpuParam = std::tuple<dcn::Device, dcn::DType>;

class RoiBackwardGpu : public RoiFixture, public ::testing::WithParamInterface<GpuParam> {};

TEST_P(RoiBackwardGpu, MatchesReferenceAndIsDeterministic) {
    const auto [device, dtype] = GetParam();
    std::string why;
    if (!dcn::device_usable(device, &why)) GTEST_SKIP() << dcn::device_name(device) << " not usable here: " << why;
    for (const char *op : {"deform_roi_pool", "deform_psroi_pool"})
        for (const char *direction : {"forward", "backward_data"})
            if (!dcn::has_kernels(device, op, direction, dtype))
                GTEST_SKIP() << "this build has no " << dcn::device_name(device) << " " << op << " " << direction
                             << " kernel in " << dcn::dtype_name(dtype);
    for (const RoiCase &c : roi_cases()) {
        SCOPED_TRACE(c.name);
        run_in_dtype<RoiCheck>(c, dtype, device, true);
    }
    for (const PsCase &c : ps_cases()) {
        SCOPED_TRACE(c.name);
        run_in_dtype<PsCheck>(c, dtype, device, true);
    }
}

INSTANTIATE_TEST_SUITE_P(Gpu, RoiBackwardGpu,
                         ::testing::Combine(::testing::Values(dcn::Device::opencl, dcn::Device::cuda),
                                            ::testing::ValuesIn(dcn_test::all_dtypes())),
                         [](const ::testing::TestParamInfo<GpuParam> &info) {
                             return std::string(dcn::device_name(std::get<0>(info.param))) + "_" +
                                    dcn::dtype_name(std::get<1>(info.param));
                         });

TEST(RoiBackwardGpuSubsets, OnlyTheAskedGradientsOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    const RoiBackward b = make_roi_backward(RoiCase("gpu_subsets").map(2, 5, 8, 9).num_rois(5)
                                                .with_offset(Deform::random).with_mask());
    RoiWant only_offset;
    only_offset.input = only_offset.mask = false;
    const RoiGrads<float> g = run_roi_backward<float>(b, only_offset, dcn::Device::opencl);
    EXPECT_TRUE(all_nan(g.input) && all_nan(g.mask));
    EXPECT_TRUE(dcn_test::matches_reference(g.offset.data(), b.ref.offset, b.fwd.offset.shape, 5 * 4,
                                            gradient_tolerance(b.fwd.scan.coord_max, 5 * 4, 2.0)));
    const PsBackward p = make_ps_backward(PsCase("gpu_ps_subsets").map(1, 8, 9).dims(2, 2, 3).spp(2)
                                              .with_trans(Deform::random));
    const PsGrads<float> gi = run_ps_backward<float>(p, true, false, dcn::Device::opencl);
    EXPECT_TRUE(all_nan(gi.trans));
    EXPECT_TRUE(dcn_test::matches_reference(gi.input.data(), p.ref.input, p.fwd.input.shape, 6 * 9 * 4,
                                            gradient_tolerance(p.fwd.scan.coord_max, 6 * 9 * 4, 1.0)));
}

// ---- determinism ---------------------------------------------------------------

template <typename T>
void expect_deterministic(const RoiBackward &rb, const PsBackward &pb, const std::string &dtype) {
    dcn::set_num_threads(1);
    const RoiGrads<T> r0 = run_roi_backward<T>(rb);
    const PsGrads<T> p0 = run_ps_backward<T>(pb);
    for (int threads : {1, 2, 5}) {
        dcn::set_num_threads(threads);
        for (int run = 0; run < 3; ++run) {
            const std::string what = dtype + ", " + std::to_string(threads) + " threads, run " + std::to_string(run);
            const RoiGrads<T> r = run_roi_backward<T>(rb);
            EXPECT_TRUE(bitwise_equal(r.input, r0.input)) << "roi grad_input " << what;
            EXPECT_TRUE(bitwise_equal(r.offset, r0.offset)) << "roi grad_offset " << what;
            EXPECT_TRUE(bitwise_equal(r.mask, r0.mask)) << "roi grad_mask " << what;
            const PsGrads<T> p = run_ps_backward<T>(pb);
            EXPECT_TRUE(bitwise_equal(p.input, p0.input)) << "psroi grad_input " << what;
            EXPECT_TRUE(bitwise_equal(p.trans, p0.trans)) << "psroi grad_trans " << what;
        }
    }
}

TEST_F(RoiFixture, RoiBackwardIsBitwiseDeterministicOverRunsAndThreadCounts) {
    // Many overlapping RoIs on two images: every pixel gets contributions
    // from many (RoI, bin, sample) in a sum whose order must not change.
    const RoiBackward rb = make_roi_backward(RoiCase("determinism").map(2, 21, 16, 18).num_rois(40).ratio(0)
                                                 .with_offset(Deform::random).with_mask());
    const PsBackward pb = make_ps_backward(PsCase("ps_determinism").map(2, 15, 17).dims(6, 3, 6).part_size(3).spp(3)
                                               .num_rois(40).with_trans(Deform::random, 2));
    expect_roi_matches(run_roi_backward<float>(rb), rb, false);
    expect_ps_matches(run_ps_backward<float>(pb), pb, false);
    expect_deterministic<float>(rb, pb, "float32");
    expect_deterministic<double>(rb, pb, "float64");
}

// ---- subsets, R = 0 ---------------------------------------------------------------

TEST_F(RoiFixture, RoiBackwardWritesOnlyTheGradientsAskedFor) {
    const RoiBackward b = make_roi_backward(RoiCase("subsets").map(2, 5, 8, 9).num_rois(6)
                                                .with_offset(Deform::random).with_mask());
    for (int bits = 1; bits < 8; ++bits) {
        RoiWant w;
        w.input = bits & 1, w.offset = bits & 2, w.mask = bits & 4;
        SCOPED_TRACE(bits);
        const RoiGrads<float> g = run_roi_backward<float>(b, w);
        const RoiGrads<float> all = run_roi_backward<float>(b);
        EXPECT_TRUE(w.input ? bitwise_equal(g.input, all.input) : all_nan(g.input));
        EXPECT_TRUE(w.offset ? bitwise_equal(g.offset, all.offset) : all_nan(g.offset));
        EXPECT_TRUE(w.mask ? bitwise_equal(g.mask, all.mask) : all_nan(g.mask));
    }
    const PsBackward p = make_ps_backward(PsCase("ps_subsets").map(1, 8, 9).dims(2, 2, 3).spp(2)
                                              .with_trans(Deform::random));
    const PsGrads<float> all = run_ps_backward<float>(p);
    const PsGrads<float> only_input = run_ps_backward<float>(p, true, false);
    EXPECT_TRUE(bitwise_equal(only_input.input, all.input) && all_nan(only_input.trans));
    const PsGrads<float> only_trans = run_ps_backward<float>(p, false, true);
    EXPECT_TRUE(bitwise_equal(only_trans.trans, all.trans) && all_nan(only_trans.input));
}

TEST_F(RoiFixture, RoiBackwardWithoutRoisGivesZeroInputGradient) {
    for (dcn::Device device : {dcn::Device::cpu, dcn::Device::opencl}) {
        std::string why;
        if (!dcn::device_usable(device, &why)) continue;
        SCOPED_TRACE(dcn::device_name(device));
        const RoiBackward b = make_roi_backward(RoiCase("R0").map(2, 3, 5, 6).num_rois(0)
                                                    .with_offset(Deform::random).with_mask());
        const RoiGrads<float> g = run_roi_backward<float>(b, {}, device);
        EXPECT_TRUE(std::all_of(g.input.begin(), g.input.end(), [](float v) { return v == 0.0f; }));
        const PsBackward p = make_ps_backward(PsCase("ps_R0").map(2, 5, 6).dims(2, 2, 3).num_rois(0)
                                                  .with_trans(Deform::random));
        const PsGrads<float> gp = run_ps_backward<float>(p, true, true, device);
        EXPECT_TRUE(std::all_of(gp.input.begin(), gp.input.end(), [](float v) { return v == 0.0f; }));
    }
}

// ---- validation -------------------------------------------------------------------

// The call must throw a one-line dcn::Error from `fn` naming `arg`, whose
// message contains `text`.
#define EXPECT_DCN_ERROR(stmt, fn, arg, text) \
    EXPECT_TRUE(dcn_test::check_error([&] { stmt; }, {{arg}, {text}, {}, {}, fn}))

TEST_F(RoiFixture, RoiBackwardRefusesBadArgumentsNamingThem) {
    const RoiBackward b = make_roi_backward(RoiCase("errors").map(1, 3, 6, 7).num_rois(2).out(2, 2)
                                                .with_offset(Deform::random));
    const RoiProblem &f = b.fwd;
    std::vector<float> gy = b.grad_output.data, x = f.input.data, rois = f.rois.data, off = f.offset.data;
    std::vector<float> gx(x.size()), goff(off.size()), gm(2 * 4), wrong(3 * 6 * 7);
    std::vector<double> gx64(x.size());
    const dcn::TensorView gyv(gy.data(), f.out_shape), xv(x.data(), f.input.shape), rv(rois.data(), f.rois.shape),
        ov(off.data(), f.offset.shape);
    auto call = [&](const dcn::DeformRoiPoolGradients &g, std::optional<dcn::TensorView> offset,
                    std::optional<dcn::TensorView> mask, const dcn::TensorView &grad_out) {
        dcn::deform_roi_pool_backward(grad_out, xv, rv, offset, mask, g, f.opt);
    };
    dcn::DeformRoiPoolGradients g;
    g.input = dcn::TensorView(wrong.data(), {1, 3, 7, 6});
    EXPECT_DCN_ERROR(call(g, ov, std::nullopt, gyv), "deform_roi_pool_backward", "grad_input", "[1, 3, 6, 7]");
    g = {};
    g.input = dcn::TensorView(gx64.data(), f.input.shape);
    EXPECT_DCN_ERROR(call(g, ov, std::nullopt, gyv), "deform_roi_pool_backward", "grad_input", "float32");
    g = {};
    g.mask = dcn::TensorView(gm.data(), {2, 1, 2, 2});
    EXPECT_DCN_ERROR(call(g, ov, std::nullopt, gyv), "deform_roi_pool_backward", "grad_mask", "no mask");
    g = {};
    g.offset = dcn::TensorView(goff.data(), f.offset.shape);
    EXPECT_DCN_ERROR(call(g, std::nullopt, std::nullopt, gyv), "deform_roi_pool_backward", "grad_offset",
                     "no offset");
    g = {};
    g.input = dcn::TensorView(gx.data(), f.input.shape);
    EXPECT_DCN_ERROR(call(g, ov, std::nullopt, dcn::TensorView(gy.data(), {2, 3, 2, 1})), "deform_roi_pool_backward",
                     "grad_output", "[2, 3, 2, 2]");
    g.input = dcn::TensorView(x.data(), f.input.shape);
    EXPECT_DCN_ERROR(call(g, ov, std::nullopt, gyv), "deform_roi_pool_backward", "grad_input", "overlaps");
    g.input = dcn::TensorView(gx.data(), f.input.shape);
    g.offset = dcn::TensorView(gx.data(), f.offset.shape);
    EXPECT_DCN_ERROR(call(g, ov, std::nullopt, gyv), "deform_roi_pool_backward", "grad_input", "overlaps");
    // The validate entry point makes the same checks (not the overlap).
    g = {};
    g.mask = dcn::TensorView(gm.data(), {2, 1, 2, 2});
    EXPECT_DCN_ERROR(dcn::deform_roi_pool_backward_validate(gyv, xv, rv, ov, std::nullopt, g, f.opt),
                     "deform_roi_pool_backward", "grad_mask", "no mask");
}

TEST_F(RoiFixture, PsroiBackwardRefusesBadArgumentsNamingThem) {
    const PsBackward b = make_ps_backward(PsCase("ps_errors").map(1, 6, 7).dims(2, 1, 3).num_rois(2)
                                              .with_trans(Deform::random));
    const PsProblem &f = b.fwd;
    std::vector<float> gy = b.grad_output.data, x = f.input.data, rois = f.rois.data, tr = f.trans.data;
    std::vector<float> gx(x.size()), gt(tr.size());
    const dcn::TensorView gyv(gy.data(), f.out_shape), xv(x.data(), f.input.shape), rv(rois.data(), f.rois.shape),
        tv(tr.data(), f.trans.shape);
    dcn::DeformPsroiPoolGradients g;
    g.trans = dcn::TensorView(gt.data(), f.trans.shape);
    EXPECT_DCN_ERROR(dcn::deform_psroi_pool_backward(gyv, xv, rv, std::nullopt, g, f.opt), "deform_psroi_pool_backward",
                     "grad_trans", "no trans");
    g = {};
    g.trans = dcn::TensorView(gt.data(), {2, 2, 9, 1});
    EXPECT_DCN_ERROR(dcn::deform_psroi_pool_backward(gyv, xv, rv, tv, g, f.opt), "deform_psroi_pool_backward",
                     "grad_trans", "[2, 2, 3, 3]");
    g = {};
    g.input = dcn::TensorView(gx.data(), f.input.shape);
    EXPECT_DCN_ERROR(dcn::deform_psroi_pool_backward(dcn::TensorView(gy.data(), {2, 2, 9}), xv, rv, tv, g, f.opt),
                     "deform_psroi_pool_backward", "grad_output", "[2, 2, 3, 3]");
    g.input = dcn::TensorView(tr.data(), {1, 2, 3, 2});  // wrong shape first
    EXPECT_DCN_ERROR(dcn::deform_psroi_pool_backward(gyv, xv, rv, tv, g, f.opt), "deform_psroi_pool_backward",
                     "grad_input", "[1, 2, 6, 7]");
    g.input = dcn::TensorView(gx.data(), f.input.shape);
    g.trans = dcn::TensorView(gx.data() + 8, f.trans.shape);
    EXPECT_DCN_ERROR(dcn::deform_psroi_pool_backward(gyv, xv, rv, tv, g, f.opt), "deform_psroi_pool_backward",
                     "grad_input", "overlaps");
}

}  // namespace
