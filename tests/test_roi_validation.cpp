// Argument validation of dcn::deform_psroi_pool and dcn::deform_roi_pool:
// every bad call throws dcn::Error naming the argument, with expected vs
// actual in what(), before any kernel runs.
#include <gtest/gtest.h>

#include "error_expect.h"
#include "roi_pool_cases.h"

namespace {

using dcn_test::Expect;

// The RoI operators' errors: function() starts with `function` (the shape
// helpers may name themselves, deform_psroi_pool_output_shape).
::testing::AssertionResult check_error(const std::function<void()> &call, const std::string &function, Expect x) {
    x.function = function;
    x.function_prefix = true;
    return dcn_test::check_error(call, x);
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


// ---- rois (both operators) -------------------------------------------------------



// ---- deform_psroi_pool ------------------------------------------------------------







// ---- deform_roi_pool -------------------------------------------------------------------







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
    // The channels are the call's rule too (C = output_dim * group_size^2):
    // the helper refuses what the call would.
    std::vector<int64_t> input = c.input;
    input[1] += 1;
    EXPECT_TRUE(check_error([&] { dcn::deform_psroi_pool_output_shape(input, c.rois, c.options); }, kPs,
                            {{"input"}, {"output_dim * group_size^2"}, {input[1]}}));
}

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
