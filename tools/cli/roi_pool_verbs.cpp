// dcn deform-psroi-pool and dcn deform-roi-pool: deformable RoI pooling on
// .npy files.
#include <cstdio>

#include "arrays.h"
#include "backward_flags.h"
#include "flags.h"
#include "timing.h"
#include "verb.h"

namespace dcn_cli {
namespace {

using namespace dcn_tools;

// The RoI table is read before the call is validated (validation reads it):
// the library's own limit on a tensor, checked from its header first.
constexpr int64_t kMaxRoiTableBytes = 2147483647;

int int_at_least(const VerbFlags &f, const char *flag, int min) { return parse_int_at_least(flag, f.get(flag), min); }

float spatial_scale(const VerbFlags &f) {
    const float s = parse_float("spatial-scale", f.get("spatial-scale"));
    if (!(s > 0.0f)) throw UsageError("--spatial-scale: '" + f.get("spatial-scale") + "' must be > 0");
    return s;
}

int run_psroi(const VerbFlags &f) {
    // All flag values are checked before any file is touched.
    dcn::DeformPsroiPoolOptions opts;
    opts.output_dim = int_at_least(f, "output-dim", 1);
    opts.group_size = int_at_least(f, "group-size", 1);
    opts.pooled_size = int_at_least(f, "pooled-size", 1);
    if (f.has("part-size")) opts.part_size = int_at_least(f, "part-size", 0);
    if (f.has("sample-per-part")) opts.sample_per_part = int_at_least(f, "sample-per-part", 1);
    if (f.has("trans-std")) opts.trans_std = parse_float("trans-std", f.get("trans-std"));
    if (f.has("spatial-scale")) opts.spatial_scale = spatial_scale(f);
    if (f.has("device")) opts.device = parse_device(f.get("device"));
    const int repeat = f.repeat();
    const OutputPlan plan = plan_outputs(f, {{"grad-input", nullptr}, {"grad-trans", "trans"}});
    if (f.has("count") && !f.has("output")) throw UsageError("--count needs --output (the forward pass)");
    std::vector<std::pair<std::string, std::string>> written = plan.outputs;
    if (f.has("count")) written.push_back({"count", f.get("count")});
    CallArrays::check_distinct_outputs(written);
    if (f.has("trans") && opts.trans_std == 0.0f)
        std::fprintf(stderr, "dcn: warning: --trans is given but --trans-std is 0: the offsets are multiplied by 0 "
                             "and the pooling is not deformed\n");

    // Checked from the headers (and the RoI table, which validation reads)
    // before the other data is read or any output allocated.
    CallArrays a;
    for (const char *name : {"input", "rois", "trans", "grad-output"})
        if (f.has(name)) a.probe(name, f.get(name));
    a.load("rois", kMaxRoiTableBytes);
    const std::vector<int64_t> out_shape =
        dcn::deform_psroi_pool_output_shape(a.shape("input"), a.shape("rois"), opts);
    if (f.has("output"))
        dcn::deform_psroi_pool_validate(a.view("input"), a.view("rois"), a.optional_view("trans"),
                                        a.unallocated(out_shape),
                                        f.has("count") ? std::optional(a.unallocated(out_shape)) : std::nullopt, opts);
    auto grads_of = [&](auto &&view_of) {
        dcn::DeformPsroiPoolGradients g;
        if (f.has("grad-input")) g.input = view_of("grad-input", a.shape("input"));
        if (f.has("grad-trans")) g.trans = view_of("grad-trans", a.shape("trans"));
        return g;
    };
    if (plan.backward)
        dcn::deform_psroi_pool_backward_validate(
            a.view("grad-output"), a.view("input"), a.view("rois"), a.optional_view("trans"),
            grads_of([&](const std::string &, const std::vector<int64_t> &shape) { return a.unallocated(shape); }),
            opts);
    for (const char *name : {"input", "trans", "grad-output"})
        if (f.has(name)) a.load(name);
    const dcn::TensorView in = a.view("input"), rois = a.view("rois");
    const auto trans = a.optional_view("trans");
    const double samples = dcn::deform_psroi_pool_samples(out_shape, opts);

    if (f.has("output")) {
        const dcn::TensorView out = a.output("output", out_shape);
        std::optional<dcn::TensorView> count;
        if (f.has("count")) count = a.output("count", out_shape);
        const std::string timing = run_timed(
            plan.backward ? 0 : repeat, [&] { dcn::deform_psroi_pool(in, rois, trans, out, count, opts); },
            [&](double ms) { return samples_timing_line(ms, samples); });
        a.write("output", f.get("output"));
        if (count) a.write("count", f.get("count"));
        if (!plan.backward) print_timing(timing);
    }
    if (plan.backward) {
        const dcn::DeformPsroiPoolGradients grads = grads_of(
            [&](const std::string &flag, const std::vector<int64_t> &shape) { return a.output(flag, shape); });
        const std::string timing = run_timed(
            repeat, [&] { dcn::deform_psroi_pool_backward(a.view("grad-output"), in, rois, trans, grads, opts); },
            [&](double ms) { return samples_timing_line(ms, samples); });
        for (const char *g : {"grad-input", "grad-trans"})
            if (f.has(g)) a.write(g, f.get(g));
        print_timing(timing);
    }
    return 0;
}

int run_roi(const VerbFlags &f) {
    // All flag values are checked before any file is touched.
    dcn::DeformRoiPoolOptions opts;
    opts.output_size = parse_pair("output-size", f.get("output-size"), "P or PH,PW", 1);
    if (f.has("spatial-scale")) opts.spatial_scale = spatial_scale(f);
    if (f.has("sampling-ratio")) opts.sampling_ratio = int_at_least(f, "sampling-ratio", 0);
    if (f.has("gamma")) opts.gamma = parse_float("gamma", f.get("gamma"));
    if (f.has("device")) opts.device = parse_device(f.get("device"));
    const int repeat = f.repeat();

    const OutputPlan plan =
        plan_outputs(f, {{"grad-input", nullptr}, {"grad-offset", "offset"}, {"grad-mask", "mask"}});

    // Checked from the headers (and the RoI table) before the other data is
    // read or the output allocated.
    CallArrays a;
    for (const char *name : {"input", "rois", "offset", "mask", "grad-output"})
        if (f.has(name)) a.probe(name, f.get(name));
    a.load("rois", kMaxRoiTableBytes);
    const std::vector<int64_t> out_shape = dcn::deform_roi_pool_output_shape(a.shape("input"), a.shape("rois"), opts);
    if (f.has("output"))
        dcn::deform_roi_pool_validate(a.view("input"), a.view("rois"), a.optional_view("offset"),
                                      a.optional_view("mask"), a.unallocated(out_shape), opts);
    auto grads_of = [&](auto &&view_of) {
        dcn::DeformRoiPoolGradients g;
        if (f.has("grad-input")) g.input = view_of("grad-input", a.shape("input"));
        if (f.has("grad-offset")) g.offset = view_of("grad-offset", a.shape("offset"));
        if (f.has("grad-mask")) g.mask = view_of("grad-mask", a.shape("mask"));
        return g;
    };
    if (plan.backward)
        dcn::deform_roi_pool_backward_validate(
            a.view("grad-output"), a.view("input"), a.view("rois"), a.optional_view("offset"),
            a.optional_view("mask"),
            grads_of([&](const std::string &, const std::vector<int64_t> &shape) { return a.unallocated(shape); }),
            opts);
    for (const char *name : {"input", "offset", "mask", "grad-output"})
        if (f.has(name)) a.load(name);
    const dcn::TensorView in = a.view("input"), rois = a.view("rois");
    const auto offset = a.optional_view("offset"), mask = a.optional_view("mask");
    // The library accepted the shapes: input is (N, C, H, W).
    const double samples = dcn::deform_roi_pool_samples(rois, in.shape[1], opts);

    if (f.has("output")) {
        const dcn::TensorView out = a.output("output", out_shape);
        const std::string timing = run_timed(
            plan.backward ? 0 : repeat, [&] { dcn::deform_roi_pool(in, rois, offset, mask, out, opts); },
            [&](double ms) { return samples_timing_line(ms, samples); });
        a.write("output", f.get("output"));
        if (!plan.backward) print_timing(timing);
    }
    if (plan.backward) {
        const dcn::DeformRoiPoolGradients grads = grads_of(
            [&](const std::string &flag, const std::vector<int64_t> &shape) { return a.output(flag, shape); });
        const std::string timing = run_timed(
            repeat, [&] { dcn::deform_roi_pool_backward(a.view("grad-output"), in, rois, offset, mask, grads, opts); },
            [&](double ms) { return samples_timing_line(ms, samples); });
        for (const char *g : {"grad-input", "grad-offset", "grad-mask"})
            if (f.has(g)) a.write(g, f.get(g));
        print_timing(timing);
    }
    return 0;
}

constexpr const char *kArrays = "Arrays are .npy files, C order, all of one dtype: '<f4' (float32), '<f8' (float64), '<f2' (float16) or '<V2' (bfloat16, as numpy.save writes ml_dtypes.bfloat16).";

}  // namespace

Verb add_deform_psroi_pool(CLI::App &app) {
    Verb v;
    v.name = "deform-psroi-pool";
    v.flags = std::make_shared<VerbFlags>(app, v.name, "deformable (position-sensitive) RoI pooling, MSRA / Deformable R-FCN semantics "
                               "(group size 1 and output dim = C: the plain deformable RoI pooling)");
    VerbFlags &f = *v.flags;
    f.add("input", "input (N, C, H, W), C = output_dim * group_size^2", true);
    f.add("rois", "RoIs (R, 5): batch index, x1, y1, x2, y2 (image coordinates)", true);
    f.add("trans", "normalised offsets (R, 2*num_classes, part, part), x first; absent: no deformation");
    f.add("output-dim", "output channels per RoI", true);
    f.add("group-size", "position-sensitive group size (1: plain)", true);
    f.add("pooled-size", "bins per side", true);
    f.add("part-size", "trans cells per side (default 0 = pooled size)");
    f.add("sample-per-part", "samples per bin side (default 4)");
    f.add("trans-std", "scale of trans (default 0: with --trans, a warning: 0 turns the deformation off)");
    f.add("spatial-scale", "feature map / image size, e.g. 0.0625 (default 1)");
    f.add("output", "output (R, output_dim, P, P), written as .npy (required without --grad-output)");
    f.add("count", "also write the number of samples inside the image per bin (R, output_dim, P, P) as .npy");
    f.add("grad-output", grad_output_help("(R, output_dim, P, P)"));
    f.add("grad-input", "gradient of the input (N, C, H, W), written");
    f.add("grad-trans", "gradient of trans, written (needs --trans)");
    f.add("device", "cpu (default), cuda, opencl");
    f.add("repeat", "after a warm-up run, time N runs (of the backward pass with --grad-output) and print "
                    "'median_ms=<float> gsamples=<float>' (the forward's samples) as the last line on stderr");
    v.flags->footer(kArrays);
    v.run = run_psroi;
    return v;
}

Verb add_deform_roi_pool(CLI::App &app) {
    Verb v;
    v.name = "deform-roi-pool";
    v.flags = std::make_shared<VerbFlags>(app, v.name, "deformable RoI pooling with RoIAlign sampling, mmcv DeformRoIPool semantics "
                               "(ModulatedDeformRoIPoolPack with --mask)");
    VerbFlags &f = *v.flags;
    f.add("input", "input (N, C, H, W)", true);
    f.add("rois", "RoIs (R, 5): batch index, x1, y1, x2, y2 (image coordinates)", true);
    f.add("offset", "normalised offsets (R, 2, PH, PW), channel 0 = x, 1 = y");
    f.add("mask", "modulation mask (R, 1, PH, PW), multiplies the pooled output");
    f.add("output-size", "P, or PH,PW: bins per RoI", true);
    f.add("spatial-scale", "feature map / image size, e.g. 0.0625 (default 1)");
    f.add("sampling-ratio", "samples per bin side (default 0: adaptive, ceil(roi / bins))");
    f.add("gamma", "scale of the offset (default 0.1)");
    f.add("output", "output (R, C, PH, PW), written as .npy (required without --grad-output)");
    f.add("grad-output", grad_output_help("(R, C, PH, PW)"));
    f.add("grad-input", "gradient of the input (N, C, H, W), written");
    f.add("grad-offset", "gradient of the offset, written (needs --offset)");
    f.add("grad-mask", "gradient of the mask, written (needs --mask)");
    f.add("device", "cpu (default), cuda, opencl");
    f.add("repeat", "after a warm-up run, time N runs (of the backward pass with --grad-output) and print "
                    "'median_ms=<float> gsamples=<float>' (the forward's samples) as the last line on stderr");
    v.flags->footer(kArrays);
    v.run = run_roi;
    return v;
}

}  // namespace dcn_cli
