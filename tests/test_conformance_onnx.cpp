// The ONNX backend node tests for DeformConv (a peer's public conformance
// suite), decoded to .npy in ../shared/conformance/onnx_deform_conv/ with a
// manifest.json giving each case's attributes, files, shapes and tolerance.
//
// Each case runs through the library (dcn::deform_conv2d) and through the
// `dcn` CLI, and is compared with the expected Y (the manifest's tolerance,
// numpy.testing.assert_allclose semantics) and with the independent double
// reference (test_support.h tolerance). The tests skip, saying why,
// when the data is absent.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include "npy.h"
#include "reference/deform_conv2d_ref.h"
#include "cli_harness.h"
#include "test_support.h"

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifndef DCN_CONFORMANCE_DIR
#define DCN_CONFORMANCE_DIR ""
#endif

namespace {

namespace fs = std::filesystem;

using Json = nlohmann::json;

// An integer list of the manifest ("kernel_shape": [3, 3]).
std::vector<int64_t> ints(const Json &j) { return j.get<std::vector<int64_t>>(); }

// The folder holding manifest.json: DCN_CONFORMANCE_DIR itself or its
// onnx_deform_conv/ subfolder. Empty, with `why` set, when absent.
std::string find_data_dir(std::string *why) {
    const std::string root = DCN_CONFORMANCE_DIR;
    if (root.empty()) {
        *why = "DCN_CONFORMANCE_DIR is not set at build time";
        return "";
    }
    for (const fs::path &dir : {fs::path(root) / "onnx_deform_conv", fs::path(root)}) {
        std::error_code ec;
        if (fs::is_regular_file(dir / "manifest.json", ec)) return dir.string();
    }
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        *why = "conformance data folder '" + root + "' is absent (see ../shared/conformance/README.md)";
    } else {
        *why = "no manifest.json in '" + root + "' or '" + root + "/onnx_deform_conv'";
    }
    return "";
}

std::string read_text(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

const char *const kExpectedCases[] = {
    "onnx/test_basic_deform_conv_with_padding",
    "onnx/test_basic_deform_conv_without_padding",
    "onnx/test_deform_conv_with_mask_bias",
    "onnx/test_deform_conv_with_multiple_offset_groups",
};

// ---- checks ------------------------------------------------------------------------

// numpy.testing.assert_allclose(actual, desired, rtol, atol):
// |actual - desired| <= atol + rtol * |desired| element-wise; NaN fails.
::testing::AssertionResult allclose(const std::vector<float> &actual, const std::vector<float> &desired,
                                    double rtol, double atol) {
    if (actual.size() != desired.size()) {
        return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << desired.size();
    }
    size_t bad = 0, worst = 0;
    double worst_excess = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < actual.size(); ++i) {
        const double a = actual[i], d = desired[i];
        const double err = std::fabs(a - d), bound = atol + rtol * std::fabs(d);
        if (!(err <= bound)) ++bad;  // NaN compares false
        const double excess = std::isnan(err) ? std::numeric_limits<double>::infinity() : err - bound;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad << " of " << actual.size()
                                         << " element(s) outside rtol " << rtol << " / atol " << atol
                                         << "; worst at flat index " << worst << ": actual "
                                         << ::testing::PrintToString(actual[worst]) << ", expected "
                                         << ::testing::PrintToString(desired[worst]);
}

std::string csv(const std::vector<int64_t> &v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s;
}

class OnnxConformance : public ::testing::Test {
protected:
    void SetUp() override {
        std::string why;
        dir_ = find_data_dir(&why);
        if (dir_.empty()) GTEST_SKIP() << "ONNX DeformConv conformance data not found: " << why;
        manifest_ = Json::parse(read_text((fs::path(dir_) / "manifest.json").string()));
    }

    const Json &find_case(const std::string &id) const {
        for (const Json &c : manifest_.at("cases")) {
            if (c.at("id").get<std::string>() == id) return c;
        }
        throw std::runtime_error("manifest.json has no case '" + id + "'");
    }

    dcn_npy::Array load(const Json &c, const char *section, const char *role) const {
        const Json &file = c.at(section).at(role);
        dcn_npy::Array a = dcn_npy::read_npy((fs::path(dir_) / file.get<std::string>()).string());
        // The file must have the shape the manifest states.
        const std::vector<int64_t> want = ints(c.at("shapes").at(role));
        EXPECT_EQ(a.shape, want) << role << " (" << file.get<std::string>() << ") shape differs from manifest.json";
        return a;
    }

    void run_case(const std::string &id) {
        SCOPED_TRACE(id);
        const Json &c = find_case(id);
        ASSERT_EQ(c.at("op").get<std::string>(), "deform_conv2d");
        const Json &params = c.at("params");
        const Json &inputs = c.at("inputs");

        const dcn_npy::Array X = load(c, "inputs", "X");
        const dcn_npy::Array W = load(c, "inputs", "W");
        const dcn_npy::Array offset = load(c, "inputs", "offset");
        std::optional<dcn_npy::Array> B, mask;
        if (inputs.contains("B")) B = load(c, "inputs", "B");
        if (inputs.contains("mask")) mask = load(c, "inputs", "mask");
        const dcn_npy::Array Y = load(c, "outputs", "Y");
        ASSERT_EQ(X.shape.size(), 4u);
        ASSERT_EQ(W.shape.size(), 4u);

        const std::vector<int64_t> kernel = ints(params.at("kernel_shape"));
        const std::vector<int64_t> pads = ints(params.at("pads"));
        const std::vector<int64_t> strides = ints(params.at("strides"));
        const std::vector<int64_t> dilations = ints(params.at("dilations"));
        const int group = params.at("group").get<int>();
        const int offset_group = params.at("offset_group").get<int>();
        ASSERT_EQ(kernel, (std::vector<int64_t>{W.shape[2], W.shape[3]})) << "kernel_shape vs W";
        ASSERT_EQ(pads.size(), 4u);
        ASSERT_EQ(strides.size(), 2u);
        ASSERT_EQ(dilations.size(), 2u);
        const double rtol = c.at("tolerance").at("rtol").get<double>();
        const double atol = c.at("tolerance").at("atol").get<double>();

        // --- the library -------------------------------------------------------
        dcn::DeformConv2dOptions opts;
        opts.stride = {static_cast<int>(strides[0]), static_cast<int>(strides[1])};
        opts.padding = {static_cast<int>(pads[0]), static_cast<int>(pads[1]), static_cast<int>(pads[2]),
                        static_cast<int>(pads[3])};
        opts.dilation = {static_cast<int>(dilations[0]), static_cast<int>(dilations[1])};
        opts.groups = group;
        opts.offset_groups = offset_group;
        std::vector<int64_t> out_shape;
        ASSERT_NO_THROW(out_shape = dcn::deform_conv2d_output_shape(X.shape, W.shape, opts));
        ASSERT_EQ(out_shape, Y.shape);
        std::vector<float> out(static_cast<size_t>(dcn_test::numel(out_shape)));
        dcn_test::poison(out);
        std::optional<dcn::TensorView> mask_v, bias_v;
        if (mask) mask_v = dcn::TensorView(mask->data_as<float>(), mask->shape);
        if (B) bias_v = dcn::TensorView(B->data_as<float>(), B->shape);
        try {
            dcn::deform_conv2d(dcn::TensorView(X.data_as<float>(), X.shape), dcn::TensorView(offset.data_as<float>(), offset.shape),
                               dcn::TensorView(W.data_as<float>(), W.shape), mask_v, bias_v,
                               dcn::TensorView(out.data(), out_shape), opts);
        } catch (const std::exception &e) {
            FAIL() << "dcn::deform_conv2d threw: " << e.what();
        }
        EXPECT_TRUE(allclose(out, Y.to_vector<float>(), rtol, atol)) << "library vs expected Y";

        // --- the independent reference -------------------------------------------
        dcn_ref::DeformConv2dParams p;
        p.stride_h = opts.stride[0];
        p.stride_w = opts.stride[1];
        p.pad_top = opts.padding[0];
        p.pad_left = opts.padding[1];
        p.pad_bottom = opts.padding[2];
        p.pad_right = opts.padding[3];
        p.dilation_h = opts.dilation[0];
        p.dilation_w = opts.dilation[1];
        p.groups = group;
        p.offset_groups = offset_group;
        auto tensor = [](const dcn_npy::Array &a) { return dcn_ref::Tensor{a.shape, a.to_vector<float>()}; };
        const dcn_ref::Tensor mask_t = mask ? tensor(*mask) : dcn_ref::Tensor{};
        const dcn_ref::Tensor bias_t = B ? tensor(*B) : dcn_ref::Tensor{};
        const std::vector<double> ref = dcn_ref::deform_conv2d(tensor(X), tensor(offset), tensor(W),
                                                              mask ? &mask_t : nullptr, B ? &bias_t : nullptr, p);
        const int64_t reduction = W.shape[1] * W.shape[2] * W.shape[3];
        EXPECT_TRUE(dcn_test::matches_reference(out, ref, out_shape, reduction)) << "library vs reference";
        // The oracle itself agrees with ONNX's expected output.
        EXPECT_TRUE(allclose(std::vector<float>(ref.begin(), ref.end()), Y.to_vector<float>(), rtol, atol)) << "reference vs expected Y";

        // --- the CLI -------------------------------------------------------------
        const std::string tmp = dcn_test::scratch_dir();
        const std::string y_path = dcn_test::path_in(tmp, "Y.npy");
        auto in = [&](const char *role) { return (fs::path(dir_) / inputs.at(role).get<std::string>()).string(); };
        std::vector<std::string> args{"deform-conv2d", "--input", in("X"), "--offset", in("offset"), "--weight", in("W")};
        if (mask) args = dcn_test::concat(args, {"--mask", in("mask")});
        if (B) args = dcn_test::concat(args, {"--bias", in("B")});
        args = dcn_test::concat(args, {"--stride", csv(strides), "--padding", csv(pads), "--dilation", csv(dilations),
                                       "--groups", std::to_string(group), "--offset-groups",
                                       std::to_string(offset_group), "--output", y_path});
        const dcn_test::CliResult r = dcn_test::run_cli(args, tmp);
        ASSERT_EQ(r.exit_code, 0) << dcn_test::describe(r);
        const std::string cmd = r.command;
        dcn_npy::Array cli_out;
        ASSERT_NO_THROW(cli_out = dcn_npy::read_npy(y_path));
        ASSERT_EQ(cli_out.shape, Y.shape);
        EXPECT_TRUE(allclose(cli_out.to_vector<float>(), Y.to_vector<float>(), rtol, atol)) << "CLI vs expected Y\n" << cmd;
        EXPECT_TRUE(dcn_test::matches_reference(cli_out.to_vector<float>(), ref, out_shape, reduction)) << "CLI vs reference";
    }

    std::string dir_;
    Json manifest_;
};

}  // namespace

TEST_F(OnnxConformance, ManifestListsTheFourCases) {
    std::vector<std::string> ids;
    for (const Json &c : manifest_.at("cases")) ids.push_back(c.at("id").get<std::string>());
    EXPECT_EQ(ids, std::vector<std::string>(std::begin(kExpectedCases), std::end(kExpectedCases)))
        << "manifest.json changed: add a test for each new case";
}

TEST_F(OnnxConformance, BasicWithPadding) { run_case("onnx/test_basic_deform_conv_with_padding"); }

TEST_F(OnnxConformance, BasicWithoutPadding) { run_case("onnx/test_basic_deform_conv_without_padding"); }

TEST_F(OnnxConformance, WithMaskBias) { run_case("onnx/test_deform_conv_with_mask_bias"); }

TEST_F(OnnxConformance, MultipleOffsetGroups) { run_case("onnx/test_deform_conv_with_multiple_offset_groups"); }
