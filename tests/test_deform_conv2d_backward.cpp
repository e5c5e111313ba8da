// dcn::deform_conv2d_backward against the independent double-precision
// gradient reference (tests/reference/deform_conv2d_backward_ref, itself
// checked by finite differences in test_deform_conv2d_backward_reference.cpp).
//
//  * Every case of the forward's edge-case matrix (deform_conv2d_cases.h) on
//    every CPU path (forced), every dtype of the list, every gradient.
//  * Zero offsets without a mask: exactly the ordinary convolution's input
//    and weight gradients (dyadic data: every product and sum is exact).
//  * NaN / Inf / huge offsets: finite gradients, zero where the offset is.
//  * Determinism: bitwise equal over runs and thread counts 1, 2, 5.
//  * Only the gradients asked for are written; validation errors.
// Gradient buffers are poisoned with NaN before every run.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "cpu_paths.h"
#include "deform_conv2d_gpu.h"      // runtime/src: the GPU chunk budget
#include "deform_conv2d_problem.h"  // runtime/src: the CPU chunk budget
#include "deform_conv2d_cases.h"
#include "error_expect.h"
#include "reference/deform_conv2d_backward_ref.h"
#include "test_support.h"

namespace {

using dcn::CpuIsa;
using dcn_test::numel;
using namespace dcn_conv_cases;

// A case's data for the backward pass: the forward problem with offsets on
// a 1/4096 grid (so that every sample coordinate is exact in float32 and the
// float32 kernels choose the same bilinear cell as the double reference:
// the offset gradient jumps at cell edges) and a random grad_output.
struct BackwardProblem {
    Problem fwd;
    Tensor grad_output;
    dcn_ref::DeformConv2dGradients ref;
    int64_t cpg = 1, Kg = 1;
};

// The reference gradients of b's data (again, after a test changed it).
void refresh_reference(BackwardProblem &b) {
    const Problem &f = b.fwd;
    const dcn_ref::TensorD mask = dcn_ref::to_double(f.mask);
    b.ref = dcn_ref::deform_conv2d_backward(dcn_ref::to_double(b.grad_output), dcn_ref::to_double(f.input),
                                            dcn_ref::to_double(f.offset), dcn_ref::to_double(f.weight),
                                            f.has_mask ? &mask : nullptr, f.p);
}

// `round` (if given) rounds every input to a storage type first (16-bit
// storage: the reference sees the values the kernel sees).
BackwardProblem make_backward(const Case &c, float (*round)(float) = nullptr) {
    BackwardProblem b;
    b.fwd = make_problem(c);
    for (float &v : b.fwd.offset.data)
        if (std::isfinite(v) && std::fabs(v) < 1e6f) v = std::round(v * 4096.0f) / 4096.0f;
    std::mt19937 rng(seed_of(c.name) ^ 0x9e3779b9u);
    b.grad_output = dcn_test::random_tensor(b.fwd.out_shape, rng, -1.0f, 1.0f);
    if (round)
        for (Tensor *t : {&b.fwd.input, &b.fwd.offset, &b.fwd.weight, &b.fwd.mask, &b.grad_output})
            for (float &v : t->data) v = round(v);
    refresh_reference(b);
    b.cpg = c.C / c.p.offset_groups;
    b.Kg = c.K / c.p.groups;
    return b;
}

template <typename T>
struct Grads {
    std::vector<T> input, offset, mask, weight, bias;
};

struct Want {
    bool input = true, offset = true, mask = true, weight = true, bias = true;
};

using dcn_test::as;
using dcn_test::is_storage16_v;

// A NaN-filled vector of T (so that an element a kernel does not write fails).
template <typename T>
std::vector<T> poisoned(size_t n) {
    if constexpr (is_storage16_v<T>)
        return std::vector<T>(n, T::from_float(std::numeric_limits<float>::quiet_NaN()));
    else
        return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

// Runs the library with NaN-poisoned gradient buffers (every one allocated;
// only those in `want` are passed).
template <typename T>
Grads<T> run_backward(const BackwardProblem &b, Want want = {}, dcn::Device device = dcn::Device::cpu) {
    const Problem &f = b.fwd;
    const std::vector<T> x = as<T>(f.input.data), off = as<T>(f.offset.data), w = as<T>(f.weight.data),
                         m = as<T>(f.mask.data), gy = as<T>(b.grad_output.data);
    Grads<T> g;
    g.input = poisoned<T>(x.size());
    g.offset = poisoned<T>(off.size());
    g.mask = poisoned<T>(f.has_mask ? m.size() : 0);
    g.weight = poisoned<T>(w.size());
    g.bias = poisoned<T>(static_cast<size_t>(f.weight.shape[0]));
    dcn::DeformConv2dGradients req;
    if (want.input) req.input = dcn::TensorView(g.input.data(), f.input.shape);
    if (want.offset) req.offset = dcn::TensorView(g.offset.data(), f.offset.shape);
    if (want.mask && f.has_mask) req.mask = dcn::TensorView(g.mask.data(), f.mask.shape);
    if (want.weight) req.weight = dcn::TensorView(g.weight.data(), f.weight.shape);
    if (want.bias) req.bias = dcn::TensorView(g.bias.data(), std::vector<int64_t>{f.weight.shape[0]});
    std::optional<dcn::TensorView> mask;
    if (f.has_mask) mask = dcn::TensorView(m.data(), f.mask.shape);
    dcn::DeformConv2dOptions o = options_of(f.p);
    o.device = device;
    dcn::deform_conv2d_backward(dcn::TensorView(gy.data(), b.grad_output.shape), dcn::TensorView(x.data(), f.input.shape),
                                dcn::TensorView(off.data(), f.offset.shape), dcn::TensorView(w.data(), f.weight.shape),
                                mask, req, o);
    return g;
}

// The gradients' sums of |terms| per element (Tolerance::with_term_sums):
// the reference's gradients on absolute values (the offsets as they are).
dcn_ref::DeformConv2dGradients term_sums(const BackwardProblem &b) {
    auto abs_of = [](const Tensor &t) {
        dcn_ref::TensorD d = dcn_ref::to_double(t);
        for (double &v : d.data) v = std::fabs(v);
        return d;
    };
    const Problem &f = b.fwd;
    const dcn_ref::TensorD mask = abs_of(f.mask);
    return dcn_ref::deform_conv2d_backward(abs_of(b.grad_output), abs_of(f.input), dcn_ref::to_double(f.offset),
                                           abs_of(f.weight), f.has_mask ? &mask : nullptr, f.p);
}

std::vector<double> weight_term_sums(const BackwardProblem &b) { return term_sums(b).weight; }

// `tol` for every gradient; grad_weight's own when given (its GEMM's
// operands rounded: the avx512_bf16 path).
template <typename T>
void expect_matches(const Grads<T> &g, const BackwardProblem &b, const dcn_test::Tolerance &tol,
                    const dcn_test::Tolerance *tol_weight = nullptr) {
    const Problem &f = b.fwd;
    const int64_t taps = f.weight.shape[2] * f.weight.shape[3];
    const int64_t pixels = f.out_shape[0] * f.out_shape[2] * f.out_shape[3];
    EXPECT_TRUE(dcn_test::matches_reference(g.input.data(), b.ref.input, f.input.shape, 4 * b.Kg * taps, tol))
        << "grad_input";
    EXPECT_TRUE(dcn_test::matches_reference(g.offset.data(), b.ref.offset, f.offset.shape, 4 * b.cpg * b.Kg, tol))
        << "grad_offset";
    if (f.has_mask)
        EXPECT_TRUE(dcn_test::matches_reference(g.mask.data(), b.ref.mask, f.mask.shape, 4 * b.cpg * b.Kg, tol))
            << "grad_mask";
    EXPECT_TRUE(dcn_test::matches_reference(g.weight.data(), b.ref.weight, f.weight.shape, pixels,
                                            tol_weight ? *tol_weight : tol))
        << "grad_weight";
    EXPECT_TRUE(dcn_test::matches_reference(g.bias.data(), b.ref.bias, {f.weight.shape[0]}, pixels, tol))
        << "grad_bias";
}

using dcn_test::DcnTest;
using dcn_test::isa_label;
using dcn_test::why_unusable;

// ---- every case, every CPU path, every dtype of the list --------------------------
// The inputs and grad_output rounded to the dtype first (dcn_test::round_to);
// every gradient within the dtype's tolerance (dcn_test::tolerance_for:
// float32 1e-5, float64 1e-12, 16-bit the float32 bound plus one rounding of
// each gradient, docs/operators.md "Precision of 16-bit storage").

using dcn_test::round_to;
using dcn_test::to_float;

template <typename H>
Grads<float> to_float(const Grads<H> &g) {
    return Grads<float>{to_float(g.input), to_float(g.offset), to_float(g.mask), to_float(g.weight),
                        to_float(g.bias)};
}

// The rounding of the dtype's storage (nullptr: float32 and float64 hold
// the float32 data exactly).
float (*rounding_of(dcn::DType t))(float) {
    if (t == dcn::DType::bfloat16) return &round_to<dcn::bfloat16_t>;
    if (t == dcn::DType::float16) return &round_to<dcn::float16_t>;
    return nullptr;
}

template <typename T>
bool bitwise_equal(const std::vector<T> &a, const std::vector<T> &b) {
    // (memcmp of an empty vector's null data is undefined: compare sizes first.)
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
void expect_bitwise(const Grads<T> &a, const Grads<T> &b, const std::string &what) {
    EXPECT_TRUE(bitwise_equal(a.input, b.input)) << "grad_input " << what;
    EXPECT_TRUE(bitwise_equal(a.offset, b.offset)) << "grad_offset " << what;
    EXPECT_TRUE(bitwise_equal(a.mask, b.mask)) << "grad_mask " << what;
    EXPECT_TRUE(bitwise_equal(a.weight, b.weight)) << "grad_weight " << what;
    EXPECT_TRUE(bitwise_equal(a.bias, b.bias)) << "grad_bias " << what;
}

// Runs the backward pass in `dtype` on `device` and checks every gradient;
// `twice`: a second run must give the same bits.
// The weight gradient's tolerance: with the path's rounded GEMM operands
// (the CPU path the last call ran; on a GPU, 16-bit columns, stored in the
// dtype: docs/operators.md), the term sums.
void check_in_dtype(const BackwardProblem &b, dcn::DType dtype, dcn::Device device = dcn::Device::cpu,
                    bool twice = false) {
    const dcn_test::Tolerance tol = dcn_test::tolerance_for(dtype, dcn_test::Tolerance{});
    auto check = [&](auto run) {
        const auto g = run();
        dcn_test::Tolerance tw = tol;
        if ((device == dcn::Device::cpu && dcn_test::rounds_gemm_operands(dcn::last_cpu_isa(), dtype)) ||
            (device != dcn::Device::cpu && dcn_test::is_storage16(dtype)))
            tw = tol.with_term_sums(dcn_test::unit_roundoff(dtype), weight_term_sums(b));
        expect_matches(g, b, tol, &tw);
        if (twice) expect_bitwise(run(), g, "second run");
    };
    dcn::visit_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        if constexpr (std::is_floating_point_v<T>)
            check([&] { return run_backward<T>(b, {}, device); });
        else
            check([&] { return to_float(run_backward<T>(b, {}, device)); });
    });
}

class BackwardCases : public DcnTest,
                      public ::testing::WithParamInterface<std::tuple<Case, CpuIsa, dcn::DType>> {};

TEST_P(BackwardCases, MatchesReference) {
    const Case &c = std::get<0>(GetParam());
    const CpuIsa isa = std::get<1>(GetParam());
    const dcn::DType dtype = std::get<2>(GetParam());
    const std::string why = dcn_test::why_not_own(isa, "deform_conv2d", {"backward_data", "backward_weight"}, dtype);
    if (!why.empty()) GTEST_SKIP() << why;
    const BackwardProblem b = make_backward(c, rounding_of(dtype));
    dcn::set_max_cpu_isa(isa);
    check_in_dtype(b, dtype);
    EXPECT_EQ(dcn::last_cpu_isa(), isa);
}

INSTANTIATE_TEST_SUITE_P(
    Edge, BackwardCases,
    ::testing::Combine(::testing::ValuesIn(all_cases()), ::testing::ValuesIn(dcn_test::all_cpu_paths()),
                       ::testing::ValuesIn(dcn_test::all_dtypes())),
    [](const ::testing::TestParamInfo<std::tuple<Case, CpuIsa, dcn::DType>> &info) {
        return std::get<0>(info.param).name + "_" + isa_label(std::get<1>(info.param)) + "_" +
               dcn::dtype_name(std::get<2>(info.param));
    });

// The ordinary convolution's gradients, from its own definition (no
// bilinear sampling): grad_input[c, iy, ix] += W[o, c, i, j] * gy[o, oy, ox]
// and grad_weight[o, c, i, j] += gy[o, oy, ox] * x[c, iy, ix] with
// iy = oy*s - pad + i*d inside the image.
void conv_backward_direct(const Tensor &x, const Tensor &w, const Tensor &gy, const dcn_ref::DeformConv2dParams &p,
                          std::vector<double> &gi, std::vector<double> &gw) {
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t K = w.shape[0], kH = w.shape[2], kW = w.shape[3], oH = gy.shape[2], oW = gy.shape[3];
    gi.assign(x.data.size(), 0.0);
    gw.assign(w.data.size(), 0.0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < K; ++o)
            for (int64_t oy = 0; oy < oH; ++oy)
                for (int64_t ox = 0; ox < oW; ++ox) {
                    const double g = gy.data[((n * K + o) * oH + oy) * oW + ox];
                    for (int64_t c = 0; c < C; ++c)
                        for (int64_t i = 0; i < kH; ++i)
                            for (int64_t j = 0; j < kW; ++j) {
                                const int64_t iy = oy * p.stride_h - p.pad_top + i * p.dilation_h;
                                const int64_t ix = ox * p.stride_w - p.pad_left + j * p.dilation_w;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                const size_t xi = static_cast<size_t>(((n * C + c) * H + iy) * W + ix);
                                const size_t wi = static_cast<size_t>(((o * C + c) * kH + i) * kW + j);
                                gi[xi] += w.data[wi] * g;
                                gw[wi] += g * x.data[xi];
                            }
                }
}

TEST_F(DcnTest, BackwardZeroOffsetsNoMaskIsExactlyConvolutionBackward) {
    for (const CpuIsa isa : dcn_test::usable_isas()) {
        Case c("zero_offsets_conv_backward");
        c.in(2, 7, 9, 10).wt(5, 3, 3).pads(1, 2, 0, 1).stride(2, 1).dil(1, 2).offs(Offsets::zero);
        BackwardProblem b = make_backward(c);
        // Dyadic data: products have denominators <= 2^9 and the sums stay
        // far below 2^14, so every evaluation order is exact in float32.
        std::mt19937 rng(5);
        b.fwd.input = dcn_test::dyadic_tensor(b.fwd.input.shape, rng, -2.0f, 2.0f, 8);
        b.fwd.weight = dcn_test::dyadic_tensor(b.fwd.weight.shape, rng, -1.0f, 1.0f, 8);
        b.grad_output = dcn_test::dyadic_tensor(b.grad_output.shape, rng, -1.0f, 1.0f, 8);
        std::vector<double> gi, gw;
        conv_backward_direct(b.fwd.input, b.fwd.weight, b.grad_output, b.fwd.p, gi, gw);
        dcn::set_max_cpu_isa(isa);
        const Grads<float> g = run_backward<float>(b);
        EXPECT_TRUE(dcn_test::matches_reference(g.input.data(), gi, b.fwd.input.shape, 1,
                                                dcn_test::Tolerance::exact()))
            << isa_label(isa);
        EXPECT_TRUE(dcn_test::matches_reference(g.weight.data(), gw, b.fwd.weight.shape, 1,
                                                dcn_test::Tolerance::exact()))
            << isa_label(isa);
    }
}

TEST_F(DcnTest, BackwardNonFiniteOffsetsGiveFiniteGradients) {
    Case c("nonfinite_backward");
    c.in(2, 6, 7, 8).wt(5, 3, 3).pad(1).og(2).offs(Offsets::nonfinite).with_mask();
    const BackwardProblem b = make_backward(c);
    for (const CpuIsa isa : dcn_test::usable_isas()) {
        dcn::set_max_cpu_isa(isa);
        const Grads<float> g = run_backward<float>(b);
        for (const auto *v : {&g.input, &g.offset, &g.mask, &g.weight, &g.bias})
            for (float e : *v) ASSERT_TRUE(std::isfinite(e)) << isa_label(isa);
        // Where an offset (dy or dx) is not finite, the sample is outside:
        // both of its offset gradients and its mask gradient are 0.
        const int64_t plane = b.fwd.out_shape[2] * b.fwd.out_shape[3];
        int64_t checked = 0;
        for (size_t i = 0; i < b.fwd.offset.data.size(); ++i) {
            if (std::isfinite(b.fwd.offset.data[i])) continue;
            const size_t pair = (i / static_cast<size_t>(plane)) & ~size_t{1};
            const size_t q = i % static_cast<size_t>(plane);
            EXPECT_EQ(g.offset[pair * plane + q], 0.0f);
            EXPECT_EQ(g.offset[(pair + 1) * plane + q], 0.0f);
            EXPECT_EQ(g.mask[pair / 2 * plane + q], 0.0f);
            ++checked;
        }
        EXPECT_GT(checked, 10);
        expect_matches(g, b, dcn_test::Tolerance{});
    }
}



// ---- GPU schedules: OpenCL on PoCL (how CI runs them), CUDA where a
// driver answers; every dtype the device has kernels in. ------------------------

std::vector<Case> gpu_cases() {
    std::vector<Case> r;
    for (const Case &c : all_cases())
        for (const char *name : {"basic_3x3", "no_mask_no_bias", "border", "border_W1_groups", "large_offsets_groups",
                                 "k2x5", "stride2_dilation2", "asym_padding", "groups3_offset_groups2", "batch3",
                                 "prime_C13_K11", "K33_groups3", "oW17", "nonfinite_offsets_mask_og2",
                                 "tiles_across_rows", "moderate_2x32x17x23_to_48"})
            if (c.name == name) r.push_back(c);
    return r;
}

class BackwardGpuCases : public DcnTest,
                         public ::testing::WithParamInterface<std::tuple<Case, dcn::Device, dcn::DType>> {};

TEST_P(BackwardGpuCases, MatchesReferenceAndIsDeterministic) {
    const auto &[c, device, dtype] = GetParam();
    std::string why;
    if (!dcn::device_usable(device, &why)) GTEST_SKIP() << dcn::device_name(device) << " not usable here: " << why;
    for (const char *direction : {"backward_data", "backward_weight"})
        if (!dcn::has_kernels(device, "deform_conv2d", direction, dtype))
            GTEST_SKIP() << "this build has no " << dcn::device_name(device) << " " << direction << " kernel in "
                         << dcn::dtype_name(dtype);
    check_in_dtype(make_backward(c, rounding_of(dtype)), dtype, device, true);
}

INSTANTIATE_TEST_SUITE_P(
    Gpu, BackwardGpuCases,
    ::testing::Combine(::testing::ValuesIn(gpu_cases()), ::testing::Values(dcn::Device::opencl, dcn::Device::cuda),
                       ::testing::ValuesIn(dcn_test::all_dtypes())),
    [](const ::testing::TestParamInfo<std::tuple<Case, dcn::Device, dcn::DType>> &info) {
        return std::get<0>(info.param).name + "_" + dcn::device_name(std::get<1>(info.param)) + "_" +
               dcn::dtype_name(std::get<2>(info.param));
    });

TEST(BackwardGpu, SubsetsOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    Case c("gpu_subsets");
    c.in(2, 8, 7, 9).wt(6, 3, 3).pad(1).with_mask();
    const BackwardProblem b = make_backward(c);
    Want only_offset;
    only_offset.input = only_offset.mask = only_offset.weight = only_offset.bias = false;
    const Grads<float> g = run_backward<float>(b, only_offset, dcn::Device::opencl);
    EXPECT_TRUE(dcn_test::matches_reference(g.offset.data(), b.ref.offset, b.fwd.offset.shape, 4 * 8 * 6));
    for (float e : g.input) ASSERT_TRUE(std::isnan(e));
    Want only_bias;
    only_bias.input = only_bias.offset = only_bias.mask = only_bias.weight = false;
    const Grads<float> gb = run_backward<float>(b, only_bias, dcn::Device::opencl);
    EXPECT_TRUE(dcn_test::matches_reference(gb.bias.data(), b.ref.bias, {6}, 2 * 63));
    for (float e : gb.weight) ASSERT_TRUE(std::isnan(e));
}

// The GPU path in chunks of images (runtime/src/deform_conv2d_gpu.h): one
// image a chunk gives the same bits as one chunk for all (the weight
// gradient summed over the images in the same order, the rest per image),
// forward and backward.
TEST(BackwardGpu, ChunksOfOneImageGiveTheSameBitsOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    Case c("gpu_chunks");
    c.in(3, 6, 7, 9).wt(4, 3, 3).pad(1).og(2).with_mask().with_bias();
    const BackwardProblem b = make_backward(c);
    const Problem &f = b.fwd;
    auto forward = [&] {
        std::vector<float> out(static_cast<size_t>(numel(f.out_shape)), NAN);
        std::optional<dcn::TensorView> mask = dcn::TensorView(f.mask.data.data(), f.mask.shape);
        std::optional<dcn::TensorView> bias = dcn::TensorView(f.bias.data.data(), f.bias.shape);
        dcn::DeformConv2dOptions o = options_of(f.p);
        o.device = dcn::Device::opencl;
        dcn::deform_conv2d(dcn::TensorView(f.input.data.data(), f.input.shape),
                           dcn::TensorView(f.offset.data.data(), f.offset.shape),
                           dcn::TensorView(f.weight.data.data(), f.weight.shape), mask, bias,
                           dcn::TensorView(out.data(), f.out_shape), o);
        return out;
    };
    const std::vector<float> out_one_chunk = forward();
    const Grads<float> one_chunk = run_backward<float>(b, {}, dcn::Device::opencl);
    const int64_t before = dcn::detail::set_gpu_columns_budget(1);  // one image a chunk
    const std::vector<float> out_chunks = forward();
    const Grads<float> chunks = run_backward<float>(b, {}, dcn::Device::opencl);
    dcn::detail::set_gpu_columns_budget(before);
    EXPECT_TRUE(dcn_test::matches_reference(out_chunks, f.reference(), f.out_shape, f.reduction_len()));
    EXPECT_TRUE(dcn_test::bitwise_equal(out_chunks, out_one_chunk, f.out_shape));
    expect_matches(chunks, b, dcn_test::Tolerance{});
    expect_bitwise(chunks, one_chunk, "one image a chunk");
}

// Host tensors whose last two dimensions are not back to back (a kernel's
// taps, an image's pixels): the GPU path copies them (runtime/src/flat_views.h)
// and gives the same bits as for contiguous tensors.
TEST(BackwardGpu, StridedHostTensorsOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    Case c("gpu_strided");
    c.in(2, 4, 6, 7).wt(5, 3, 3).pad(1).with_mask();
    const BackwardProblem b = make_backward(c);
    const Problem &f = b.fwd;
    dcn::DeformConv2dOptions o = options_of(f.p);
    o.device = dcn::Device::opencl;
    const dcn::TensorView x(f.input.data.data(), f.input.shape), off(f.offset.data.data(), f.offset.shape);
    std::optional<dcn::TensorView> mask = dcn::TensorView(f.mask.data.data(), f.mask.shape);
    // The weight with a padded kernel row, the output with padded rows.
    dcn_test::Strided w = dcn_test::embed(f.weight.shape, {0, 0, 0, 1}, &f.weight.data, 0.0f);
    dcn_test::Strided out = dcn_test::embed(f.out_shape, {0, 0, 0, 2}, nullptr, 7.0f);
    dcn::deform_conv2d(x, off, w.view(), mask, std::nullopt, out.view(), o);
    std::vector<float> out_flat(static_cast<size_t>(numel(f.out_shape)));
    dcn::deform_conv2d(x, off, dcn::TensorView(f.weight.data.data(), f.weight.shape), mask, std::nullopt,
                       dcn::TensorView(out_flat.data(), f.out_shape), o);
    EXPECT_TRUE(dcn_test::bitwise_equal(dcn_test::gather(out), out_flat, f.out_shape));
    EXPECT_TRUE(dcn_test::matches_reference(out_flat, f.reference(), f.out_shape, f.reduction_len()));
    // Backward: grad_output with padded rows, grad_weight with a padded kernel row.
    dcn_test::Strided gy = dcn_test::embed(b.grad_output.shape, {0, 0, 0, 1}, &b.grad_output.data, 0.0f);
    dcn_test::Strided gw = dcn_test::embed(f.weight.shape, {0, 0, 0, 2}, nullptr, 7.0f);
    std::vector<float> gx(f.input.data.size()), goff(f.offset.data.size()), gm(f.mask.data.size());
    dcn::DeformConv2dGradients g;
    g.input = dcn::TensorView(gx.data(), f.input.shape);
    g.offset = dcn::TensorView(goff.data(), f.offset.shape);
    g.mask = dcn::TensorView(gm.data(), f.mask.shape);
    g.weight = gw.view();
    dcn::deform_conv2d_backward(gy.view(), x, off, w.view(), mask, g, o);
    const Grads<float> flat = run_backward<float>(b, {}, dcn::Device::opencl);
    EXPECT_TRUE(dcn_test::bitwise_equal(dcn_test::gather(gw), flat.weight, f.weight.shape));
    EXPECT_TRUE(dcn_test::bitwise_equal(gx, flat.input, f.input.shape));
    EXPECT_TRUE(dcn_test::bitwise_equal(goff, flat.offset, f.offset.shape));
    EXPECT_TRUE(dcn_test::bitwise_equal(gm, flat.mask, f.mask.shape));
    // Nothing written outside the gradient's view.
    const std::vector<float> inside = dcn_test::gather(gw);
    EXPECT_EQ(std::count(gw.buffer.begin(), gw.buffer.end(), 7.0f) - std::count(inside.begin(), inside.end(), 7.0f),
              static_cast<int64_t>(gw.buffer.size()) - numel(f.weight.shape));
}

// grad_input on a GPU is a fixed-point sum (generators/fixed_point_sum.h):
// terms spanning 2^-28 .. 2^28 in one channel (56 binary orders: within the
// 2F - 26 = 62 that its two words hold exactly here, beyond the 18 one word
// would) give each element within a few float32 roundings of its own terms'
// magnitude, not only of the largest element's.
TEST(BackwardGpu, WideRangeGradOutputIsExactPerElementOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    Case c("gpu_wide_range");
    c.in(2, 6, 9, 11).wt(4, 3, 3).pad(1).og(2).offs(Offsets::random, 3.0f).with_mask();
    BackwardProblem b = make_backward(c);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> exponent(-28, 28), sign(0, 1);
    for (float &v : b.grad_output.data) v = std::ldexp(sign(rng) ? -1.0f : 1.0f, exponent(rng));
    refresh_reference(b);
    // Per element: |got - ref| <= 8 u * (the element's sum of |terms|).
    const Problem &f = b.fwd;
    const std::vector<double> sums = term_sums(b).input;
    const dcn_test::Tolerance per_element =
        dcn_test::Tolerance{1e-5, 0.0, 0.0, 0.0}.with_term_sums(8 * std::ldexp(1.0, -24), sums);
    const Grads<float> g = run_backward<float>(b, {}, dcn::Device::opencl);
    EXPECT_TRUE(dcn_test::matches_reference(g.input.data(), b.ref.input, f.input.shape, 4 * b.Kg * 9, per_element));
    expect_bitwise(run_backward<float>(b, {}, dcn::Device::opencl), g, "second run");
}

// Non-finite grad_output: grad_input on a GPU (fixed-point sums, the
// non-finite terms counted apart) has the IEEE sums' NaN / +-Inf / finite
// pattern, the CPU kernel's (sequential float sums), element for element.
TEST(BackwardGpu, NonFiniteGradOutputGivesTheIeeePatternOnOpenCL) {
    std::string why;
    if (!dcn::device_usable(dcn::Device::opencl, &why)) GTEST_SKIP() << "OpenCL not usable here: " << why;
    Case c("gpu_nonfinite_grad_output");
    c.in(2, 4, 8, 9).wt(3, 3, 3).pad(1).with_mask();
    BackwardProblem b = make_backward(c);
    const float inf = std::numeric_limits<float>::infinity();
    const float specials[] = {inf, -inf, std::numeric_limits<float>::quiet_NaN()};
    for (size_t i = 0; i < b.grad_output.data.size(); i += 37) b.grad_output.data[i] = specials[(i / 37) % 3];
    const Grads<float> cpu = run_backward<float>(b);
    const Grads<float> gpu = run_backward<float>(b, {}, dcn::Device::opencl);
    auto kind = [](float v) { return std::isnan(v) ? 0 : std::isinf(v) ? (v > 0 ? 1 : 2) : 3; };
    int64_t nonfinite = 0, finite = 0;
    for (size_t i = 0; i < cpu.input.size(); ++i) {
        ASSERT_EQ(kind(gpu.input[i]), kind(cpu.input[i])) << "grad_input element " << i << ": gpu " << gpu.input[i]
                                                          << ", cpu " << cpu.input[i];
        if (kind(cpu.input[i]) == 3) {
            EXPECT_NEAR(gpu.input[i], cpu.input[i], 1e-5 * (1.0 + std::fabs(cpu.input[i]))) << i;
            ++finite;
        } else {
            ++nonfinite;
        }
    }
    EXPECT_GT(nonfinite, 10);
    EXPECT_GT(finite, 10);
}

TEST_F(DcnTest, BackwardIsBitwiseDeterministicOverRunsAndThreadCounts) {
    Case c("determinism");
    c.in(2, 24, 13, 15).wt(20, 3, 3).pad(1).og(2).offs(Offsets::random, 4.0f).with_mask();
    const BackwardProblem b = make_backward(c);
    dcn::set_num_threads(1);
    const Grads<float> first = run_backward<float>(b);
    expect_matches(first, b, dcn_test::Tolerance{});
    for (int threads : {1, 2, 5}) {
        dcn::set_num_threads(threads);
        for (int run = 0; run < 3; ++run)
            expect_bitwise(run_backward<float>(b), first,
                           std::to_string(threads) + " threads, run " + std::to_string(run));
    }
    dcn::set_num_threads(1);
    const Grads<double> first64 = run_backward<double>(b);
    for (int threads : {2, 5}) {
        dcn::set_num_threads(threads);
        expect_bitwise(run_backward<double>(b), first64, "float64, " + std::to_string(threads) + " threads");
    }
}

// The CPU data gradients in chunks of images (runtime/src/deform_conv2d_backward.cpp):
// one image a call, two, and all in one call give the same bits, and every
// chunking matches the reference (a last chunk shorter than the others
// included: 3 images in chunks of 2).
TEST_F(DcnTest, BackwardCpuChunksOfImagesGiveTheSameBits) {
    Case c("cpu_chunks");
    c.in(3, 12, 7, 9).wt(8, 3, 3).pad(1).og(2).offs(Offsets::random, 3.0f).with_mask();
    const BackwardProblem b = make_backward(c);
    const Grads<float> all = run_backward<float>(b);
    expect_matches(all, b, dcn_test::Tolerance{});
    // One image's grad_columns: C * taps * pixels float32 values.
    const int64_t image_bytes = int64_t(12) * 9 * 7 * 9 * 4;
    for (int64_t images : {1, 2}) {
        const int64_t before = dcn::detail::set_cpu_grad_columns_budget(images * image_bytes);
        const Grads<float> chunks = run_backward<float>(b);
        dcn::detail::set_cpu_grad_columns_budget(before);
        expect_matches(chunks, b, dcn_test::Tolerance{});
        expect_bitwise(chunks, all, std::to_string(images) + " image(s) a call");
    }
}

TEST_F(DcnTest, BackwardWritesOnlyTheGradientsAskedFor) {
    Case c("subsets");
    c.in(2, 8, 7, 9).wt(6, 3, 3).pad(1).with_mask();
    const BackwardProblem b = make_backward(c);
    auto all_nan = [](const std::vector<float> &v) {
        for (float e : v)
            if (!std::isnan(e)) return false;
        return !v.empty();
    };
    {
        Want w;
        w.input = w.mask = w.weight = w.bias = false;
        const Grads<float> g = run_backward<float>(b, w);
        EXPECT_TRUE(dcn_test::matches_reference(g.offset.data(), b.ref.offset, b.fwd.offset.shape, 4 * 8 * 6));
        EXPECT_TRUE(all_nan(g.input) && all_nan(g.mask) && all_nan(g.weight) && all_nan(g.bias));
    }
    {
        Want w;
        w.offset = w.mask = w.weight = w.bias = false;
        const Grads<float> g = run_backward<float>(b, w);
        EXPECT_TRUE(dcn_test::matches_reference(g.input.data(), b.ref.input, b.fwd.input.shape, 4 * 6 * 9));
        EXPECT_TRUE(all_nan(g.offset) && all_nan(g.mask) && all_nan(g.weight) && all_nan(g.bias));
    }
    {
        Want w;
        w.input = w.offset = w.weight = w.bias = false;
        const Grads<float> g = run_backward<float>(b, w);
        EXPECT_TRUE(dcn_test::matches_reference(g.mask.data(), b.ref.mask, b.fwd.mask.shape, 4 * 8 * 6));
        EXPECT_TRUE(all_nan(g.input) && all_nan(g.offset) && all_nan(g.weight) && all_nan(g.bias));
    }
    {
        Want w;
        w.input = w.offset = w.mask = w.weight = false;
        const Grads<float> g = run_backward<float>(b, w);
        EXPECT_TRUE(dcn_test::matches_reference(g.bias.data(), b.ref.bias, {6}, 2 * 63));
        EXPECT_TRUE(all_nan(g.input) && all_nan(g.offset) && all_nan(g.mask) && all_nan(g.weight));
    }
    {
        Want w;
        w.input = w.offset = w.mask = w.bias = false;
        const Grads<float> g = run_backward<float>(b, w);
        EXPECT_TRUE(dcn_test::matches_reference(g.weight.data(), b.ref.weight, b.fwd.weight.shape, 2 * 63));
        EXPECT_TRUE(all_nan(g.input) && all_nan(g.offset) && all_nan(g.mask) && all_nan(g.bias));
    }
}

TEST_F(DcnTest, BackwardWithoutImagesGivesZeroWeightGradients) {
    Case c("batch0");
    c.in(1, 5, 6, 7).wt(4, 3, 3).pad(1).with_mask();
    BackwardProblem b = make_backward(c);
    Problem &f = b.fwd;
    for (Tensor *t : {&f.input, &f.offset, &f.mask, &b.grad_output}) {
        t->shape[0] = 0;
        t->data.clear();
    }
    f.out_shape[0] = 0;
    for (dcn::Device device : {dcn::Device::cpu, dcn::Device::opencl}) {
        std::string why;
        if (!dcn::device_usable(device, &why)) continue;
        SCOPED_TRACE(dcn::device_name(device));
        const Grads<float> g = run_backward<float>(b, {}, device);
        for (float v : g.weight) EXPECT_EQ(v, 0.0f);
        for (float v : g.bias) EXPECT_EQ(v, 0.0f);
    }
}

TEST_F(DcnTest, BackwardRefusesBadArgumentsNamingThem) {
    std::vector<float> x(1 * 4 * 6 * 7, 0.5f), off(1 * 18 * 6 * 7, 0.25f), w(3 * 4 * 9, 0.5f), m(1 * 9 * 6 * 7, 1.0f),
        gy(1 * 3 * 6 * 7, 1.0f), gi(x.size()), goff(off.size()), gw(w.size()), gm(m.size());
    const dcn::TensorView X(x.data(), {1, 4, 6, 7}), O(off.data(), {1, 18, 6, 7}), Wt(w.data(), {3, 4, 3, 3}),
        M(m.data(), {1, 9, 6, 7}), GY(gy.data(), {1, 3, 6, 7});
    dcn::DeformConv2dOptions opt;
    opt.set_padding(1, 1);
    auto call = [&](const dcn::TensorView &grad_output, const std::optional<dcn::TensorView> &mask,
                    const dcn::DeformConv2dGradients &g) {
        dcn::deform_conv2d_backward(grad_output, X, O, Wt, mask, g, opt);
    };
    using dcn_test::check_error;
    const std::string fn = "deform_conv2d_backward";
    dcn::DeformConv2dGradients g;
    g.input = dcn::TensorView(gi.data(), {1, 4, 6, 6});
    EXPECT_TRUE(check_error([&] { call(GY, M, g); }, {{"grad_input"}, {"[1, 4, 6, 7]", "[1, 4, 6, 6]"}, {}, {}, fn}));
    g = {};
    g.mask = dcn::TensorView(gm.data(), {1, 9, 6, 7});
    EXPECT_TRUE(check_error([&] { call(GY, std::nullopt, g); }, {{"grad_mask"}, {"no mask"}, {}, {}, fn}));
    g = {};
    g.weight = dcn::TensorView(gw.data(), {3, 4, 3, 3});
    EXPECT_TRUE(check_error([&] { call(dcn::TensorView(gy.data(), {1, 3, 6, 6}), M, g); },
                            {{"grad_output"}, {"[1, 3, 6, 7]", "[1, 3, 6, 6]"}, {}, {}, fn}));
    std::vector<double> gw64(w.size());
    g.weight = dcn::TensorView(gw64.data(), {3, 4, 3, 3});
    EXPECT_TRUE(check_error([&] { call(GY, M, g); }, {{"grad_weight"}, {"float64", "float32"}, {}, {}, fn}));
    g = {};
    g.input = dcn::TensorView(x.data(), {1, 4, 6, 7});
    EXPECT_TRUE(check_error([&] { call(GY, M, g); }, {{"grad_input"}, {"overlaps the input 'input'"}, {}, {}, fn}));
    g = {};
    g.offset = dcn::TensorView(goff.data(), {1, 18, 6, 7});
    g.mask = dcn::TensorView(goff.data() + 5, {1, 9, 6, 7});
    EXPECT_TRUE(check_error([&] { call(GY, M, g); }, {{"grad_offset"}, {"overlaps grad_mask"}, {}, {}, fn}));
    // None asked for: nothing to do, no error.
    EXPECT_NO_THROW(call(GY, M, {}));
}

}  // namespace
