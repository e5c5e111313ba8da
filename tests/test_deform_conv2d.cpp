// dcn::deform_conv2d against the independent double-precision reference
// (tests/reference), docs/operators.md (deform_conv2d), tolerance in test_support.h.
//
//  * DeformConv2dCases/*: one parameterised test per (edge-case shape, CPU
//    path, dtype of the list). Every compiled CPU path is forced with
//    dcn::set_max_cpu_isa and checked with dcn::last_cpu_isa; paths this CPU
//    cannot run are skipped.
//  * Zero offsets without a mask == ordinary convolution, exactly.
//  * NaN / Inf / huge offsets, all-NaN offsets, masks with zeros.
//  * Thread counts 1 and 2 give bitwise identical results.
//  * Strided (non-contiguous) views; nothing written outside the output view.
//  * Inferred groups / offset groups; the CPU-path cap.
// Outputs are poisoned with NaN before every run.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "reference/deform_conv2d_ref.h"
#include "cpu_paths.h"
#include "dcn_registry.h"
#include "deform_conv2d_cases.h"
#include "error_expect.h"
#include "test_support.h"

namespace {

using dcn::CpuIsa;
using dcn_ref::DeformConv2dParams;
using dcn_ref::Tensor;
using dcn_test::numel;

using namespace dcn_conv_cases;

// Runs the library on a NaN-poisoned output and returns it.
std::vector<float> run_library(const Problem &pr, bool explicit_groups = true,
                               dcn::Device device = dcn::Device::cpu) {
    std::vector<float> out(static_cast<size_t>(numel(pr.out_shape)));
    dcn_test::poison(out);
    std::optional<dcn::TensorView> mask, bias;
    if (pr.has_mask) mask = dcn::TensorView(pr.mask.data.data(), pr.mask.shape);
    if (pr.has_bias) bias = dcn::TensorView(pr.bias.data.data(), pr.bias.shape);
    dcn::deform_conv2d(dcn::TensorView(pr.input.data.data(), pr.input.shape),
                       dcn::TensorView(pr.offset.data.data(), pr.offset.shape),
                       dcn::TensorView(pr.weight.data.data(), pr.weight.shape), mask, bias,
                       dcn::TensorView(out.data(), pr.out_shape), [&] {
                           dcn::DeformConv2dOptions o = options_of(pr.p, explicit_groups);
                           o.device = device;
                           return o;
                       }());
    return out;
}

// ---- CPU paths (tests/cpu_paths.h) ------------------------------------------

using dcn_test::isa_label;
using dcn_test::usable_isas;
using dcn_test::why_unusable;
using dcn_test::DcnTest;

// ---- the parameterised edge-case matrix: every case, CPU path and dtype --------
// The inputs rounded to the dtype first (dcn_test::round_to), so that the
// double reference sees what the kernel sees; the tolerance follows the
// dtype (dcn_test::tolerance_for: float32 1e-5 relative L2, float64 1e-12,
// 16-bit the float32 bound plus one rounding of the output).

// Runs the library in `dtype` on a NaN-poisoned output; the output as double.
std::vector<double> run_library_as(const Problem &pr, dcn::DType dtype, dcn::Device device = dcn::Device::cpu) {
    using dcn_test::Stored;
    Stored x(pr.input.data, dtype), off(pr.offset.data, dtype), w(pr.weight.data, dtype), m(pr.mask.data, dtype),
        b(pr.bias.data, dtype);
    const size_t n = static_cast<size_t>(numel(pr.out_shape));
    Stored out = Stored::poisoned(n, dtype);
    std::optional<dcn::TensorView> mask, bias;
    if (pr.has_mask) mask = m.view(pr.mask.shape);
    if (pr.has_bias) bias = b.view(pr.bias.shape);
    dcn::DeformConv2dOptions o = options_of(pr.p);
    o.device = device;
    dcn::deform_conv2d(x.view(pr.input.shape), off.view(pr.offset.shape), w.view(pr.weight.shape), mask, bias,
                       out.view(pr.out_shape), o);
    return out.values(n);
}

// The case's problem with every input rounded to `dtype`.
Problem make_problem_as(const Case &c, dcn::DType dtype) {
    Problem pr = make_problem(c);
    for (Tensor *t : {&pr.input, &pr.offset, &pr.weight, &pr.mask, &pr.bias})
        for (float &v : t->data) v = dcn_test::round_to(dtype, v);
    return pr;
}

class DeformConv2dCases : public DcnTest,
                          public ::testing::WithParamInterface<std::tuple<Case, CpuIsa, dcn::DType>> {};

TEST_P(DeformConv2dCases, MatchesReference) {
    const Case &c = std::get<0>(GetParam());
    const CpuIsa isa = std::get<1>(GetParam());
    const dcn::DType dtype = std::get<2>(GetParam());
    const std::string why = dcn_test::why_not_own(isa, "deform_conv2d", {"forward"}, dtype);
    if (!why.empty()) GTEST_SKIP() << why;

    const Problem pr = make_problem_as(c, dtype);
    const std::vector<double> ref = pr.reference();
    dcn::set_max_cpu_isa(isa);
    ASSERT_EQ(dcn::max_cpu_isa(), std::optional<CpuIsa>(isa));
    const std::vector<double> out = run_library_as(pr, dtype);
    EXPECT_EQ(dcn::last_cpu_isa(), isa)
        << "ran " << dcn::cpu_isa_name(dcn::last_cpu_isa()) << ", forced " << isa_label(isa);
    EXPECT_TRUE(dcn_test::matches_reference(out, ref, pr.out_shape, pr.reduction_len(), pr.tolerance_on(dtype, isa)));
}

INSTANTIATE_TEST_SUITE_P(
    Edge, DeformConv2dCases,
    ::testing::Combine(::testing::ValuesIn(all_cases()), ::testing::ValuesIn(dcn_test::all_cpu_paths()),
                       ::testing::ValuesIn(dcn_test::all_dtypes())),
    [](const ::testing::TestParamInfo<std::tuple<Case, CpuIsa, dcn::DType>> &info) {
        return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param)) + "_" +
               dcn::dtype_name(std::get<2>(info.param));
    });

// Values float32 cannot hold pass through unrounded: a 1x1 kernel of weight
// 1, zero offsets, gives back the input exactly.
TEST(DeformConv2dFloat64, KeepsValuesFloat32CannotHold) {
    const std::vector<int64_t> shape{1, 3, 4, 5};
    std::vector<double> x(60), off(2 * 20, 0.0), w(9, 0.0), y(60, std::nan(""));
    for (size_t i = 0; i < x.size(); i++) x[i] = 1.0 + std::ldexp(static_cast<double>(i + 1), -40);
    for (int c = 0; c < 3; c++) w[static_cast<size_t>(c * 3 + c)] = 1.0;  // identity over channels
    for (CpuIsa isa : dcn::compiled_cpu_isas()) {
        if (!dcn::cpu_supports(isa)) continue;
        SCOPED_TRACE(dcn::cpu_isa_name(isa));
        dcn::set_max_cpu_isa(isa);
        dcn::deform_conv2d(dcn::TensorView(x.data(), shape), dcn::TensorView(off.data(), {1, 2, 4, 5}),
                           dcn::TensorView(w.data(), {3, 3, 1, 1}), std::nullopt, std::nullopt,
                           dcn::TensorView(y.data(), shape));
        EXPECT_EQ(y, x);
    }
    dcn::set_max_cpu_isa(std::nullopt);
}

TEST(DeformConv2dFloat64, MixedDtypesAreRefusedNamingTheArgument) {
    std::vector<double> x(60, 0.0), w(9, 0.0), y(60);
    std::vector<float> off(40, 0.0f);
    try {
        dcn::deform_conv2d(dcn::TensorView(x.data(), {1, 3, 4, 5}), dcn::TensorView(off.data(), {1, 2, 4, 5}),
                           dcn::TensorView(w.data(), {3, 3, 1, 1}), std::nullopt, std::nullopt,
                           dcn::TensorView(y.data(), {1, 3, 4, 5}));
        FAIL() << "no error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "offset");
        EXPECT_NE(std::string(e.what()).find("expected dtype float64 (the input's), got float32"), std::string::npos)
            << e.what();
    }
}

// ---- GPU schedules: every case through every usable GPU device ------------------
// CI has no GPU: there the OpenCL build of the GPU schedule runs on PoCL (the
// CPU), which is how the GPU schedules are tested. CUDA runs where a driver
// and device answer.

class DeformConv2dGpuCases : public DcnTest,
                             public ::testing::WithParamInterface<std::tuple<Case, dcn::Device, dcn::DType>> {};

TEST_P(DeformConv2dGpuCases, MatchesReference) {
    const auto &[c, device, dtype] = GetParam();
    std::string why;
    if (!dcn::device_usable(device, &why)) GTEST_SKIP() << dcn::device_name(device) << " not usable here: " << why;
    if (!dcn::has_kernels(device, "deform_conv2d", "forward", dtype))
        GTEST_SKIP() << "this build has no " << dcn::device_name(device) << " kernel in " << dcn::dtype_name(dtype);
    const Problem pr = make_problem_as(c, dtype);
    EXPECT_TRUE(dcn_test::matches_reference(run_library_as(pr, dtype, device), pr.reference(), pr.out_shape,
                                            pr.reduction_len(), pr.gpu_forward_tolerance(dtype)));
}

INSTANTIATE_TEST_SUITE_P(
    Gpu, DeformConv2dGpuCases,
    ::testing::Combine(::testing::ValuesIn(all_cases()), ::testing::Values(dcn::Device::opencl, dcn::Device::cuda),
                       ::testing::ValuesIn(dcn_test::all_dtypes())),
    [](const ::testing::TestParamInfo<std::tuple<Case, dcn::Device, dcn::DType>> &info) {
        return std::get<0>(info.param).name + "_" + dcn::device_name(std::get<1>(info.param)) + "_" +
               dcn::dtype_name(std::get<2>(info.param));
    });

// ---- zero offsets, no mask == ordinary convolution, exactly -------------------

// Plain direct convolution in double (zero padding).
std::vector<double> direct_conv(const Tensor &x, const Tensor &w, const Tensor *bias,
                                const DeformConv2dParams &p) {
    const auto os = dcn_ref::deform_conv2d_output_shape(x.shape, w.shape, p);
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t K = w.shape[0], Cg = w.shape[1], kH = w.shape[2], kW = w.shape[3];
    const int64_t oH = os[2], oW = os[3], Kg = K / p.groups;
    std::vector<double> out(static_cast<size_t>(numel(os)));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < K; ++o)
            for (int64_t oy = 0; oy < oH; ++oy)
                for (int64_t ox = 0; ox < oW; ++ox) {
                    double acc = bias ? bias->data[static_cast<size_t>(o)] : 0.0;
                    for (int64_t cc = 0; cc < Cg; ++cc)
                        for (int64_t i = 0; i < kH; ++i)
                            for (int64_t j = 0; j < kW; ++j) {
                                const int64_t y = oy * p.stride_h - p.pad_top + i * p.dilation_h;
                                const int64_t xx = ox * p.stride_w - p.pad_left + j * p.dilation_w;
                                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                                const int64_t c = (o / Kg) * Cg + cc;
                                acc += static_cast<double>(
                                           w.data[static_cast<size_t>(((o * Cg + cc) * kH + i) * kW + j)]) *
                                       x.data[static_cast<size_t>(((n * C + c) * H + y) * W + xx)];
                            }
                    out[static_cast<size_t>(((n * K + o) * oH + oy) * oW + ox)] = acc;
                }
    return out;
}

TEST_F(DcnTest, ZeroOffsetsNoMaskIsExactlyConvolution) {
    std::vector<Case> shapes = {
        Case("conv_3x3_pad1").in(1, 5, 7, 9).wt(6, 3, 3).pad(1),
        Case("conv_asym_stride2_dil2").in(2, 4, 11, 10).wt(3, 3, 3).stride(2).dil(2)
            .pads(2, 1, 0, 3),
        Case("conv_groups_og").in(1, 12, 6, 8).wt(9, 3, 3).groups(3).og(2).pad(1).with_bias(),
        Case("conv_k2x5_stride2x1").in(1, 3, 8, 12).wt(5, 2, 5).stride(2, 1).pads(0, 2, 1, 2)
            .with_bias(),
        Case("conv_1x1").in(1, 16, 5, 6).wt(7, 1, 1).with_bias(),
    };
    const std::vector<CpuIsa> isas = usable_isas();
    ASSERT_FALSE(isas.empty());
    for (const Case &c : shapes) {
        SCOPED_TRACE(c.name);
        std::mt19937 rng(seed_of(c.name));
        Problem pr = make_problem(Case(c).offs(Offsets::zero));
        pr.input = dcn_test::integer_tensor(pr.input.shape, rng, -3, 3);
        pr.weight = dcn_test::integer_tensor(pr.weight.shape, rng, -3, 3);
        pr.bias = dcn_test::integer_tensor(pr.bias.shape, rng, -5, 5);
        const std::vector<double> conv =
            direct_conv(pr.input, pr.weight, pr.has_bias ? &pr.bias : nullptr, pr.p);
        // The reference agrees with the plain convolution (a check of the test).
        ASSERT_TRUE(dcn_test::matches_reference(
            std::vector<float>(conv.begin(), conv.end()), pr.reference(), pr.out_shape,
            pr.reduction_len(), dcn_test::Tolerance::exact()));
        for (CpuIsa isa : isas) {
            SCOPED_TRACE(isa_label(isa));
            dcn::set_max_cpu_isa(isa);
            const std::vector<float> out = run_library(pr);
            EXPECT_EQ(dcn::last_cpu_isa(), dcn::cpu_path_for("deform_conv2d", "forward", dcn::DType::float32, isa));
            int64_t mismatches = 0;
            for (size_t q = 0; q < out.size(); ++q) {
                if (out[q] != static_cast<float>(conv[q]) && mismatches++ < 5)
                    ADD_FAILURE() << "element " << dcn_test::index_str(pr.out_shape, int64_t(q))
                                  << ": got " << out[q] << ", convolution gives " << conv[q];
            }
            EXPECT_EQ(mismatches, 0);
        }
    }
}

// ---- non-finite and huge offsets -----------------------------------------------

TEST_F(DcnTest, NonFiniteOffsetsContributeZero) {
    const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(), 1e30f, -1e30f};
    const char *bad_names[] = {"NaN", "+Inf", "-Inf", "1e30", "-1e30"};
    const Case base = Case("nonfinite_each").in(1, 4, 6, 7).wt(3, 3, 3).pad(1).og(2);
    const std::vector<CpuIsa> isas = usable_isas();
    ASSERT_FALSE(isas.empty());
    for (int b = 0; b < 5; ++b) {
        for (int component = 0; component < 2; ++component) {  // 0: dy, 1: dx
            for (bool with_mask : {false, true}) {
                SCOPED_TRACE(std::string(bad_names[b]) + (component ? " in dx" : " in dy") +
                             (with_mask ? ", with mask" : ", no mask"));
                Case c = base;
                if (with_mask) c.with_mask();
                Problem pr = make_problem(c);
                // Poke the bad value into every third tap position of this component.
                std::mt19937 rng(1234u + b * 4 + component * 2 + with_mask);
                const int64_t plane = pr.out_shape[2] * pr.out_shape[3];
                const int64_t pairs = pr.offset.shape[1] / 2;
                int64_t poked = 0;
                for (int64_t n = 0; n < pr.offset.shape[0]; ++n)
                    for (int64_t t = 0; t < pairs; ++t)
                        for (int64_t q = 0; q < plane; ++q)
                            if (dcn_test::uniform_int(rng, 0, 2) == 0) {
                                pr.offset.data[static_cast<size_t>(
                                    ((n * pairs + t) * 2 + component) * plane + q)] = bad_values[b];
                                ++poked;
                            }
                ASSERT_GT(poked, 0);
                if (with_mask)
                    for (size_t q = 0; q < pr.mask.data.size(); q += 4) pr.mask.data[q] = 0.0f;
                const std::vector<double> ref = pr.reference();
                for (CpuIsa isa : isas) {
                    SCOPED_TRACE(isa_label(isa));
                    dcn::set_max_cpu_isa(isa);
                    const std::vector<float> out = run_library(pr);
                    EXPECT_TRUE(std::all_of(out.begin(), out.end(),
                                            [](float v) { return std::isfinite(v); }))
                        << "non-finite output";
                    EXPECT_TRUE(dcn_test::matches_reference(out, ref, pr.out_shape,
                                                            pr.reduction_len()));
                }
            }
        }
    }
}

// Every offset NaN (or every offset huge): every sample is outside, the output
// is exactly the bias (0 without one).
TEST_F(DcnTest, AllSamplesOutsideGiveBias) {
    const float fills[] = {std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f,
                           std::numeric_limits<float>::infinity(), 1000.0f};
    for (float f : fills) {
        for (bool with_bias : {false, true}) {
            SCOPED_TRACE("offset fill " + std::to_string(f) + (with_bias ? " with bias" : ""));
            Case c = Case("all_outside").in(2, 3, 5, 6).wt(4, 3, 3).pad(1).with_mask();
            if (with_bias) c.with_bias();
            Problem pr = make_problem(c);
            std::fill(pr.offset.data.begin(), pr.offset.data.end(), f);
            for (CpuIsa isa : usable_isas()) {
                SCOPED_TRACE(isa_label(isa));
                dcn::set_max_cpu_isa(isa);
                const std::vector<float> out = run_library(pr);
                const int64_t K = pr.out_shape[1], plane = pr.out_shape[2] * pr.out_shape[3];
                int64_t bad = 0;
                for (size_t q = 0; q < out.size(); ++q) {
                    const float expect =
                        with_bias ? pr.bias.data[static_cast<size_t>((int64_t(q) / plane) % K)]
                                  : 0.0f;
                    if (out[q] != expect && bad++ < 3)
                        ADD_FAILURE() << "element " << dcn_test::index_str(pr.out_shape, int64_t(q))
                                      << ": got " << out[q] << ", expected " << expect;
                }
                EXPECT_EQ(bad, 0);
            }
        }
    }
}

// ---- threads ---------------------------------------------------------------

TEST_F(DcnTest, ThreadCountsGiveIdenticalResults) {
    const Problem pr = make_problem(
        Case("threads").in(2, 16, 19, 21).wt(24, 3, 3).pad(1).og(2).with_mask().with_bias());
    const std::vector<double> ref = pr.reference();
    for (CpuIsa isa : usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        dcn::set_max_cpu_isa(isa);
        dcn::set_num_threads(1);
        EXPECT_EQ(dcn::num_threads(), 1);
        const std::vector<float> one = run_library(pr);
        dcn::set_num_threads(2);
        EXPECT_EQ(dcn::num_threads(), 2);
        const std::vector<float> two = run_library(pr);
        dcn::set_num_threads(0);
        EXPECT_GE(dcn::num_threads(), 1);
        const std::vector<float> dflt = run_library(pr);
        EXPECT_TRUE(dcn_test::matches_reference(one, ref, pr.out_shape, pr.reduction_len()));
        EXPECT_TRUE(dcn_test::matches_reference(two, ref, pr.out_shape, pr.reduction_len()));
        EXPECT_TRUE(dcn_test::bitwise_equal(one, two, pr.out_shape));
        EXPECT_TRUE(dcn_test::bitwise_equal(one, dflt, pr.out_shape));
    }
}

// Same problem, same settings, twice: bitwise identical (no races).
TEST_F(DcnTest, RepeatedRunsAreDeterministic) {
    const Problem pr = make_problem(
        Case("repeat").in(1, 8, 13, 15).wt(12, 3, 3).pad(1).groups(2).og(4).with_mask());
    const std::vector<float> a = run_library(pr);
    for (int r = 0; r < 3; ++r) EXPECT_TRUE(dcn_test::bitwise_equal(a, run_library(pr), pr.out_shape));
}

// Large scratch buffers are cached between calls (runtime/src/memory.cpp):
// a reused buffer holds the previous call's data, and a call of another
// shape may get a bigger block; results must not depend on either.
TEST_F(DcnTest, CachedScratchMemoryIsReusedAndReleased) {
    const Problem big = make_problem(Case("cache_big").in(1, 32, 24, 26).wt(40, 3, 3).pad(1).with_mask());
    const Problem other = make_problem(Case("cache_other").in(2, 24, 20, 19).wt(36, 3, 3).pad(1).og(3).with_bias());
    const std::vector<double> big_ref = big.reference(), other_ref = other.reference();
    dcn::release_cached_memory();
    EXPECT_EQ(dcn::cached_memory_bytes(), 0u);
    EXPECT_TRUE(dcn_test::matches_reference(run_library(big), big_ref, big.out_shape, big.reduction_len()));
    // The repacked input alone is 32 x 26 x 28 floats (> 64 KiB): kept.
    EXPECT_GT(dcn::cached_memory_bytes(), 0u);
    EXPECT_TRUE(dcn_test::matches_reference(run_library(other), other_ref, other.out_shape,
                                            other.reduction_len()));
    EXPECT_TRUE(dcn_test::matches_reference(run_library(big), big_ref, big.out_shape, big.reduction_len()));
    dcn::release_cached_memory();
    EXPECT_EQ(dcn::cached_memory_bytes(), 0u);
    EXPECT_TRUE(dcn_test::matches_reference(run_library(big), big_ref, big.out_shape, big.reduction_len()));
}

// ---- strided views ------------------------------------------------------------

// A copy of `t` inside a larger zero-filled buffer of shape t.shape + extra
// (C-contiguous in the larger shape), so the view has non-trivial strides.
using dcn_test::embed;
using dcn_test::gather;
using dcn_test::Strided;

TEST_F(DcnTest, StridedViewsAndNoWritesOutsideOutput) {
    const Problem pr = make_problem(
        Case("strided").in(2, 6, 7, 9).wt(5, 3, 3).pad(1).og(2).with_mask().with_bias());
    const std::vector<double> ref = pr.reference();
    const float sentinel = 12345.0f;
    for (CpuIsa isa : usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        dcn::set_max_cpu_isa(isa);
        Strided in = embed(pr.input.shape, {1, 2, 1, 3}, &pr.input.data, 0.0f);
        Strided off = embed(pr.offset.shape, {0, 1, 2, 5}, &pr.offset.data, 0.0f);
        Strided w = embed(pr.weight.shape, {0, 1, 0, 0}, &pr.weight.data, 0.0f);
        Strided m = embed(pr.mask.shape, {1, 0, 0, 1}, &pr.mask.data, 0.0f);
        Strided out = embed(pr.out_shape, {1, 1, 2, 3}, nullptr, sentinel);
        {  // poison the view's own elements
            std::vector<float> nan(static_cast<size_t>(numel(pr.out_shape)),
                                   std::numeric_limits<float>::quiet_NaN());
            Strided tmp = embed(pr.out_shape, {1, 1, 2, 3}, &nan, sentinel);
            out.buffer = tmp.buffer;
        }
        std::optional<dcn::TensorView> mask = m.view();
        std::optional<dcn::TensorView> bias = dcn::TensorView(pr.bias.data.data(), pr.bias.shape);
        dcn::deform_conv2d(in.view(), off.view(), w.view(), mask, bias, out.view(),
                           options_of(pr.p));
        EXPECT_TRUE(dcn_test::matches_reference(gather(out), ref, pr.out_shape,
                                                pr.reduction_len()));
        // Everything outside the view is untouched.
        const std::vector<float> inside = gather(out);
        int64_t total_sentinels =
            std::count(out.buffer.begin(), out.buffer.end(), sentinel) -
            std::count(inside.begin(), inside.end(), sentinel);
        EXPECT_EQ(total_sentinels,
                  static_cast<int64_t>(out.buffer.size()) - numel(pr.out_shape))
            << "the kernel wrote outside the output view";
    }
}

// ---- groups inferred from the shapes ------------------------------------------

TEST_F(DcnTest, InferredGroupsMatchExplicit) {
    const Problem pr = make_problem(Case("inferred").in(1, 12, 6, 7).wt(9, 3, 3).groups(3).og(2)
                                        .pad(1).with_mask().with_bias());
    const std::vector<float> expl = run_library(pr, true);
    const std::vector<float> inferred = run_library(pr, false);
    EXPECT_TRUE(dcn_test::matches_reference(inferred, pr.reference(), pr.out_shape,
                                            pr.reduction_len()));
    EXPECT_TRUE(dcn_test::bitwise_equal(expl, inferred, pr.out_shape));
}

// ---- the CPU-path cap ------------------------------------------------------------

TEST_F(DcnTest, DefaultPathIsBestSupported) {
    const std::vector<CpuIsa> isas = usable_isas();
    ASSERT_FALSE(isas.empty()) << "no compiled CPU path runs on this CPU";
    EXPECT_TRUE(dcn::cpu_supports(CpuIsa::baseline));
    EXPECT_EQ(dcn::max_cpu_isa(), std::nullopt);
    const Problem pr = make_problem(Case("default_isa").in(1, 3, 5, 6).wt(4, 3, 3).pad(1));
    const std::vector<float> out = run_library(pr);
    EXPECT_EQ(dcn::last_cpu_isa(), dcn::cpu_path_for("deform_conv2d", "forward", dcn::DType::float32, isas.front()))
        << "ran " << dcn::cpu_isa_name(dcn::last_cpu_isa());
    EXPECT_TRUE(dcn_test::matches_reference(out, pr.reference(), pr.out_shape,
                                            pr.reduction_len()));
}

// A cap selects the best compiled path that is <= the cap and supported here.
TEST_F(DcnTest, CapSelectsBestSupportedAtOrBelow) {
    const std::vector<CpuIsa> compiled = dcn::compiled_cpu_isas();
    const Problem pr = make_problem(Case("cap").in(1, 3, 5, 6).wt(4, 3, 3).pad(1));
    for (size_t k = 0; k < compiled.size(); ++k) {
        SCOPED_TRACE(std::string("cap ") + isa_label(compiled[k]));
        std::optional<CpuIsa> expect;
        for (size_t m = k; m < compiled.size() && !expect; ++m)
            if (dcn::cpu_supports(compiled[m])) expect = compiled[m];
        if (!expect) continue;
        dcn::set_max_cpu_isa(compiled[k]);
        EXPECT_EQ(dcn::max_cpu_isa(), std::optional<CpuIsa>(compiled[k]));
        run_library(pr);
        EXPECT_EQ(dcn::last_cpu_isa(), dcn::cpu_path_for("deform_conv2d", "forward", dcn::DType::float32, *expect));
    }
    // Names round-trip.
    for (CpuIsa isa : dcn::compiled_cpu_isas())
        EXPECT_EQ(dcn::cpu_isa_from_name(dcn::cpu_isa_name(isa)), std::optional<CpuIsa>(isa));
    // The list ends with the baseline every x86-64 CPU runs.
    EXPECT_STREQ(dcn::cpu_isa_name(dcn::compiled_cpu_isas().back()), "baseline");
    EXPECT_TRUE(dcn::cpu_supports(dcn::compiled_cpu_isas().back()));
    EXPECT_EQ(dcn::cpu_isa_from_name("no_such_isa"), std::nullopt);
}

// dcn never picks a path the operating system does not run: Linux lists a
// CPU flag in /proc/cpuinfo only when the OS enables its registers, so every
// path cpu_supports() accepts has all its CPUINFO flags there (the list,
// cmake/DcnRegistry.cmake). (Whether the converse holds depends on how
// Halide names the CPU, so it is not asserted.)
TEST(CpuSupport, EveryPathTheRuntimeAcceptsTheOperatingSystemRuns) {
    std::ifstream in("/proc/cpuinfo");
    std::string line, flags;
    while (std::getline(in, line))
        if (line.rfind("flags", 0) == 0) {
            flags = " " + line.substr(line.find(':') + 1) + " ";
            break;
        }
    if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags line";
    int supported = 0;
    for (int i = 0; i < dcn::detail::kNumCpuPaths; i++) {
        const dcn::detail::CpuPathInfo &p = dcn::detail::kCpuPaths[i];
        SCOPED_TRACE(p.name);
        if (!dcn::cpu_supports(static_cast<CpuIsa>(i))) continue;
        supported++;
        for (int f = 0; f < p.num_cpuinfo; f++)
            EXPECT_NE(flags.find(std::string(" ") + p.cpuinfo[f] + " "), std::string::npos)
                << "cpu_supports() accepts " << p.name << " but /proc/cpuinfo has no " << p.cpuinfo[f];
    }
    EXPECT_GE(supported, 1);  // the baseline at least
}

// cpu_path_for: the path a kernel runs on under a cap, from the build's
// kernel table; bad names and values are errors naming the argument.
TEST(CpuPathFor, FollowsTheKernelTableAndRefusesBadArguments) {
    const std::vector<CpuIsa> paths = dcn::compiled_cpu_isas();
    for (CpuIsa isa : paths) {
        SCOPED_TRACE(isa_label(isa));
        // The path itself or one below it, which has its own kernel.
        for (dcn::DType t : dcn_test::all_dtypes()) {
            const CpuIsa ran = dcn::cpu_path_for("deform_conv2d", "forward", t, isa);
            EXPECT_GE(int(ran), int(isa));
            EXPECT_EQ(dcn::cpu_path_for("deform_conv2d", "forward", t, ran), ran);
        }
        // Every path has deform_conv2d's bfloat16 kernels; avx512_bf16 has
        // nothing else (a float32 call there runs the next path down).
        EXPECT_EQ(dcn::cpu_path_for("deform_conv2d", "backward_weight", dcn::DType::bfloat16, isa), isa);
        if (std::string(dcn::cpu_isa_name(isa)) == "avx512_bf16") {
            EXPECT_GT(int(dcn::cpu_path_for("deform_conv2d", "forward", dcn::DType::float32, isa)), int(isa));
            EXPECT_GT(int(dcn::cpu_path_for("deform_roi_pool", "forward", dcn::DType::bfloat16, isa)), int(isa));
        }
    }
    using dcn_test::check_error;
    using dcn_test::Expect;
    const CpuIsa best = paths.front();
    EXPECT_TRUE(check_error([&] { dcn::cpu_path_for("deform_conv3d", "forward", dcn::DType::float32, best); },
                            Expect{{"op"}, {"deform_conv3d", "deform_conv2d, deform_psroi_pool, deform_roi_pool"}, {}, {},
                                   "cpu_path_for"}));
    EXPECT_TRUE(check_error([&] { dcn::cpu_path_for("deform_conv2d", "sideways", dcn::DType::float32, best); },
                            Expect{{"direction"}, {"sideways", "forward, backward_data, backward_weight"}, {}, {},
                                   "cpu_path_for"}));
    EXPECT_TRUE(check_error([&] { dcn::cpu_path_for("deform_conv2d", "forward", dcn::DType::float32, CpuIsa(-1)); },
                            Expect{{"isa"}, {}, {}, {}, "cpu_path_for"}));
    EXPECT_TRUE(check_error(
        [&] { dcn::cpu_path_for("deform_conv2d", "forward", dcn::DType::float32, CpuIsa(int(paths.size()))); },
        Expect{{"isa"}, {}, {}, {}, "cpu_path_for"}));
    // The RoI poolings have no weight direction.
    EXPECT_TRUE(check_error([&] { dcn::cpu_path_for("deform_roi_pool", "backward_weight", dcn::DType::float32, best); },
                            Expect{{"dtype"}, {"no deform_roi_pool backward_weight kernel in float32"}, {}, {},
                                   "cpu_path_for"}));
}

}  // namespace
