// The tuning problems of the three operators (see problem.h). Shapes and
// flags follow the `dcn` CLI (docs/cli.md); the inputs are random
// but realistic: offsets of a few pixels, masks in [0, 1], RoIs of a few
// feature-map cells to half the image.
#include "problem.h"

#include "dcn/dcn.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace dcn::autotune {

using Halide::Buffer;

namespace {

using dcn_tools::UsageError;

int64_t parse_int(const std::string &flag, const std::string &text) { return dcn_tools::parse_int(flag, text); }

float parse_float(const std::string &flag, const std::string &text) { return dcn_tools::parse_float(flag, text); }

// "a,b,c" with one of the allowed counts, each >= min_value.
std::vector<int64_t> parse_list(const std::string &flag, const std::string &text, std::vector<size_t> counts,
                                const std::string &form, int min_value) {
    const std::vector<int> v = dcn_tools::parse_int_list(flag, text, counts, form.c_str());
    dcn_tools::require_at_least(flag, v, min_value, text);
    return std::vector<int64_t>(v.begin(), v.end());
}

std::string join(const std::vector<int64_t> &v, const char *sep = ",") {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) s += (i ? sep : "") + std::to_string(v[i]);
    return s;
}

std::string fmt(float v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

void fill_uniform(Buffer<float> &b, std::mt19937 &rng, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    b.for_each_value([&](float &v) { v = d(rng); });
}

// The library's own checks of a call (dcn::*_validate, *_output_shape),
// from shapes alone: a problem the library would refuse is a usage error
// with the library's message, and no rule is stated twice.
double g_unread[1];  // the stand-in for data validation never reads
dcn::TensorView shape_only(const std::vector<int64_t> &shape) { return dcn::TensorView(g_unread, shape); }
template <typename F>
auto as_usage_error(const char *flags, F &&check) {
    try {
        return check();
    } catch (const dcn::Error &e) {
        throw UsageError(std::string(flags) + ": " + e.what());
    }
}

Buffer<float> poisoned(const std::vector<int> &extents) {
    Buffer<float> b(extents);
    b.fill(std::nanf(""));
    return b;
}

// Binds a buffer / scalar to the generator's Input of that name.
void bind_buffer(Halide::Internal::AbstractGenerator &g, const std::string &name, const Buffer<float> &b) {
    g.input_parameter(name).at(0).set_buffer(b);
}
template <typename T>
void bind_scalar(Halide::Internal::AbstractGenerator &g, const std::string &name, T v) {
    g.input_parameter(name).at(0).set_scalar<T>(v);
}

// Random RoIs [batch, x1, y1, x2, y2] in input-image coordinates (the
// feature map scaled by 1/spatial_scale): sides from 2 cells to half the
// map, anywhere in the image.
Buffer<float> random_rois(std::mt19937 &rng, int64_t R, int64_t N, int64_t H, int64_t W, float scale) {
    Buffer<float> rois(5, static_cast<int>(R));
    const float img_w = W / scale, img_h = H / scale;
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::uniform_int_distribution<int64_t> batch(0, N - 1);
    for (int r = 0; r < R; r++) {
        const float w = (2.0f / scale) + u(rng) * (img_w / 2), h = (2.0f / scale) + u(rng) * (img_h / 2);
        const float x1 = u(rng) * std::max(img_w - w, 1.0f), y1 = u(rng) * std::max(img_h - h, 1.0f);
        rois(0, r) = static_cast<float>(batch(rng));
        rois(1, r) = x1;
        rois(2, r) = y1;
        rois(3, r) = x1 + w;
        rois(4, r) = y1 + h;
    }
    return rois;
}

// ---- deform_conv2d --------------------------------------------------------------

class DeformConv2dProblem : public Problem {
public:
    explicit DeformConv2dProblem(const dcn_tools::StringFlags &f) {
        s_ = parse_list("shape", f.get("shape"), {7}, "N,C,H,W,K,kH,kW", 1);
        N = s_[0], C = s_[1], H = s_[2], W = s_[3], K = s_[4], kH = s_[5], kW = s_[6];
        if (f.has("stride")) stride_ = parse_list("stride", f.get("stride"), {1, 2}, "S or SH,SW", 1);
        if (f.has("padding"))
            padding_ = parse_list("padding", f.get("padding"), {1, 2, 4}, "P, PH,PW or T,L,B,R", 0);
        if (f.has("dilation")) dilation_ = parse_list("dilation", f.get("dilation"), {1, 2}, "D or DH,DW", 1);
        // (>= 1: the weight's shape, C / groups, is made from them.)
        groups_ = parse_list("groups", f.get_or("groups", "1"), {1}, "G", 1)[0];
        offset_groups_ = parse_list("offset-groups", f.get_or("offset-groups", "1"), {1}, "G", 1)[0];
        mask_ = f.has("mask");
        bias_ = f.has("bias");
        const auto two = [](const std::vector<int64_t> &v) { return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v; };
        stride_ = two(stride_);
        dilation_ = two(dilation_);
        std::vector<int64_t> p = padding_;
        if (p.size() == 1) p = {p[0], p[0], p[0], p[0]};
        if (p.size() == 2) p = {p[0], p[1], p[0], p[1]};
        pad_ = p;
        // The output's size, the groups and every limit: the library's checks.
        dcn::DeformConv2dOptions opt;
        opt.stride = {int(stride_[0]), int(stride_[1])};
        opt.padding = dcn::Padding(int(p[0]), int(p[1]), int(p[2]), int(p[3]));
        opt.dilation = {int(dilation_[0]), int(dilation_[1])};
        opt.groups = int(groups_);
        opt.offset_groups = int(offset_groups_);
        const char *what = "--shape / --stride / --padding / --dilation / --groups / --offset-groups";
        as_usage_error(what, [&] {
            const std::vector<int64_t> out = dcn::deform_conv2d_output_shape({N, C, H, W}, {K, C / groups_, kH, kW}, opt);
            oH = out[2];
            oW = out[3];
            const int64_t G = offset_groups_, taps = kH * kW;
            const dcn::TensorView mask = shape_only({N, G * taps, oH, oW}), bias = shape_only({K});
            dcn::deform_conv2d_validate(shape_only({N, C, H, W}), shape_only({N, 2 * G * taps, oH, oW}),
                                        shape_only({K, C / groups_, kH, kW}), mask_ ? std::optional(mask) : std::nullopt,
                                        bias_ ? std::optional(bias) : std::nullopt, shape_only(out), opt);
            return 0;
        });
        if (N * C * H * W > (int64_t(1) << 31) || N * K * oH * oW > (int64_t(1) << 31))
            throw UsageError("--shape: tensors over 2^31 elements are not supported");
    }

    std::string op() const override { return "deform_conv2d"; }
    std::map<std::string, std::string> variant_params() const override {
        return {{"with_mask", mask_ ? "true" : "false"}, {"with_bias", bias_ ? "true" : "false"}};
    }
    std::string shape() const override { return join(s_); }
    std::string flags() const override {
        std::string f;
        if (stride_ != std::vector<int64_t>{1, 1}) f += " --stride " + join(stride_);
        if (pad_ != std::vector<int64_t>{0, 0, 0, 0}) f += " --padding " + join(padding_);
        if (dilation_ != std::vector<int64_t>{1, 1}) f += " --dilation " + join(dilation_);
        if (groups_ != 1) f += " --groups " + std::to_string(groups_);
        if (offset_groups_ != 1) f += " --offset-groups " + std::to_string(offset_groups_);
        if (mask_) f += " --mask";
        if (bias_) f += " --bias";
        return f.empty() ? f : f.substr(1);
    }
    std::vector<int64_t> features() const override { return {K, C / groups_ * kH * kW, oH * oW}; }
    std::string describe() const override {
        return "deform_conv2d " + std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" +
               std::to_string(W) + " -> " + std::to_string(K) + ", " + std::to_string(kH) + "x" +
               std::to_string(kW) + (flags().empty() ? "" : " " + flags());
    }
    double work() const override { return 2.0 * N * K * (C / groups_) * kH * kW * oH * oW; }
    const char *work_unit() const override { return "GFLOP/s"; }

    void make_inputs(std::mt19937 &rng) override {
        const int taps = static_cast<int>(kH * kW), G = static_cast<int>(offset_groups_);
        input_ = Buffer<float>(int(W), int(H), int(C), int(N));
        offset_ = Buffer<float>(int(oW), int(oH), 2 * G * taps, int(N));
        weight_ = Buffer<float>(int(kW), int(kH), int(C / groups_), int(K));
        fill_uniform(input_, rng, -1.0f, 1.0f);
        fill_uniform(offset_, rng, -2.0f, 2.0f);
        const float ws = 1.0f / std::sqrt(float(C / groups_ * taps));
        fill_uniform(weight_, rng, -ws, ws);
        if (mask_) {
            mask_buf_ = Buffer<float>(int(oW), int(oH), G * taps, int(N));
            fill_uniform(mask_buf_, rng, 0.0f, 1.0f);
        }
        if (bias_) {
            bias_buf_ = Buffer<float>(int(K));
            fill_uniform(bias_buf_, rng, -1.0f, 1.0f);
        }
    }

    void bind(Halide::Internal::AbstractGenerator &g) const override {
        bind_buffer(g, "input", input_);
        bind_buffer(g, "offset", offset_);
        bind_buffer(g, "weight", weight_);
        bind_scalar<int>(g, "stride_y", int(stride_[0]));
        bind_scalar<int>(g, "stride_x", int(stride_[1]));
        bind_scalar<int>(g, "pad_top", int(pad_[0]));
        bind_scalar<int>(g, "pad_left", int(pad_[1]));
        bind_scalar<int>(g, "dilation_y", int(dilation_[0]));
        bind_scalar<int>(g, "dilation_x", int(dilation_[1]));
        bind_scalar<int>(g, "groups", int(groups_));
        bind_scalar<int>(g, "offset_groups", int(offset_groups_));
        if (mask_) bind_buffer(g, "mask", mask_buf_);
        if (bias_) bind_buffer(g, "bias", bias_buf_);
    }

    Halide::Realization make_outputs() const override {
        return Halide::Realization(std::vector<Buffer<>>{poisoned({int(oW * oH), int(K), int(N)})});
    }

private:
    std::vector<int64_t> s_, stride_{1, 1}, padding_{0}, pad_, dilation_{1, 1};
    int64_t N, C, H, W, K, kH, kW, oH, oW, groups_, offset_groups_;
    bool mask_, bias_;
    Buffer<float> input_, offset_, weight_, mask_buf_, bias_buf_;
};

// ---- deform_psroi_pool ------------------------------------------------------------

class DeformPsroiPoolProblem : public Problem {
public:
    explicit DeformPsroiPoolProblem(const dcn_tools::StringFlags &f) {
        s_ = parse_list("shape", f.get("shape"), {5}, "N,C,H,W,R", 1);
        N = s_[0], C = s_[1], H = s_[2], W = s_[3], R = s_[4];
        // (>= 1: the default output_dim, C / group_size^2, is made from it.)
        group_ = parse_list("group-size", f.get_or("group-size", "7"), {1}, "G", 1)[0];
        output_dim_ = f.has("output-dim") ? parse_int("output-dim", f.get("output-dim")) : C / (group_ * group_);
        pooled_ = parse_int("pooled-size", f.get_or("pooled-size", "7"));
        part_ = parse_int("part-size", f.get_or("part-size", "0"));
        spp_ = parse_int("sample-per-part", f.get_or("sample-per-part", "4"));
        trans_std_ = parse_float("trans-std", f.get_or("trans-std", "0.1"));
        scale_ = parse_float("spatial-scale", f.get_or("spatial-scale", "0.0625"));
        trans_ = f.has("trans");
        // Every rule of the options and of C: the library's checks.
        dcn::DeformPsroiPoolOptions opt;
        opt.spatial_scale = scale_;
        opt.output_dim = int(output_dim_);
        opt.group_size = int(group_);
        opt.pooled_size = int(pooled_);
        opt.part_size = int(part_);
        opt.sample_per_part = int(spp_);
        opt.trans_std = trans_std_;
        as_usage_error("--shape / --output-dim / --group-size / --pooled-size / --part-size / --sample-per-part / "
                       "--spatial-scale", [&] { return dcn::deform_psroi_pool_output_shape({N, C, H, W}, {R, 5}, opt); });
        if (part_ == 0) part_ = pooled_;
    }

    std::string op() const override { return "deform_psroi_pool"; }
    std::map<std::string, std::string> variant_params() const override {
        return {{"with_trans", trans_ ? "true" : "false"}};
    }
    std::string shape() const override { return join(s_); }
    std::string flags() const override {
        std::string f = "--group-size " + std::to_string(group_) + " --output-dim " + std::to_string(output_dim_) +
                        " --pooled-size " + std::to_string(pooled_) + " --part-size " + std::to_string(part_) +
                        " --sample-per-part " + std::to_string(spp_) + " --spatial-scale " + fmt(scale_);
        if (trans_) f += " --trans --trans-std " + fmt(trans_std_);
        return f;
    }
    std::vector<int64_t> features() const override { return {C, R}; }
    std::string describe() const override { return "deform_psroi_pool " + shape() + " " + flags(); }
    double work() const override { return double(R) * output_dim_ * pooled_ * pooled_ * spp_ * spp_; }
    const char *work_unit() const override { return "Gsamples/s"; }

    void make_inputs(std::mt19937 &rng) override {
        input_ = Buffer<float>(int(W), int(H), int(C), int(N));
        fill_uniform(input_, rng, -1.0f, 1.0f);
        rois_ = random_rois(rng, R, N, H, W, scale_);
        if (trans_) {
            trans_buf_ = Buffer<float>(int(part_), int(part_), 2, int(R));
            fill_uniform(trans_buf_, rng, -1.0f, 1.0f);
        }
    }

    void bind(Halide::Internal::AbstractGenerator &g) const override {
        bind_buffer(g, "input", input_);
        bind_buffer(g, "rois", rois_);
        bind_scalar<float>(g, "spatial_scale", scale_);
        bind_scalar<int>(g, "output_dim", int(output_dim_));
        bind_scalar<int>(g, "group_size", int(group_));
        bind_scalar<int>(g, "pooled_size", int(pooled_));
        bind_scalar<int>(g, "part_size", int(part_));
        bind_scalar<int>(g, "sample_per_part", int(spp_));
        bind_scalar<float>(g, "trans_std", trans_std_);
        if (trans_) bind_buffer(g, "trans", trans_buf_);
    }

    Halide::Realization make_outputs() const override {
        const std::vector<int> e{int(pooled_), int(pooled_), int(output_dim_), int(R)};
        return Halide::Realization(std::vector<Buffer<>>{poisoned(e), poisoned(e)});
    }

private:
    std::vector<int64_t> s_;
    int64_t N, C, H, W, R, group_, output_dim_, pooled_, part_, spp_;
    float trans_std_, scale_;
    bool trans_;
    Buffer<float> input_, rois_, trans_buf_;
};

// ---- deform_roi_pool ----------------------------------------------------------------

class DeformRoiPoolProblem : public Problem {
public:
    explicit DeformRoiPoolProblem(const dcn_tools::StringFlags &f) {
        s_ = parse_list("shape", f.get("shape"), {5}, "N,C,H,W,R", 1);
        N = s_[0], C = s_[1], H = s_[2], W = s_[3], R = s_[4];
        out_ = parse_list("output-size", f.get_or("output-size", "7"), {1, 2}, "P or PH,PW", 1);
        if (out_.size() == 1) out_ = {out_[0], out_[0]};
        scale_ = parse_float("spatial-scale", f.get_or("spatial-scale", "0.0625"));
        ratio_ = parse_int("sampling-ratio", f.get_or("sampling-ratio", "2"));
        gamma_ = parse_float("gamma", f.get_or("gamma", "0.1"));
        offset_ = f.has("offset");
        mask_ = f.has("mask");
        dcn::DeformRoiPoolOptions opt;
        opt.output_size = {int(out_[0]), int(out_[1])};
        opt.spatial_scale = scale_;
        opt.sampling_ratio = int(ratio_);
        opt.gamma = gamma_;
        as_usage_error("--shape / --output-size / --spatial-scale / --sampling-ratio",
                       [&] { return dcn::deform_roi_pool_output_shape({N, C, H, W}, {R, 5}, opt); });
    }

    std::string op() const override { return "deform_roi_pool"; }
    std::map<std::string, std::string> variant_params() const override {
        return {{"with_offset", offset_ ? "true" : "false"}, {"with_mask", mask_ ? "true" : "false"}};
    }
    std::string shape() const override { return join(s_); }
    std::string flags() const override {
        std::string f = "--output-size " + join(out_) + " --spatial-scale " + fmt(scale_) + " --sampling-ratio " +
                        std::to_string(ratio_);
        if (offset_) f += " --offset --gamma " + fmt(gamma_);
        if (mask_) f += " --mask";
        return f;
    }
    std::vector<int64_t> features() const override { return {C, R}; }
    std::string describe() const override { return "deform_roi_pool " + shape() + " " + flags(); }
    double work() const override { return grid_points_ * double(C) * out_[0] * out_[1]; }
    const char *work_unit() const override { return "Gsamples/s"; }

    void make_inputs(std::mt19937 &rng) override {
        input_ = Buffer<float>(int(W), int(H), int(C), int(N));
        fill_uniform(input_, rng, -1.0f, 1.0f);
        rois_ = random_rois(rng, R, N, H, W, scale_);
        // The sampling grid bound, as runtime/src/roi_pool.cpp computes it.
        int64_t max_grid = 1;
        grid_points_ = 0.0;
        for (int r = 0; r < R; r++) {
            int64_t gh = ratio_, gw = ratio_;
            if (ratio_ == 0) {
                auto grid = [&](float a, float b, int64_t bins) {
                    const float g = std::ceil(((b * scale_ - 0.5f) - (a * scale_ - 0.5f)) / float(bins));
                    return g > 0.0f ? int64_t(std::min(g, 256.0f)) : int64_t(0);
                };
                gh = grid(rois_(2, r), rois_(4, r), out_[0]);
                gw = grid(rois_(1, r), rois_(3, r), out_[1]);
            }
            max_grid = std::max({max_grid, gh, gw});
            grid_points_ += double(gh) * double(gw);
        }
        bound_ = int(max_grid + (ratio_ > 0 ? 0 : 1));
        if (offset_) {
            off_buf_ = Buffer<float>(int(out_[1]), int(out_[0]), 2, int(R));
            fill_uniform(off_buf_, rng, -1.0f, 1.0f);
        }
        if (mask_) {
            mask_buf_ = Buffer<float>(int(out_[1]), int(out_[0]), 1, int(R));
            fill_uniform(mask_buf_, rng, 0.0f, 1.0f);
        }
    }

    void bind(Halide::Internal::AbstractGenerator &g) const override {
        bind_buffer(g, "input", input_);
        bind_buffer(g, "rois", rois_);
        bind_scalar<float>(g, "spatial_scale", scale_);
        bind_scalar<int>(g, "sampling_ratio", int(ratio_));
        bind_scalar<float>(g, "gamma", gamma_);
        bind_scalar<int>(g, "max_grid", bound_);
        if (offset_) bind_buffer(g, "offset", off_buf_);
        if (mask_) bind_buffer(g, "mask", mask_buf_);
    }

    Halide::Realization make_outputs() const override {
        return Halide::Realization(std::vector<Buffer<>>{poisoned({int(out_[1]), int(out_[0]), int(C), int(R)})});
    }

private:
    std::vector<int64_t> s_, out_;
    int64_t N, C, H, W, R, ratio_;
    float scale_, gamma_;
    bool offset_, mask_;
    int bound_ = 1;
    double grid_points_ = 0.0;
    Buffer<float> input_, rois_, off_buf_, mask_buf_;
};

}  // namespace

std::unique_ptr<Problem> make_problem(const std::string &op, const dcn_tools::StringFlags &flags) {
    if (op == "deform_conv2d") return std::make_unique<DeformConv2dProblem>(flags);
    if (op == "deform_psroi_pool") return std::make_unique<DeformPsroiPoolProblem>(flags);
    if (op == "deform_roi_pool") return std::make_unique<DeformRoiPoolProblem>(flags);
    throw UsageError("unknown operator '" + op + "' (expected deform_conv2d, deform_psroi_pool or deform_roi_pool)");
}

void add_problem_flags(const std::string &op, dcn_tools::StringFlags &f) {
    f.add("shape", op == "deform_conv2d" ? "N,C,H,W,K,kH,kW" : "N,C,H,W,R", true);
    if (op == "deform_conv2d") {
        f.add("stride", "S or SH,SW (default 1)");
        f.add("padding", "P, PH,PW or T,L,B,R (default 0)");
        f.add("dilation", "D or DH,DW (default 1)");
        f.add("groups", "weight groups (default 1)");
        f.add("offset-groups", "offset groups (default 1)");
        f.add_switch("mask", "DCNv2 (modulation mask)");
        f.add_switch("bias", "with a bias");
    } else if (op == "deform_psroi_pool") {
        f.add("group-size", "position-sensitive group size (default 7)");
        f.add("output-dim", "output channels (default C / group^2)");
        f.add("pooled-size", "bins per side (default 7)");
        f.add("part-size", "trans cells per side (default 0 = pooled)");
        f.add("sample-per-part", "samples per bin side (default 4)");
        f.add("spatial-scale", "default 0.0625");
        f.add("trans-std", "default 0.1");
        f.add_switch("trans", "with trans (deformed)");
    } else {
        f.add("output-size", "P or PH,PW (default 7)");
        f.add("spatial-scale", "default 0.0625");
        f.add("sampling-ratio", "default 2");
        f.add("gamma", "default 0.1");
        f.add_switch("offset", "with an offset (deformed)");
        f.add_switch("mask", "modulated");
    }
}

}  // namespace dcn::autotune
