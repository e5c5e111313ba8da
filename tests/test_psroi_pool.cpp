// dcn::deform_psroi_pool against the independent double-precision reference
// (docs/operators.md): the edge matrix on every CPU path and GPU device in
// every dtype is tests/test_roi_pool_backward.cpp's (PsBackwardCases,
// RoiBackwardGpu); here non-finite trans bin by bin, R = 0, thread counts,
// strided views, the sample-count helper.
#include <gtest/gtest.h>

#include "roi_pool_cases.h"

namespace {

// Every case on every CPU path in every dtype of the list, forward (with
// the count, and without it) and gradients:
// tests/test_roi_pool_backward.cpp (PsBackwardCases).

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

}  // namespace
