// 16-bit storage (bfloat16, float16; issue 18): the public types'
// conversions against an independent oracle, NaN / Inf offsets in 16 bits,
// mixed dtypes, 16-bit RoI tables. (The edge-case matrices run in every
// dtype of the list in the operators' own suites: test_deform_conv2d.cpp,
// test_deform_conv2d_backward.cpp, test_roi_pool_backward.cpp.)
// Non-finite offsets keep their rule; the gradients and the RoI poolings'
// 16-bit suites are in test_deform_conv2d_backward.cpp and
// test_roi_pool_backward.cpp.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cpu_paths.h"
#include "deform_conv2d_cases.h"
#include "reference/deform_conv2d_ref.h"
#include "test_support.h"

namespace {

using dcn::CpuIsa;
using dcn_test::DcnTest;
using dcn_test::isa_label;
using dcn_test::why_unusable;
using namespace dcn_conv_cases;

// ---- the storage types ------------------------------------------------------

// Every finite value of a 16-bit type, sorted, from its bits through an
// independent decoding (sign, exponent, fraction in double).
double decode(uint16_t bits, int exponent_bits, int fraction_bits) {
    const int bias = (1 << (exponent_bits - 1)) - 1;
    const int e = (bits >> fraction_bits) & ((1 << exponent_bits) - 1);
    const int f = bits & ((1 << fraction_bits) - 1);
    const double sign = (bits >> 15) ? -1.0 : 1.0;
    if (e == (1 << exponent_bits) - 1) return f ? std::nan("") : sign * INFINITY;
    if (e == 0) return sign * std::ldexp(double(f), 1 - bias - fraction_bits);
    return sign * std::ldexp(double(f + (1 << fraction_bits)), e - bias - fraction_bits);
}

struct Format {
    const char *name;
    int exponent_bits, fraction_bits;
};

template <typename H>
void check_conversions(const Format &fmt) {
    SCOPED_TRACE(fmt.name);
    // to_float is exact, and from_float(to_float(b)) == b for every non-NaN b.
    std::vector<std::pair<double, uint16_t>> finite;
    for (uint32_t b = 0; b < 65536; ++b) {
        H h;
        h.bits = uint16_t(b);
        const double want = decode(uint16_t(b), fmt.exponent_bits, fmt.fraction_bits);
        const float got = h.to_float();
        if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(got)) << b;
            ASSERT_TRUE(std::isnan(H::from_float(got).to_float())) << b;
            continue;
        }
        ASSERT_EQ(double(got), want) << b;
        ASSERT_EQ(H::from_float(got).bits, uint16_t(b)) << b;
        if (std::isfinite(want) && !(b >> 15)) finite.push_back({want, uint16_t(b)});  // >= +0
    }
    std::sort(finite.begin(), finite.end());
    const double max_finite = finite.back().first;
    const double next_up = std::ldexp(1.0, int(std::ilogb(max_finite)) + 1);  // the first value past the range
    // Round to nearest, ties to even, on random floats and on the midpoints.
    std::mt19937 rng(7);
    std::vector<float> probes;
    for (int i = 0; i < 200000; ++i) {
        uint32_t u = rng();
        float f;
        std::memcpy(&f, &u, sizeof f);
        if (std::isfinite(f)) probes.push_back(f);
    }
    for (size_t i = 0; i + 1 < finite.size(); ++i)
        probes.push_back(float(0.5 * (finite[i].first + finite[i + 1].first)));  // exact in float
    for (const float f : probes) {
        const double a = std::fabs(double(f));
        const H h = H::from_float(f);
        double want;
        uint16_t want_bits;
        if (a >= 0.5 * (max_finite + next_up)) {
            want = INFINITY;
            want_bits = uint16_t(0x7c00u);
        } else {
            auto hi = std::lower_bound(finite.begin(), finite.end(), std::make_pair(a, uint16_t(0)));
            if (hi == finite.end()) hi = finite.end() - 1;
            auto lo = hi == finite.begin() ? hi : hi - 1;
            const double dlo = a - lo->first, dhi = hi->first - a;
            auto pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo->second & 1u) ? hi : lo);
            want = pick->first;
            want_bits = pick->second;
        }
        ASSERT_EQ(double(std::fabs(h.to_float())), want) << "from_float(" << f << ")";
        if (std::isfinite(want)) ASSERT_EQ(h.bits & 0x7fffu, want_bits) << f;
        ASSERT_EQ(std::signbit(h.to_float()), std::signbit(f)) << f;
    }
    EXPECT_TRUE(std::isinf(H::from_float(INFINITY).to_float()));
    EXPECT_TRUE(std::isnan(H::from_float(std::nanf("")).to_float()));
}

TEST(Storage16, BFloat16ConversionsRoundToNearestEven) {
    check_conversions<dcn::bfloat16_t>({"bfloat16", 8, 7});
}
TEST(Storage16, Float16ConversionsRoundToNearestEven) { check_conversions<dcn::float16_t>({"float16", 5, 10}); }

TEST(Storage16, TheTypesAreInTheList) {
    EXPECT_EQ(dcn::dtype_of<dcn::bfloat16_t>::value, dcn::DType::bfloat16);
    EXPECT_EQ(dcn::dtype_of<dcn::float16_t>::value, dcn::DType::float16);
    EXPECT_EQ(dcn::dtype_size(dcn::DType::bfloat16), 2u);
    EXPECT_EQ(dcn::dtype_size(dcn::DType::float16), 2u);
    EXPECT_STREQ(dcn::dtype_name(dcn::DType::bfloat16), "bfloat16");
}

// ---- deform_conv2d forward ----------------------------------------------------

// A storage type: its C++ type and unit roundoff.
template <typename H>
struct Storage;
template <>
struct Storage<dcn::bfloat16_t> {
    static constexpr double u = 1.0 / 256;  // 2^-8
};
template <>
struct Storage<dcn::float16_t> {
    static constexpr double u = 1.0 / 2048;  // 2^-11
};

template <typename H>
std::vector<H> to_storage(const std::vector<float> &v) {
    std::vector<H> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = H::from_float(v[i]);
    return h;
}

template <typename H>
void round_to(dcn_ref::Tensor &t) {
    for (float &f : t.data) f = H::from_float(f).to_float();
}

// The problem with every input rounded to H; the kernel's output (as float).
template <typename H>
std::vector<float> run_storage16(Problem &pr) {
    for (dcn_ref::Tensor *t : {&pr.input, &pr.offset, &pr.weight, &pr.mask, &pr.bias}) round_to<H>(*t);
    const std::vector<H> x = to_storage<H>(pr.input.data), off = to_storage<H>(pr.offset.data),
                         w = to_storage<H>(pr.weight.data), m = to_storage<H>(pr.mask.data),
                         b = to_storage<H>(pr.bias.data);
    std::vector<H> out(size_t(dcn_test::numel(pr.out_shape)), H::from_float(std::nanf("")));
    std::optional<dcn::TensorView> mask, bias;
    if (pr.has_mask) mask = dcn::TensorView(m.data(), pr.mask.shape);
    if (pr.has_bias) bias = dcn::TensorView(b.data(), pr.bias.shape);
    dcn::deform_conv2d(dcn::TensorView(x.data(), pr.input.shape), dcn::TensorView(off.data(), pr.offset.shape),
                       dcn::TensorView(w.data(), pr.weight.shape), mask, bias,
                       dcn::TensorView(out.data(), pr.out_shape), options_of(pr.p));
    std::vector<float> f(out.size());
    for (size_t i = 0; i < out.size(); ++i) f[i] = out[i].to_float();
    return f;
}

enum class Half { bfloat16, float16 };

const char *half_name(Half h) { return h == Half::bfloat16 ? "bfloat16" : "float16"; }


// NaN / Inf / huge offsets stored in 16 bits still put their samples outside.
TEST_F(DcnTest, Storage16NonFiniteOffsetsContributeZero) {
    Problem pr = make_problem(Case("nonfinite16").in(1, 3, 5, 6).wt(2, 3, 3).pad(1).with_bias());
    for (size_t i = 0; i < pr.offset.data.size(); i += 3)
        pr.offset.data[i] = (i / 3) % 3 == 0 ? std::nanf("") : ((i / 3) % 3 == 1 ? INFINITY : -60000.0f);
    for (CpuIsa isa : dcn_test::usable_isas()) {
        SCOPED_TRACE(isa_label(isa));
        for (Half h : {Half::bfloat16, Half::float16}) {
            SCOPED_TRACE(half_name(h));
            Problem q = pr;
            dcn::set_max_cpu_isa(isa);
            const std::vector<float> out =
                h == Half::bfloat16 ? run_storage16<dcn::bfloat16_t>(q) : run_storage16<dcn::float16_t>(q);
            const dcn::DType dtype = h == Half::bfloat16 ? dcn::DType::bfloat16 : dcn::DType::float16;
            EXPECT_TRUE(dcn_test::matches_reference(out, q.reference(), q.out_shape, q.reduction_len(),
                                                    q.tolerance_on(dtype, dcn::last_cpu_isa())));
        }
    }
}

// Mixed dtypes are refused naming the argument; a 16-bit RoI table is read
// as 16-bit values (not past its end as float32), on the CPU and on each GPU
// device with 16-bit kernels; a device without them (CUDA, so far) says so.
TEST(Storage16, MixedDtypesRoiTablesAndMissingKernels) {
    std::vector<dcn::bfloat16_t> x(1 * 2 * 4 * 4), off(1 * 2 * 4 * 4), y(1 * 2 * 4 * 4);
    std::vector<float> w(2 * 2, 1.0f);
    try {
        dcn::deform_conv2d(dcn::TensorView(x.data(), {1, 2, 4, 4}), dcn::TensorView(off.data(), {1, 2, 4, 4}),
                           dcn::TensorView(w.data(), {2, 2, 1, 1}), std::nullopt, std::nullopt,
                           dcn::TensorView(y.data(), {1, 2, 4, 4}));
        ADD_FAILURE() << "no error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "weight") << e.what();
        EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
    }
    // One RoI [0, 0, 3, 3] over an image of ones: every bin is exactly 1.
    const dcn::float16_t one = dcn::float16_t::from_float(1.0f), three = dcn::float16_t::from_float(3.0f);
    std::vector<dcn::float16_t> rois = {dcn::float16_t{}, dcn::float16_t{}, dcn::float16_t{}, three, three};
    std::vector<dcn::float16_t> in(2 * 4 * 4, one), out(2 * 2 * 2, dcn::float16_t::from_float(std::nanf("")));
    dcn::DeformRoiPoolOptions o;
    o.output_size = {2, 2};
    dcn::deform_roi_pool(dcn::TensorView(in.data(), {1, 2, 4, 4}), dcn::TensorView(rois.data(), {1, 5}), std::nullopt,
                         std::nullopt, dcn::TensorView(out.data(), {1, 2, 2, 2}), o);
    for (const dcn::float16_t v : out) EXPECT_EQ(v.to_float(), 1.0f);
    for (dcn::Device d : {dcn::Device::opencl, dcn::Device::cuda}) {
        std::string why;
        if (!dcn::device_usable(d, &why)) continue;
        SCOPED_TRACE(dcn::device_name(d));
        o.device = d;
        std::fill(out.begin(), out.end(), dcn::float16_t::from_float(std::nanf("")));
        auto run = [&] {
            dcn::deform_roi_pool(dcn::TensorView(in.data(), {1, 2, 4, 4}), dcn::TensorView(rois.data(), {1, 5}),
                                 std::nullopt, std::nullopt, dcn::TensorView(out.data(), {1, 2, 2, 2}), o);
        };
        if (dcn::has_kernels(d, "deform_roi_pool", "forward", dcn::DType::float16)) {
            run();
            for (const dcn::float16_t v : out) EXPECT_EQ(v.to_float(), 1.0f);
            continue;
        }
        try {
            run();
            ADD_FAILURE() << "no error";
        } catch (const dcn::Error &e) {
            EXPECT_NE(std::string(e.what()).find("_f16_"), std::string::npos) << e.what();
            EXPECT_EQ(e.argument(), "device") << e.what();
        }
    }
}

// ---- the kernels' own conversions ---------------------------------------------
// Every 16-bit pattern a through a 1x1 convolution with two outputs:
// y0 = 1*a + 0*b must give a back (widening exact, narrowing exact on
// representable values: subnormals, the largest finite, Inf, NaN stays
// NaN) and y1 = 1*a + 1*b the float32 sum rounded once to nearest even
// (ties, overflow to Inf at 65520, results in the subnormal range), bit for
// bit what the public type's from_float (checked against the oracle above)
// gives. b shares a's sign or not and lies 0-12 binades below, so that many
// sums are ties. Each pair is its own 1x1 image (a batch of 65536), so no
// sample has a neighbour inside the image (a corner of weight 0 inside the
// image is read: 0 * Inf = NaN, docs/operators.md). On every CPU path and
// on every GPU device with 16-bit kernels (OpenCL converts with integer
// operations: generators/storage16.h). On avx512_bf16 the GEMM is
// vdpbf16ps, which reads bfloat16 subnormals as 0 and flushes a float32
// result below 2^-126 to 0 (docs/operators.md): expected so there.
template <typename H>
void check_kernel_conversions(int fraction_bits, dcn::Device device, bool flushes, const std::string &where) {
    SCOPED_TRACE(where);
    const int64_t n = 65536;  // every pattern once
    std::vector<H> x(2 * n), off(2 * n), y(2 * n);
    std::mt19937 rng(11);
    const int exponent_bits = 15 - fraction_bits;
    for (uint32_t i = 0; i < n; ++i) {
        H a, b;
        a.bits = uint16_t(i);
        const int ea = int(i >> fraction_bits) & ((1 << exponent_bits) - 1);
        const int eb = std::max(0, std::min(ea, (1 << exponent_bits) - 2) - int(rng() % 13));
        b.bits = uint16_t(((rng() & 1u) << 15) | (uint32_t(eb) << fraction_bits) | (rng() & ((1u << fraction_bits) - 1)));
        x[2 * i] = a;  // (n, 2, 1, 1)
        x[2 * i + 1] = b;
    }
    std::vector<H> w = {H::from_float(1), H::from_float(0), H::from_float(1), H::from_float(1)};  // (2, 2, 1, 1)
    dcn::DeformConv2dOptions o;
    o.device = device;
    dcn::deform_conv2d(dcn::TensorView(x.data(), {n, 2, 1, 1}), dcn::TensorView(off.data(), {n, 2, 1, 1}),
                       dcn::TensorView(w.data(), {2, 2, 1, 1}), std::nullopt, std::nullopt,
                       dcn::TensorView(y.data(), {n, 2, 1, 1}), o);
    const auto flush = [&](float v) { return flushes && std::fabs(v) < std::ldexp(1.0f, -126) ? 0.0f : v; };
    int bad_copy = 0, bad_sum = 0;
    for (uint32_t i = 0; i < n; ++i) {
        const float a = flush(x[2 * i].to_float()), b = flush(x[2 * i + 1].to_float());
        const float y0 = y[2 * i].to_float(), y1 = y[2 * i + 1].to_float();
        // (+0 + -0 is +0: zeros compare by value.)
        if (!(std::isnan(a) ? std::isnan(y0) : y0 == a) && bad_copy++ < 5)
            ADD_FAILURE() << "copy of bits " << i << " (" << a << ") gave " << y0;
        const H want = H::from_float(flush(a + b));
        const bool ok = std::isnan(a) ? std::isnan(y1) : (y[2 * i + 1].bits == want.bits || (y1 == 0 && want.to_float() == 0));
        if (!ok && bad_sum++ < 5)
            ADD_FAILURE() << a << " + " << b << " gave bits " << y[2 * i + 1].bits << ", want " << want.bits;
    }
    EXPECT_EQ(bad_copy, 0);
    EXPECT_EQ(bad_sum, 0);
}

TEST_F(DcnTest, Storage16KernelConversionsRoundToNearestEven) {
    for (CpuIsa isa : dcn_test::usable_isas()) {
        dcn::set_max_cpu_isa(isa);
        const bool flushes = dcn_test::rounds_gemm_operands(isa, dcn::DType::bfloat16);
        check_kernel_conversions<dcn::bfloat16_t>(7, dcn::Device::cpu, flushes, isa_label(isa));
        check_kernel_conversions<dcn::float16_t>(10, dcn::Device::cpu, false, isa_label(isa));
    }
    dcn::set_max_cpu_isa(std::nullopt);
    for (dcn::Device d : {dcn::Device::opencl, dcn::Device::cuda}) {
        if (!dcn::device_usable(d)) continue;
        if (dcn::has_kernels(d, "deform_conv2d", "forward", dcn::DType::bfloat16))
            check_kernel_conversions<dcn::bfloat16_t>(7, d, false, dcn::device_name(d));
        if (dcn::has_kernels(d, "deform_conv2d", "forward", dcn::DType::float16))
            check_kernel_conversions<dcn::float16_t>(10, d, false, dcn::device_name(d));
    }
}

}  // namespace
