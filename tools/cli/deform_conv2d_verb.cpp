// dcn deform-conv2d: deformable convolution on .npy files.
#include "arrays.h"
#include "backward_flags.h"
#include "flags.h"
#include "timing.h"
#include "verb.h"

namespace dcn_cli {
namespace {

using namespace dcn_tools;

int run(const VerbFlags &f) {
    // All flag values are checked before any file is touched.
    dcn::DeformConv2dOptions opts;
    if (f.has("stride")) opts.stride = parse_pair("stride", f.get("stride"), "S or SH,SW", 1);
    if (f.has("padding")) {
        const std::string t = f.get("padding");
        const std::vector<int> v = parse_int_list("padding", t, {1, 2, 4}, "P, PH,PW or T,L,B,R");
        require_at_least("padding", v, 0, t);
        if (v.size() == 1) opts.set_padding(v[0], v[0]);
        else if (v.size() == 2) opts.set_padding(v[0], v[1]);
        else opts.set_padding(v[0], v[1], v[2], v[3]);
    }
    if (f.has("dilation")) opts.dilation = parse_pair("dilation", f.get("dilation"), "D or DH,DW", 1);
    if (f.has("groups")) opts.groups = parse_int_at_least("groups", f.get("groups"), 1);
    if (f.has("offset-groups")) opts.offset_groups = parse_int_at_least("offset-groups", f.get("offset-groups"), 1);
    if (f.has("device")) opts.device = parse_device(f.get("device"));
    const int repeat = f.repeat();

    const OutputPlan plan = plan_outputs(f, {{"grad-input", nullptr}, {"grad-offset", nullptr},
                                             {"grad-mask", "mask"}, {"grad-weight", nullptr},
                                             {"grad-bias", nullptr}});
    const bool backward = plan.backward;
    const char *const grad_flags[] = {"grad-input", "grad-offset", "grad-mask", "grad-weight", "grad-bias"};

    // The whole call is checked from the files' headers before any data is
    // read or any output allocated.
    const char *const inputs[] = {"input", "offset", "weight", "mask", "bias", "grad-output"};
    CallArrays a;
    for (const char *name : inputs)
        if (f.has(name)) a.probe(name, f.get(name));
    const std::vector<int64_t> out_shape = dcn::deform_conv2d_output_shape(a.shape("input"), a.shape("weight"), opts);
    if (f.has("output"))
        dcn::deform_conv2d_validate(a.view("input"), a.view("offset"), a.view("weight"), a.optional_view("mask"),
                                    a.optional_view("bias"), a.unallocated(out_shape), opts);
    const std::vector<int64_t> bias_shape{a.shape("weight")[0]};
    const std::vector<int64_t> mask_shape = f.has("mask") ? a.shape("mask") : std::vector<int64_t>{};
    auto grads_of = [&](auto &&view_of) {
        dcn::DeformConv2dGradients g;
        if (f.has("grad-input")) g.input = view_of("grad-input", a.shape("input"));
        if (f.has("grad-offset")) g.offset = view_of("grad-offset", a.shape("offset"));
        if (f.has("grad-mask")) g.mask = view_of("grad-mask", mask_shape);
        if (f.has("grad-weight")) g.weight = view_of("grad-weight", a.shape("weight"));
        if (f.has("grad-bias")) g.bias = view_of("grad-bias", bias_shape);
        return g;
    };
    if (backward)
        dcn::deform_conv2d_backward_validate(
            a.view("grad-output"), a.view("input"), a.view("offset"), a.view("weight"), a.optional_view("mask"),
            grads_of([&](const std::string &, const std::vector<int64_t> &shape) { return a.unallocated(shape); }),
            opts);
    for (const char *name : inputs)
        if (f.has(name)) a.load(name);
    const dcn::TensorView in = a.view("input"), off = a.view("offset"), w = a.view("weight");
    const auto mask = a.optional_view("mask"), bias = a.optional_view("bias");

    if (f.has("output")) {
        const dcn::TensorView out = a.output("output", out_shape);
        const std::string timing = run_timed(
            backward ? 0 : repeat, [&] { dcn::deform_conv2d(in, off, w, mask, bias, out, opts); },
            [&](double ms) { return flops_timing_line(ms, dcn::deform_conv2d_flops(in.shape, w.shape, out_shape)); });
        a.write("output", f.get("output"));
        if (!backward) print_timing(timing);
    }
    if (backward) {
        const dcn::DeformConv2dGradients grads = grads_of(
            [&](const std::string &flag, const std::vector<int64_t> &shape) { return a.output(flag, shape); });
        // FLOPs: one forward-sized GEMM for the data gradients (grad_columns),
        // one for the weight gradient.
        const double gemm = dcn::deform_conv2d_flops(in.shape, w.shape, out_shape);
        const double flops = ((grads.input || grads.offset || grads.mask) ? gemm : 0.0) + (grads.weight ? gemm : 0.0);
        const std::string timing = run_timed(
            repeat, [&] { dcn::deform_conv2d_backward(a.view("grad-output"), in, off, w, mask, grads, opts); },
            [&](double ms) { return flops_timing_line(ms, flops); });
        for (const char *g : grad_flags)
            if (f.has(g)) a.write(g, f.get(g));
        print_timing(timing);
    }
    return 0;
}

}  // namespace

Verb add_deform_conv2d(CLI::App &app) {
    Verb v;
    v.name = "deform-conv2d";
    v.flags = std::make_shared<VerbFlags>(app, v.name, "deformable convolution (DCNv1; DCNv2 with --mask), torchvision.ops.deform_conv2d / "
                               "ONNX DeformConv semantics");
    VerbFlags &f = *v.flags;
    f.add("input", "input (N, C, H, W)", true);
    f.add("offset", "offsets (N, 2*G*kH*kW, oH, oW), (dy, dx) pairs", true);
    f.add("weight", "weight (K, C/groups, kH, kW)", true);
    f.add("mask", "modulation mask (N, G*kH*kW, oH, oW) (DCNv2)");
    f.add("bias", "bias (K)");
    f.add("stride", "S, or SH,SW (default 1)");
    f.add("padding", "P (all sides), PH,PW, or T,L,B,R (ONNX order) (default 0)");
    f.add("dilation", "D, or DH,DW (default 1)");
    f.add("groups", "weight groups (default: C / weight.shape[1])");
    f.add("offset-groups", "offset groups G (default: offset.shape[1] / (2*kH*kW))");
    f.add("output", "output (N, K, oH, oW), written as .npy in the inputs' dtype (required without --grad-output)");
    f.add("grad-output", grad_output_help("(N, K, oH, oW)"));
    f.add("grad-input", "gradient of the input (N, C, H, W), written");
    f.add("grad-offset", "gradient of the offsets, written");
    f.add("grad-mask", "gradient of the mask, written (needs --mask)");
    f.add("grad-weight", "gradient of the weight, written");
    f.add("grad-bias", "gradient of the bias (K), written");
    f.add("device", "cpu (default), cuda, opencl");
    f.add("repeat", "after a warm-up run, time N runs (of the backward pass with --grad-output) and print "
                    "'median_ms=<float> gflops=<float>' as the last line on stderr");
    v.flags->footer("Arrays are .npy files, C order, all of one dtype: '<f4' (float32), '<f8' (float64), '<f2' (float16) or '<V2' (bfloat16, as numpy.save writes ml_dtypes.bfloat16).");
    v.run = run;
    return v;
}

}  // namespace dcn_cli
