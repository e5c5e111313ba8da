// Argument validation of dcn::deform_conv2d and the shape / FLOP helpers.
//
// Every bad call must throw dcn::Error before any kernel runs (the output is
// left untouched), with
//   e.function() == "deform_conv2d", e.argument() == the offending argument,
//   what() == "deform_conv2d: <argument>: <problem>" on one line,
// and the problem naming the offending values: shapes as "[1, 18, 50, 84]"
// (dims joined by ", " in square brackets), expected and actual (also for a
// tensor of the wrong rank whose expected shape is known); a bad scalar
// option: its value.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <type_traits>
#include <vector>

#include "error_expect.h"
#include "test_support.h"

namespace {

using dcn_test::shape_str;

using dcn_test::check_error;
using dcn_test::Expect;

// A valid problem that each test breaks in one way:
//   input (1, 12, 6, 7), weight (12, 4, 3, 3) -> groups 3,
//   offset (1, 36, 6, 7) -> offset groups 2, mask (1, 18, 6, 7), bias (12),
//   padding 1 -> output (1, 12, 6, 7).
struct Call {
    std::vector<int64_t> input{1, 12, 6, 7}, offset{1, 36, 6, 7}, weight{12, 4, 3, 3},
        mask{1, 18, 6, 7}, bias{12}, output{1, 12, 6, 7};
    bool use_mask = true, use_bias = true;
    dcn::DeformConv2dOptions options = dcn::DeformConv2dOptions{}.set_padding(1, 1);
    // Applied to the views just before the call (null pointers, strides, devices).
    std::function<void(dcn::TensorView &in, dcn::TensorView &off, dcn::TensorView &w,
                       dcn::TensorView &m, dcn::TensorView &b, dcn::TensorView &out)>
        mutate;

    void operator()() const {
        // Storage large enough for any view below, including strided ones.
        auto storage = [](const std::vector<int64_t> &s) {
            return std::vector<float>(static_cast<size_t>(std::max<int64_t>(dcn_test::numel(s), 1)) * 2 + 64,
                                      0.25f);
        };
        std::vector<float> in_d = storage(input), off_d = storage(offset), w_d = storage(weight),
                           m_d = storage(mask), b_d = storage(bias), out_d = storage(output);
        const std::vector<float> out_before = out_d;
        dcn::TensorView in(in_d.data(), input), off(off_d.data(), offset), w(w_d.data(), weight),
            m(m_d.data(), mask), b(b_d.data(), bias), out(out_d.data(), output);
        if (mutate) mutate(in, off, w, m, b, out);
        try {
            dcn::deform_conv2d(in, off, w, use_mask ? std::optional<dcn::TensorView>(m) : std::nullopt,
                               use_bias ? std::optional<dcn::TensorView>(b) : std::nullopt, out,
                               options);
        } catch (...) {
            // Arguments are validated before any kernel runs: nothing written.
            EXPECT_TRUE(std::equal(out_d.begin(), out_d.end(), out_before.begin()))
                << "the output was written before the error was raised";
            throw;
        }
    }
};

TEST(Settings, NegativeThreadCountIsRefusedZeroRestoresTheDefault) {
    const int before = dcn::num_threads();
    try {
        dcn::set_num_threads(-1);
        ADD_FAILURE() << "set_num_threads(-1) did not throw";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "n");
        EXPECT_STREQ(e.what(), "set_num_threads: n: expected >= 0 (0 = the default), got -1");
    }
    EXPECT_EQ(dcn::num_threads(), before);
    dcn::set_num_threads(1);
    EXPECT_EQ(dcn::num_threads(), 1);
    dcn::set_num_threads(0);
    EXPECT_EQ(dcn::num_threads(), before);
}

TEST(Validation, TheBaseCallIsValid) {
    // The other tests break exactly one thing in this call.
    EXPECT_NO_THROW(Call{}());
    Call c;
    c.options.groups = 3;
    c.options.offset_groups = 2;
    EXPECT_NO_THROW(c());
    c.use_mask = c.use_bias = false;
    EXPECT_NO_THROW(c());
}

// ---- offset ---------------------------------------------------------------------

TEST(Validation, OffsetChannelsNotAMultipleOfTwoTaps) {
    Call c;
    c.offset = {1, 35, 6, 7};
    EXPECT_TRUE(check_error(c, {{"offset"}, {"[1, 35, 6, 7]"}}));
}

TEST(Validation, OffsetSpatialSize) {
    Call c;
    c.offset = {1, 36, 6, 6};
    EXPECT_TRUE(check_error(c, {{"offset"}, {"[1, 36, 6, 7]", "[1, 36, 6, 6]"}}));
    c.offset = {1, 36, 5, 7};
    EXPECT_TRUE(check_error(c, {{"offset"}, {"[1, 36, 6, 7]", "[1, 36, 5, 7]"}}));
}

TEST(Validation, OffsetBatch) {
    Call c;
    c.offset = {2, 36, 6, 7};
    EXPECT_TRUE(check_error(c, {{"offset"}, {"[1, 36, 6, 7]", "[2, 36, 6, 7]"}}));
}

TEST(Validation, OffsetRank) {
    Call c;
    c.offset = {36, 6, 7};
    EXPECT_TRUE(check_error(c, {{"offset"}, {"[36, 6, 7]"}}));
}

TEST(Validation, OffsetChannelsWithExplicitOffsetGroups) {
    // offset_groups = 2 given, offset has the channels of 1 group.
    Call c;
    c.options.offset_groups = 2;
    c.offset = {1, 18, 6, 7};
    c.use_mask = false;
    EXPECT_TRUE(check_error(c, {{"offset", "offset_groups"}, {}, {18}}));
}

// ---- mask --------------------------------------------------------------------------

TEST(Validation, MaskShape) {
    Call c;
    c.mask = {1, 9, 6, 7};
    EXPECT_TRUE(check_error(c, {{"mask"}, {"[1, 18, 6, 7]", "[1, 9, 6, 7]"}}));
    c.mask = {1, 18, 7, 7};
    EXPECT_TRUE(check_error(c, {{"mask"}, {"[1, 18, 6, 7]", "[1, 18, 7, 7]"}}));
    c.mask = {2, 18, 6, 7};
    EXPECT_TRUE(check_error(c, {{"mask"}, {"[1, 18, 6, 7]", "[2, 18, 6, 7]"}}));
    c.mask = {18, 6, 7};  // wrong rank
    EXPECT_TRUE(check_error(c, {{"mask"}, {"[1, 18, 6, 7]", "[18, 6, 7]"}}));
    // The mask has 2 offset groups' channels when the offset says 1.
    Call d;
    d.offset = {1, 18, 6, 7};
    EXPECT_TRUE(check_error(d, {{"mask"}, {"[1, 9, 6, 7]", "[1, 18, 6, 7]"}}));
}

// ---- weight / groups ------------------------------------------------------------------

TEST(Validation, WeightChannelsDoNotDivideInput) {
    // groups inferred: C = 12 is not a multiple of weight.shape[1] = 5.
    Call c;
    c.weight = {12, 5, 3, 3};
    EXPECT_TRUE(check_error(c, {{"weight"}, {"[12, 5, 3, 3]"}, {12}}));
}

TEST(Validation, WeightRank) {
    Call c;
    c.weight = {12, 4, 9};
    EXPECT_TRUE(check_error(c, {{"weight"}, {"[12, 4, 9]"}}));
}

TEST(Validation, GroupsDoNotDivideInputChannels) {
    Call c;
    c.options.groups = 5;
    EXPECT_TRUE(check_error(c, {{"groups"}, {}, {5, 12}}));
}

TEST(Validation, GroupsDoNotDivideOutputChannels) {
    Call c;
    c.weight = {10, 4, 3, 3};
    c.bias = {10};
    c.output = {1, 10, 6, 7};
    c.options.groups = 3;
    EXPECT_TRUE(check_error(c, {{"groups"}, {}, {3, 10}}));
}

TEST(Validation, GroupsContradictWeight) {
    // C / groups = 6, weight.shape[1] = 4.
    Call c;
    c.options.groups = 2;
    EXPECT_TRUE(check_error(c, {{"groups"}, {}, {2, 4}}));
}

TEST(Validation, GroupsNonPositive) {
    Call c;
    c.options.groups = -3;
    EXPECT_TRUE(check_error(c, {{"groups"}, {}, {-3}}));
}

// ---- offset groups ------------------------------------------------------------------------

TEST(Validation, OffsetGroupsContradictOffsetChannels) {
    Call c;
    c.options.offset_groups = 3;  // offset has 36 = 2 * 2 * 9 channels
    EXPECT_TRUE(check_error(c, {{"offset_groups"}, {}, {3, 36}}));
}

TEST(Validation, OffsetGroupsDoNotDivideInputChannels) {
    Call c;
    c.options.offset_groups = 5;
    c.offset = {1, 90, 6, 7};
    c.mask = {1, 45, 6, 7};
    EXPECT_TRUE(check_error(c, {{"offset_groups"}, {}, {5, 12}}));
}

TEST(Validation, InferredOffsetGroupsDoNotDivideInputChannels) {
    // offset channels imply 5 offset groups; C = 12.
    Call c;
    c.offset = {1, 90, 6, 7};
    c.mask = {1, 45, 6, 7};
    EXPECT_TRUE(check_error(c, {{"offset", "offset_groups"}, {}, {12}}));
}

TEST(Validation, OffsetGroupsNonPositive) {
    Call c;
    c.options.offset_groups = -2;
    EXPECT_TRUE(check_error(c, {{"offset_groups"}, {}, {-2}}));
}

// ---- bias ----------------------------------------------------------------------------

TEST(Validation, BiasShape) {
    Call c;
    c.bias = {11};
    EXPECT_TRUE(check_error(c, {{"bias"}, {"[12]", "[11]"}}));
    c.bias = {1, 12};  // wrong rank
    EXPECT_TRUE(check_error(c, {{"bias"}, {"[12]", "[1, 12]"}}));
}

// ---- stride / dilation / padding / output size -----------------------------------------

TEST(Validation, StrideNotPositive) {
    Call c;
    c.options.stride = {0, 1};
    EXPECT_TRUE(check_error(c, {{"stride"}, {}, {0}}));
    c.options.stride = {1, -2};
    EXPECT_TRUE(check_error(c, {{"stride"}, {}, {-2}}));
}

TEST(Validation, DilationNotPositive) {
    Call c;
    c.options.dilation = {0, 1};
    EXPECT_TRUE(check_error(c, {{"dilation"}, {}, {0}}));
    c.options.dilation = {1, -1};
    EXPECT_TRUE(check_error(c, {{"dilation"}, {}, {-1}}));
}

TEST(Validation, NegativePadding) {
    for (int k = 0; k < 4; ++k) {
        SCOPED_TRACE("padding index " + std::to_string(k));
        Call c;
        c.options.padding = {1, 1, 1, 1};
        c.options.padding[static_cast<size_t>(k)] = -1;
        EXPECT_TRUE(check_error(c, {{"padding"}, {}, {-1}}));
    }
}

TEST(Validation, EmptyOutput) {
    // Kernel 3x3 bigger than the unpadded 2x2 input: oH = oW = 0.
    Call c;
    c.input = {1, 12, 2, 2};
    c.offset = {1, 36, 1, 1};
    c.mask = {1, 18, 1, 1};
    c.output = {1, 12, 1, 1};
    c.options.padding = {0, 0, 0, 0};
    // The message gives the padded input extent (2) and the kernel span (3).
    EXPECT_TRUE(check_error(c, {{"input", "output"}, {}, {2, 3}}));
    // The helper says the same.
    EXPECT_TRUE(check_error(
        [] { dcn::deform_conv2d_output_shape({1, 12, 2, 2}, {12, 4, 3, 3}); },
        {{"input", "output"}, {}, {2, 3}, {}, ""}));
    // Dilation makes the kernel span (4*2+1 = 9) larger than the padded input (6+1+1 = 8).
    Call d;
    d.options.dilation = {4, 1};
    EXPECT_TRUE(check_error(d, {{"input", "output"}, {}, {8, 9}}));
    // Same in width only: padded width 7 + 0 + 0 = 7 < 1*(9-1)+1 = 9 with a 1x9 kernel.
    EXPECT_TRUE(check_error(
        [] { dcn::deform_conv2d_output_shape({1, 12, 6, 7}, {12, 4, 1, 9}); },
        {{"input", "output"}, {}, {7, 9}, {}, ""}));
}

// ---- ranks and output ----------------------------------------------------------------

TEST(Validation, InputRank) {
    Call c;
    c.input = {12, 6, 7};
    EXPECT_TRUE(check_error(c, {{"input"}, {"[12, 6, 7]"}}));
    c.input = {1, 1, 12, 6, 7};
    EXPECT_TRUE(check_error(c, {{"input"}, {"[1, 1, 12, 6, 7]"}}));
}

TEST(Validation, OutputShape) {
    Call c;
    c.output = {1, 12, 6, 6};
    EXPECT_TRUE(check_error(c, {{"output"}, {"[1, 12, 6, 7]", "[1, 12, 6, 6]"}}));
    c.output = {1, 11, 6, 7};
    EXPECT_TRUE(check_error(c, {{"output"}, {"[1, 12, 6, 7]", "[1, 11, 6, 7]"}}));
    c.output = {12, 6, 7};  // wrong rank
    EXPECT_TRUE(check_error(c, {{"output"}, {"[1, 12, 6, 7]", "[12, 6, 7]"}}));
}

// ---- pointers, strides, devices ----------------------------------------------------------

TEST(Validation, NullDataPointer) {
    const char *names[] = {"input", "offset", "weight", "mask", "bias", "output"};
    for (int k = 0; k < 6; ++k) {
        SCOPED_TRACE(names[k]);
        Call c;
        c.mutate = [k](dcn::TensorView &in, dcn::TensorView &off, dcn::TensorView &w,
                       dcn::TensorView &m, dcn::TensorView &b, dcn::TensorView &out) {
            dcn::TensorView *v[] = {&in, &off, &w, &m, &b, &out};
            v[k]->data = nullptr;
        };
        EXPECT_TRUE(check_error(c, {{names[k]}, {}, {}, {"null"}}));
    }
}

TEST(Validation, InnermostStrideNotOne) {
    const char *names[] = {"input", "offset", "weight", "mask", "bias", "output"};
    for (int k = 0; k < 6; ++k) {
        SCOPED_TRACE(names[k]);
        Call c;
        c.mutate = [k](dcn::TensorView &in, dcn::TensorView &off, dcn::TensorView &w,
                       dcn::TensorView &m, dcn::TensorView &b, dcn::TensorView &out) {
            dcn::TensorView *v[] = {&in, &off, &w, &m, &b, &out};
            // Twice the contiguous strides: the innermost stride becomes 2 (the
            // storage is large enough for every element of such a view).
            std::vector<int64_t> s = v[k]->effective_strides();
            for (auto &x : s) x *= 2;
            v[k]->strides = s;
        };
        EXPECT_TRUE(check_error(c, {{names[k]}, {}, {2}, {"stride"}}));
    }
}

TEST(Validation, StridesOfWrongRank) {
    Call c;
    c.mutate = [](dcn::TensorView &in, dcn::TensorView &, dcn::TensorView &, dcn::TensorView &,
                  dcn::TensorView &, dcn::TensorView &) { in.strides = {42, 7, 1}; };
    EXPECT_TRUE(check_error(c, {{"input"}, {}, {}, {"stride"}}));
}

// A GPU device that is not usable here (no CUDA driver, no OpenCL
// platform): a clear error naming the device, never an abort. On CI's
// machines CUDA is never usable, so the CUDA half always runs there.
TEST(Validation, UnusableDeviceIsAClearError) {
    int checked = 0;
    for (dcn::Device d : {dcn::Device::cuda, dcn::Device::opencl}) {
        std::string why;
        if (dcn::device_usable(d, &why)) continue;
        SCOPED_TRACE(dcn::device_name(d));
        EXPECT_FALSE(why.empty());
        Call c;
        c.options.device = d;
        EXPECT_TRUE(check_error(c, {{"device"}, {d == dcn::Device::cuda ? "CUDA" : "OpenCL", "not usable"}}));
        ++checked;
    }
    if (checked == 0) GTEST_SKIP() << "every GPU device is usable here";
}

TEST(Validation, TensorOnAnotherDevice) {
    // A tensor on a GPU passed to a CPU call: refused, naming that tensor.
    Call c;
    c.mutate = [](dcn::TensorView &, dcn::TensorView &off, dcn::TensorView &, dcn::TensorView &,
                  dcn::TensorView &, dcn::TensorView &) { off.device = dcn::Device::cuda; };
    EXPECT_TRUE(check_error(c, {{"offset", "device"}, {"cuda"}}));
}

// ---- shape and FLOP helpers --------------------------------------------------------------

TEST(Validation, OutputShapeAndFlopsResNetC4) {
    // ResNet-50 c4 DCN layer at a Faster R-CNN feature-map size.
    const std::vector<int64_t> in{1, 256, 50, 84}, w{256, 256, 3, 3};
    const auto opts = dcn::DeformConv2dOptions{}.set_padding(1, 1);
    const std::vector<int64_t> out = dcn::deform_conv2d_output_shape(in, w, opts);
    EXPECT_EQ(out, (std::vector<int64_t>{1, 256, 50, 84}));
    EXPECT_EQ(dcn::deform_conv2d_flops(in, w, out), 2.0 * 1 * 256 * 256 * 9 * 50 * 84);
    EXPECT_EQ(dcn::deform_conv2d_flops(in, w, out), 4954521600.0);

    // Batch 8, stride 2, groups 4 (weight (256, 64, 3, 3)).
    const std::vector<int64_t> in8{8, 256, 50, 84}, w4{256, 64, 3, 3};
    auto o2 = opts;
    o2.stride = {2, 2};
    const std::vector<int64_t> out8 = dcn::deform_conv2d_output_shape(in8, w4, o2);
    EXPECT_EQ(out8, (std::vector<int64_t>{8, 256, 25, 42}));
    EXPECT_EQ(dcn::deform_conv2d_flops(in8, w4, out8), 2.0 * 8 * 256 * 64 * 9 * 25 * 42);
}

TEST(Validation, OutputShapeAsymmetricAndDilated) {
    dcn::DeformConv2dOptions o;
    o.padding = {2, 0, 1, 3};  // top, left, bottom, right
    o.stride = {2, 1};
    o.dilation = {1, 2};
    // oH = (9 + 2 + 1 - 3) / 2 + 1 = 5; oW = (10 + 0 + 3 - 5) / 1 + 1 = 9.
    EXPECT_EQ(dcn::deform_conv2d_output_shape({3, 4, 9, 10}, {7, 4, 3, 3}, o),
              (std::vector<int64_t>{3, 7, 5, 9}));
    // Agrees with the independent reference.
    dcn_ref::DeformConv2dParams p;
    p.pad_top = 2, p.pad_left = 0, p.pad_bottom = 1, p.pad_right = 3;
    p.stride_h = 2, p.dilation_w = 2;
    EXPECT_EQ(dcn_ref::deform_conv2d_output_shape({3, 4, 9, 10}, {7, 4, 3, 3}, p),
              (std::vector<int64_t>{3, 7, 5, 9}));
}

TEST(Validation, OutputShapeHelperErrors) {
    EXPECT_TRUE(check_error([] { dcn::deform_conv2d_output_shape({12, 6, 7}, {12, 4, 3, 3}); },
                            {{"input"}, {"[12, 6, 7]"}, {}, {}, ""}));
    EXPECT_TRUE(check_error([] { dcn::deform_conv2d_output_shape({1, 12, 6, 7}, {12, 4, 3}); },
                            {{"weight"}, {"[12, 4, 3]"}, {}, {}, ""}));
    dcn::DeformConv2dOptions o;
    o.stride = {0, 1};
    EXPECT_TRUE(check_error(
        [&] { dcn::deform_conv2d_output_shape({1, 12, 6, 7}, {12, 4, 3, 3}, o); },
        {{"stride"}, {}, {0}, {}, ""}));
}

TEST(Validation, TensorViewBasics) {
    float x[24] = {};
    const dcn::TensorView v(x, std::vector<int64_t>{2, 3, 4});
    EXPECT_EQ(v.rank(), 3);
    EXPECT_EQ(v.numel(), 24);
    EXPECT_EQ(v.effective_strides(), (std::vector<int64_t>{12, 4, 1}));
    const dcn::TensorView s(x, {2, 3}, {8, 1});
    EXPECT_EQ(s.effective_strides(), (std::vector<int64_t>{8, 1}));
    EXPECT_STREQ(dcn::device_name(dcn::Device::cpu), "cpu");
    EXPECT_STREQ(dcn::device_name(dcn::Device::cuda), "cuda");
    EXPECT_STREQ(dcn::device_name(dcn::Device::opencl), "opencl");
    const dcn::Error e("deform_conv2d", "offset", "expected shape [1, 18, 50, 84], got [1, 18, 50, 83]");
    EXPECT_STREQ(e.what(),
                 "deform_conv2d: offset: expected shape [1, 18, 50, 84], got [1, 18, 50, 83]");
    EXPECT_EQ(e.function(), "deform_conv2d");
    EXPECT_EQ(e.argument(), "offset");
}

}  // namespace

// A batch of zero images is valid input with an empty output (as in
// torchvision): shapes are still checked, nothing is computed.
TEST(Validation, EmptyBatch) {
    std::vector<float> w(6 * 2 * 3 * 3, 1.0f), dummy(1, 0.0f);
    dcn::DeformConv2dOptions opt;
    opt.set_padding(1, 1);
    EXPECT_NO_THROW(dcn::deform_conv2d(dcn::TensorView(dummy.data(), {0, 2, 5, 4}),
                                       dcn::TensorView(dummy.data(), {0, 18, 5, 4}),
                                       dcn::TensorView(w.data(), {6, 2, 3, 3}), std::nullopt, std::nullopt,
                                       dcn::TensorView(dummy.data(), {0, 6, 5, 4}), opt));
    // ...but a wrong shape is still an error.
    try {
        dcn::deform_conv2d(dcn::TensorView(dummy.data(), {0, 2, 5, 4}), dcn::TensorView(dummy.data(), {0, 18, 5, 3}),
                           dcn::TensorView(w.data(), {6, 2, 3, 3}), std::nullopt, std::nullopt,
                           dcn::TensorView(dummy.data(), {0, 6, 5, 4}), opt);
        FAIL() << "expected dcn::Error";
    } catch (const dcn::Error &e) {
        EXPECT_EQ(e.argument(), "offset");
        EXPECT_NE(std::string(e.what()).find("[0, 18, 5, 4]"), std::string::npos) << e.what();
    }
}

// opt.padding = {1, 1} means what a torchvision user means (padH, padW), not
// top = 1, left = 1, bottom = right = 0; four values are ONNX's order.
TEST(Padding, TwoValuesAreSymmetricFourAreTopLeftBottomRight) {
    dcn::DeformConv2dOptions o;
    o.padding = {1, 2};
    EXPECT_EQ(o.padding, dcn::Padding(1, 2, 1, 2));
    EXPECT_EQ(dcn::deform_conv2d_output_shape({1, 4, 10, 10}, {4, 4, 3, 3}, o),
              (std::vector<int64_t>{1, 4, 10, 12}));
    o.padding = 3;
    EXPECT_EQ(o.padding, dcn::Padding(3, 3, 3, 3));
    o.padding = {0, 1, 2, 3};
    EXPECT_EQ(o.padding[0], 0);
    EXPECT_EQ(o.padding[1], 1);
    EXPECT_EQ(o.padding[2], 2);
    EXPECT_EQ(o.padding[3], 3);
    EXPECT_EQ(dcn::deform_conv2d_output_shape({1, 4, 10, 10}, {4, 4, 3, 3}, o),
              (std::vector<int64_t>{1, 4, 10, 12}));
    // Three values do not compile.
    static_assert(!std::is_constructible_v<dcn::Padding, int, int, int>);
}
