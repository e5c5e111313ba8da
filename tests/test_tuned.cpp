// Tuned shape classes (schedules/tuned/*.json, compiled by cmake/DcnTuned.cmake).
//
// Every class compiled into this build runs, through the public API, for a
// shape inside its ranges on its CPU path, and its result matches the
// independent reference; a shape outside every class runs the default
// schedule; DCN_TUNED=0 turns the classes off. The class tables are read
// from the generated headers, so the test follows whatever files the build
// was configured with (none: the class tests are skipped).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "dcn/dcn.h"
#include "reference/deform_conv2d_ref.h"
#include "reference/deform_psroi_pool_ref.h"
#include "reference/deform_roi_pool_ref.h"
#include "test_support.h"

#include "kernel_table.h"

namespace {

using dcn_test::matches_reference;
using dcn_test::random_tensor;

struct TunedClass {
    std::string name;
    dcn::CpuIsa isa;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    bool within(const std::vector<int64_t> &f) const {
        for (size_t i = 0; i < f.size(); i++)
            if (f[i] < ranges[i].first || f[i] > ranges[i].second) return false;
        return true;
    }
};

// The tuned classes of one float32 forward kernel variant, from the
// runtime's kernel table (generated from the registry).
std::vector<TunedClass> classes_of(dcn::detail::Op op, unsigned variant, int features) {
    std::vector<TunedClass> out;
    const dcn::detail::KernelEntry *k =
        dcn::detail::find_kernel(op, dcn::detail::Direction::forward, dcn::DType::float32, variant);
    if (!k || !k->tuned) return out;
    for (const dcn::detail::TunedKernel *table = k->tuned; table->name; ++table) {
        TunedClass c{table->name, static_cast<dcn::CpuIsa>(table->isa), {}};
        for (int i = 0; i < features; i++) c.ranges.push_back({table->ranges[i][0], table->ranges[i][1]});
        out.push_back(c);
    }
    return out;
}

// The smallest value >= lo (and >= 1) that is a multiple of `step`.
int64_t at_least(int64_t lo, int64_t step) { return std::max<int64_t>(1, (lo + step - 1) / step); }

// Runs `body` with the CPU path capped at the class's, or says why not.
template <typename Body>
void on_path(const TunedClass &c, Body body) {
    if (!dcn::cpu_supports(c.isa)) {
        std::printf("[  SKIPPED ] class %s: this CPU cannot run %s\n", c.name.c_str(), dcn::cpu_isa_name(c.isa));
        return;
    }
    dcn::set_max_cpu_isa(c.isa);
    body();
    dcn::set_max_cpu_isa(std::nullopt);
}

bool tuned_enabled() {
    const char *env = std::getenv("DCN_TUNED");
    return !(env && std::string(env) == "0");
}

// ---- deform_conv2d ------------------------------------------------------------

struct ConvShape {
    int64_t C, H, W, K, k;
};

// A shape whose features (K, C*k*k, oH*oW) lie at the low corner of the
// class's ranges: 3x3 with padding 1 (oH = H), else 1x1.
ConvShape conv_shape_for(const TunedClass &c) {
    ConvShape s{};
    s.K = std::max<int64_t>(c.ranges[0].first, 1);
    s.k = at_least(c.ranges[1].first, 9) * 9 <= c.ranges[1].second ? 3 : 1;
    s.C = at_least(c.ranges[1].first, s.k * s.k);
    const int64_t pixels = std::max<int64_t>(c.ranges[2].first, 1);
    s.H = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(pixels))));
    s.W = s.H;
    if (s.H * s.W > c.ranges[2].second) s.H = 1, s.W = pixels;
    return s;
}

// One DCN(v2) call through the API; checks the schedule that ran and the result.
void check_conv(const ConvShape &s, bool mask, bool bias, const std::string &expected_schedule) {
    std::mt19937 rng(7);
    const int64_t pad = s.k / 2, taps = s.k * s.k;
    auto x = random_tensor({1, s.C, s.H, s.W}, rng);
    auto off = random_tensor({1, 2 * taps, s.H, s.W}, rng, -2.0f, 2.0f);
    auto w = random_tensor({s.K, s.C, s.k, s.k}, rng, -0.1f, 0.1f);
    auto m = random_tensor({1, taps, s.H, s.W}, rng, 0.0f, 1.0f);
    auto b = random_tensor({s.K}, rng);
    std::vector<float> y(static_cast<size_t>(s.K * s.H * s.W));
    dcn_test::poison(y);
    dcn::DeformConv2dOptions opt;
    opt.set_padding(static_cast<int>(pad), static_cast<int>(pad));
    auto view = [](dcn_ref::Tensor &t) { return dcn::TensorView(t.data.data(), t.shape); };
    dcn::deform_conv2d(view(x), view(off), view(w), mask ? std::optional(view(m)) : std::nullopt,
                       bias ? std::optional(view(b)) : std::nullopt, dcn::TensorView(y.data(), {1, s.K, s.H, s.W}),
                       opt);
    EXPECT_EQ(std::string(dcn::last_cpu_schedule()), expected_schedule);
    dcn_ref::DeformConv2dParams p;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = static_cast<int>(pad);
    const auto ref = dcn_ref::deform_conv2d(x, off, w, mask ? &m : nullptr, bias ? &b : nullptr, p);
    EXPECT_TRUE(matches_reference(y, ref, {1, s.K, s.H, s.W}, s.C * taps))
        << "schedule " << expected_schedule << ", mask " << mask << ", bias " << bias;
}

struct ConvVariant {
    bool mask, bias;
    std::vector<TunedClass> classes;
};

std::vector<ConvVariant> conv_variants() {
    using namespace dcn::detail::flag;
    const auto op = dcn::detail::Op::deform_conv2d;
    return {{false, false, classes_of(op, 0, 3)},
            {true, false, classes_of(op, deform_conv2d_with_mask, 3)},
            {false, true, classes_of(op, deform_conv2d_with_bias, 3)},
            {true, true, classes_of(op, deform_conv2d_with_mask | deform_conv2d_with_bias, 3)}};
}

TEST(TunedSchedules, DeformConv2dClassesRunAndMatchReference) {
    if (!tuned_enabled()) GTEST_SKIP() << "DCN_TUNED=0";
    int n = 0;
    for (const ConvVariant &v : conv_variants()) {
        for (const TunedClass &c : v.classes) {
            const ConvShape s = conv_shape_for(c);
            ASSERT_TRUE(c.within({s.K, s.C * s.k * s.k, s.H * s.W})) << "no test shape inside class " << c.name;
            SCOPED_TRACE("class " + c.name + ": 1x" + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
                         std::to_string(s.W) + " -> " + std::to_string(s.K) + ", " + std::to_string(s.k) + "x" +
                         std::to_string(s.k));
            on_path(c, [&] { check_conv(s, v.mask, v.bias, c.name); });
            n++;
        }
    }
    if (n == 0) GTEST_SKIP() << "no tuned deform_conv2d class in this build (schedules/tuned/)";
}

TEST(TunedSchedules, DeformConv2dOutsideEveryClassRunsDefault) {
    const ConvShape s{3, 5, 6, 5, 3};  // features (5, 27, 30)
    for (const ConvVariant &v : conv_variants())
        for (const TunedClass &c : v.classes)
            if (c.within({s.K, s.C * 9, s.H * s.W})) GTEST_SKIP() << "class " << c.name << " covers the small shape";
    check_conv(s, true, true, "default");
}

// With DCN_TUNED=0 (a ctest of its own sets it), every shape runs the default.
TEST(TunedSchedules, DisabledByEnvironment) {
    if (tuned_enabled()) GTEST_SKIP() << "runs with DCN_TUNED=0 only";
    int n = 0;
    for (const ConvVariant &v : conv_variants()) {
        for (const TunedClass &c : v.classes) {
            on_path(c, [&] { check_conv(conv_shape_for(c), v.mask, v.bias, "default"); });
            n++;
            break;
        }
    }
    if (n == 0) GTEST_SKIP() << "no tuned deform_conv2d class in this build";
}

// ---- pooling ----------------------------------------------------------------------

dcn_ref::Tensor rois_for(int64_t R, int64_t H, int64_t W, float scale, std::mt19937 &rng) {
    dcn_ref::Tensor rois = dcn_test::zeros({R, 5});
    for (int64_t r = 0; r < R; r++) {
        const float iw = W / scale, ih = H / scale;
        const float x1 = dcn_test::uniform(rng, 0, iw * 0.6f), y1 = dcn_test::uniform(rng, 0, ih * 0.6f);
        float *row = &rois.data[static_cast<size_t>(r * 5)];
        row[0] = 0;
        row[1] = x1;
        row[2] = y1;
        row[3] = x1 + dcn_test::uniform(rng, 1, iw * 0.4f);
        row[4] = y1 + dcn_test::uniform(rng, 1, ih * 0.4f);
    }
    return rois;
}

TEST(TunedSchedules, RoiPoolClassesRunAndMatchReference) {
    if (!tuned_enabled()) GTEST_SKIP() << "DCN_TUNED=0";
    struct Variant {
        bool offset, mask;
        std::vector<TunedClass> classes;
    };
    using namespace dcn::detail::flag;
    const auto op = dcn::detail::Op::deform_roi_pool;
    const std::vector<Variant> variants{{false, false, classes_of(op, 0, 2)},
                                        {true, false, classes_of(op, deform_roi_pool_with_offset, 2)},
                                        {false, true, classes_of(op, deform_roi_pool_with_mask, 2)},
                                        {true, true, classes_of(op, deform_roi_pool_with_offset | deform_roi_pool_with_mask, 2)}};
    int n = 0;
    for (const Variant &v : variants) {
        for (const TunedClass &c : v.classes) {
            const int64_t C = std::max<int64_t>(c.ranges[0].first, 1), R = std::max<int64_t>(c.ranges[1].first, 1);
            const int64_t H = 12, W = 17, P = 7;
            SCOPED_TRACE("class " + c.name);
            on_path(c, [&] {
                std::mt19937 rng(11);
                auto x = random_tensor({1, C, H, W}, rng);
                auto rois = rois_for(R, H, W, 0.25f, rng);
                auto off = random_tensor({R, 2, P, P}, rng);
                auto m = random_tensor({R, 1, P, P}, rng, 0, 1);
                std::vector<float> y(static_cast<size_t>(R * C * P * P));
                dcn_test::poison(y);
                dcn::DeformRoiPoolOptions o;
                o.spatial_scale = 0.25f;
                o.sampling_ratio = 2;
                auto view = [](dcn_ref::Tensor &t) { return dcn::TensorView(t.data.data(), t.shape); };
                dcn::deform_roi_pool(view(x), view(rois), v.offset ? std::optional(view(off)) : std::nullopt,
                                     v.mask ? std::optional(view(m)) : std::nullopt,
                                     dcn::TensorView(y.data(), {R, C, P, P}), o);
                EXPECT_EQ(std::string(dcn::last_cpu_schedule()), c.name);
                dcn_ref::RoiPoolParams p;
                p.spatial_scale = 0.25;
                p.sampling_ratio = 2;
                const auto ref = dcn_ref::deform_roi_pool(x, rois, v.offset ? &off : nullptr, v.mask ? &m : nullptr, p);
                EXPECT_TRUE(matches_reference(y, ref, {R, C, P, P}, 4));
            });
            n++;
        }
    }
    if (n == 0) GTEST_SKIP() << "no tuned deform_roi_pool class in this build";
}

TEST(TunedSchedules, PsroiPoolClassesRunAndMatchReference) {
    if (!tuned_enabled()) GTEST_SKIP() << "DCN_TUNED=0";
    struct Variant {
        bool trans;
        std::vector<TunedClass> classes;
    };
    const auto op = dcn::detail::Op::deform_psroi_pool;
    const std::vector<Variant> variants{{false, classes_of(op, 0, 2)},
                                        {true, classes_of(op, dcn::detail::flag::deform_psroi_pool_with_trans, 2)}};
    int n = 0;
    for (const Variant &v : variants) {
        for (const TunedClass &c : v.classes) {
            // group_size 1: output_dim = C, so any channel count is valid.
            const int64_t C = std::max<int64_t>(c.ranges[0].first, 1), R = std::max<int64_t>(c.ranges[1].first, 1);
            const int64_t H = 12, W = 17, P = 7;
            SCOPED_TRACE("class " + c.name);
            on_path(c, [&] {
                std::mt19937 rng(13);
                auto x = random_tensor({1, C, H, W}, rng);
                auto rois = rois_for(R, H, W, 0.25f, rng);
                auto trans = random_tensor({R, 2, P, P}, rng);
                std::vector<float> y(static_cast<size_t>(R * C * P * P));
                dcn_test::poison(y);
                dcn::DeformPsroiPoolOptions o;
                o.spatial_scale = 0.25f;
                o.output_dim = static_cast<int>(C);
                o.group_size = 1;
                o.pooled_size = static_cast<int>(P);
                o.sample_per_part = 2;
                o.trans_std = 0.1f;
                auto view = [](dcn_ref::Tensor &t) { return dcn::TensorView(t.data.data(), t.shape); };
                dcn::deform_psroi_pool(view(x), view(rois), v.trans ? std::optional(view(trans)) : std::nullopt,
                                       dcn::TensorView(y.data(), {R, C, P, P}), std::nullopt, o);
                EXPECT_EQ(std::string(dcn::last_cpu_schedule()), c.name);
                dcn_ref::PsroiPoolParams p;
                p.spatial_scale = 0.25;
                p.output_dim = static_cast<int>(C);
                p.group_size = 1;
                p.pooled_size = static_cast<int>(P);
                p.sample_per_part = 2;
                p.trans_std = 0.1;
                const auto ref = dcn_ref::deform_psroi_pool(x, rois, v.trans ? &trans : nullptr, p);
                EXPECT_TRUE(matches_reference(y, ref.output, {R, C, P, P}, 4));
            });
            n++;
        }
    }
    if (n == 0) GTEST_SKIP() << "no tuned deform_psroi_pool class in this build";
}

}  // namespace
