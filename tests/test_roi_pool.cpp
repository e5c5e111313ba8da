// dcn::deform_roi_pool against the independent double-precision reference
// (docs/operators.md): the edge matrix on every CPU path and GPU device in
// every dtype is tests/test_roi_pool_backward.cpp's (RoiBackwardCases,
// RoiBackwardGpu); here non-finite offsets bin by bin, R = 0, thread
// counts, strided views, the sample-count helper.
#include <gtest/gtest.h>

#include "roi_pool_cases.h"

namespace {

// Every case on every CPU path in every dtype of the list, forward and
// gradients: tests/test_roi_pool_backward.cpp (RoiBackwardCases).

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

}  // namespace
