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
#include "test_support.h"

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
#ifndef DCN_CLI_PATH
#error "DCN_CLI_PATH must name the dcn binary"
#endif
#ifndef DCN_TEST_TMPDIR
#error "DCN_TEST_TMPDIR must name a scratch directory"
#endif

namespace {

namespace fs = std::filesystem;

// ---- a small JSON reader, just enough for manifest.json ------------------------

struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0.0;
    std::string string;
    std::vector<Json> array;
    std::vector<std::pair<std::string, Json>> object;

    const Json *find(const std::string &key) const {
        for (const auto &kv : object) {
            if (kv.first == key) return &kv.second;
        }
        return nullptr;
    }
    const Json &at(const std::string &key) const {
        const Json *j = kind == Kind::object ? find(key) : nullptr;
        if (!j) throw std::runtime_error("manifest: missing key '" + key + "'");
        return *j;
    }
    const std::string &str() const {
        if (kind != Kind::string) throw std::runtime_error("manifest: expected a string");
        return string;
    }
    int64_t integer() const {
        if (kind != Kind::number || number != std::floor(number) || std::fabs(number) > 9.0e15)
            throw std::runtime_error("manifest: expected an integer");
        return static_cast<int64_t>(number);
    }
    double num() const {
        if (kind != Kind::number) throw std::runtime_error("manifest: expected a number");
        return number;
    }
    std::vector<int64_t> ints() const {
        if (kind != Kind::array) throw std::runtime_error("manifest: expected an array");
        std::vector<int64_t> v;
        for (const Json &e : array) v.push_back(e.integer());
        return v;
    }
};

class JsonParser {
public:
    explicit JsonParser(const std::string &text) : s_(text) {}

    Json parse() {
        Json v = value(0);
        ws();
        if (i_ != s_.size()) fail("trailing text");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string &what) const {
        throw std::runtime_error("manifest.json: " + what + " at byte " + std::to_string(i_));
    }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
    }
    bool eat(char c) {
        ws();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!eat(c)) fail(std::string("expected '") + c + "'");
    }
    bool literal(const char *word) {
        const size_t n = std::char_traits<char>::length(word);
        if (s_.compare(i_, n, word) == 0) {
            i_ += n;
            return true;
        }
        return false;
    }
    void append_utf8(std::string &out, uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    std::string string_value() {
        expect('"');
        std::string out;
        while (true) {
            if (i_ >= s_.size()) fail("unterminated string");
            const char c = s_[i_++];
            if (c == '"') break;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size()) fail("unterminated escape");
            const char e = s_[i_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    if (i_ + 4 > s_.size()) fail("bad \\u escape");
                    uint32_t cp = 0;
                    for (int k = 0; k < 4; ++k) {
                        const char h = s_[i_++];
                        cp <<= 4;
                        if (h >= '0' && h <= '9') cp |= h - '0';
                        else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
                        else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
                        else fail("bad \\u escape");
                    }
                    append_utf8(out, cp);  // surrogate pairs are not needed here
                    break;
                }
                default: fail("bad escape");
            }
        }
        return out;
    }
    Json value(int depth) {
        if (depth > 64) fail("nesting too deep");
        ws();
        if (i_ >= s_.size()) fail("unexpected end");
        Json v;
        const char c = s_[i_];
        if (c == '{') {
            ++i_;
            v.kind = Json::Kind::object;
            if (eat('}')) return v;
            do {
                ws();
                std::string key = string_value();
                expect(':');
                v.object.emplace_back(std::move(key), value(depth + 1));
            } while (eat(','));
            expect('}');
        } else if (c == '[') {
            ++i_;
            v.kind = Json::Kind::array;
            if (eat(']')) return v;
            do {
                v.array.push_back(value(depth + 1));
            } while (eat(','));
            expect(']');
        } else if (c == '"') {
            v.kind = Json::Kind::string;
            v.string = string_value();
        } else if (literal("true")) {
            v.kind = Json::Kind::boolean;
            v.boolean = true;
        } else if (literal("false")) {
            v.kind = Json::Kind::boolean;
        } else if (literal("null")) {
            v.kind = Json::Kind::null;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const size_t start = i_;
            while (i_ < s_.size() && std::string("+-0123456789.eE").find(s_[i_]) != std::string::npos) ++i_;
            const std::string tok = s_.substr(start, i_ - start);
            char *end = nullptr;
            v.kind = Json::Kind::number;
            v.number = std::strtod(tok.c_str(), &end);
            if (end != tok.c_str() + tok.size()) fail("bad number '" + tok + "'");
        } else {
            fail(std::string("unexpected character '") + c + "'");
        }
        return v;
    }

    const std::string &s_;
    size_t i_ = 0;
};

// ---- locating the data -------------------------------------------------------------

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

std::string shell_quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') q += "'\\''";
        else q += c;
    }
    return q + "'";
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
        manifest_ = JsonParser(read_text((fs::path(dir_) / "manifest.json").string())).parse();
    }

    const Json &find_case(const std::string &id) const {
        for (const Json &c : manifest_.at("cases").array) {
            if (c.at("id").str() == id) return c;
        }
        throw std::runtime_error("manifest.json has no case '" + id + "'");
    }

    dcn_npy::Array load(const Json &c, const char *section, const char *role) const {
        const Json &file = c.at(section).at(role);
        dcn_npy::Array a = dcn_npy::read_npy((fs::path(dir_) / file.str()).string());
        // The file must have the shape the manifest states.
        const std::vector<int64_t> want = c.at("shapes").at(role).ints();
        EXPECT_EQ(a.shape, want) << role << " (" << file.str() << ") shape differs from manifest.json";
        return a;
    }

    void run_case(const std::string &id) {
        SCOPED_TRACE(id);
        const Json &c = find_case(id);
        ASSERT_EQ(c.at("op").str(), "deform_conv2d");
        const Json &params = c.at("params");
        const Json &inputs = c.at("inputs");

        const dcn_npy::Array X = load(c, "inputs", "X");
        const dcn_npy::Array W = load(c, "inputs", "W");
        const dcn_npy::Array offset = load(c, "inputs", "offset");
        std::optional<dcn_npy::Array> B, mask;
        if (inputs.find("B")) B = load(c, "inputs", "B");
        if (inputs.find("mask")) mask = load(c, "inputs", "mask");
        const dcn_npy::Array Y = load(c, "outputs", "Y");
        ASSERT_EQ(X.shape.size(), 4u);
        ASSERT_EQ(W.shape.size(), 4u);

        const std::vector<int64_t> kernel = params.at("kernel_shape").ints();
        const std::vector<int64_t> pads = params.at("pads").ints();
        const std::vector<int64_t> strides = params.at("strides").ints();
        const std::vector<int64_t> dilations = params.at("dilations").ints();
        const int group = static_cast<int>(params.at("group").integer());
        const int offset_group = static_cast<int>(params.at("offset_group").integer());
        ASSERT_EQ(kernel, (std::vector<int64_t>{W.shape[2], W.shape[3]})) << "kernel_shape vs W";
        ASSERT_EQ(pads.size(), 4u);
        ASSERT_EQ(strides.size(), 2u);
        ASSERT_EQ(dilations.size(), 2u);
        const double rtol = c.at("tolerance").at("rtol").num();
        const double atol = c.at("tolerance").at("atol").num();

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
        if (mask) mask_v = dcn::TensorView(mask->data.data(), mask->shape);
        if (B) bias_v = dcn::TensorView(B->data.data(), B->shape);
        try {
            dcn::deform_conv2d(dcn::TensorView(X.data.data(), X.shape), dcn::TensorView(offset.data.data(), offset.shape),
                               dcn::TensorView(W.data.data(), W.shape), mask_v, bias_v,
                               dcn::TensorView(out.data(), out_shape), opts);
        } catch (const std::exception &e) {
            FAIL() << "dcn::deform_conv2d threw: " << e.what();
        }
        EXPECT_TRUE(allclose(out, Y.data, rtol, atol)) << "library vs expected Y";

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
        auto tensor = [](const dcn_npy::Array &a) { return dcn_ref::Tensor{a.shape, a.data}; };
        const dcn_ref::Tensor mask_t = mask ? tensor(*mask) : dcn_ref::Tensor{};
        const dcn_ref::Tensor bias_t = B ? tensor(*B) : dcn_ref::Tensor{};
        const std::vector<double> ref = dcn_ref::deform_conv2d(tensor(X), tensor(offset), tensor(W),
                                                              mask ? &mask_t : nullptr, B ? &bias_t : nullptr, p);
        const int64_t reduction = W.shape[1] * W.shape[2] * W.shape[3];
        EXPECT_TRUE(dcn_test::matches_reference(out, ref, out_shape, reduction)) << "library vs reference";
        // The oracle itself agrees with ONNX's expected output.
        EXPECT_TRUE(allclose(std::vector<float>(ref.begin(), ref.end()), Y.data, rtol, atol)) << "reference vs expected Y";

        // --- the CLI -------------------------------------------------------------
        std::string safe = id;
        for (char &ch : safe) {
            if (ch == '/') ch = '_';
        }
        const fs::path tmp = fs::path(DCN_TEST_TMPDIR) / ("OnnxConformance." + safe + "." + std::to_string(::getpid()));
        fs::create_directories(tmp);
        const std::string y_path = (tmp / "Y.npy").string();
        const std::string err_path = (tmp / "stderr.txt").string();
        fs::remove(y_path);
        auto in = [&](const char *role) { return (fs::path(dir_) / inputs.at(role).str()).string(); };
        std::string cmd = shell_quote(DCN_CLI_PATH) + " deform-conv2d --input " + shell_quote(in("X")) +
                          " --offset " + shell_quote(in("offset")) + " --weight " + shell_quote(in("W"));
        if (mask) cmd += " --mask " + shell_quote(in("mask"));
        if (B) cmd += " --bias " + shell_quote(in("B"));
        cmd += " --stride " + csv(strides) + " --padding " + csv(pads) + " --dilation " + csv(dilations) +
               " --groups " + std::to_string(group) + " --offset-groups " + std::to_string(offset_group) +
               " --output " + shell_quote(y_path);
        const int status = std::system((cmd + " </dev/null >/dev/null 2>" + shell_quote(err_path)).c_str());
        ASSERT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << cmd << "\nstatus " << status << "\nstderr: " << read_text(err_path);
        dcn_npy::Array cli_out;
        ASSERT_NO_THROW(cli_out = dcn_npy::read_npy(y_path));
        ASSERT_EQ(cli_out.shape, Y.shape);
        EXPECT_TRUE(allclose(cli_out.data, Y.data, rtol, atol)) << "CLI vs expected Y\n" << cmd;
        EXPECT_TRUE(dcn_test::matches_reference(cli_out.data, ref, out_shape, reduction)) << "CLI vs reference";
    }

    std::string dir_;
    Json manifest_;
};

}  // namespace

TEST_F(OnnxConformance, ManifestListsTheFourCases) {
    std::vector<std::string> ids;
    for (const Json &c : manifest_.at("cases").array) ids.push_back(c.at("id").str());
    EXPECT_EQ(ids, std::vector<std::string>(std::begin(kExpectedCases), std::end(kExpectedCases)))
        << "manifest.json changed: add a test for each new case";
}

TEST_F(OnnxConformance, BasicWithPadding) { run_case("onnx/test_basic_deform_conv_with_padding"); }

TEST_F(OnnxConformance, BasicWithoutPadding) { run_case("onnx/test_basic_deform_conv_without_padding"); }

TEST_F(OnnxConformance, WithMaskBias) { run_case("onnx/test_deform_conv_with_mask_bias"); }

TEST_F(OnnxConformance, MultipleOffsetGroups) { run_case("onnx/test_deform_conv_with_multiple_offset_groups"); }
