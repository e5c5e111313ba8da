// `dcn`: command-line front end of the dcn kernels (DESIGN.md section 4).
//
//   dcn deform-conv2d --input X --offset O --weight W [--mask M] [--bias B]
//                     [--stride S|SH,SW] [--padding P|PH,PW|T,L,B,R]
//                     [--dilation D|DH,DW] [--groups N] [--offset-groups N]
//                     --output Y [--device cpu|cuda|opencl] [--repeat N]
//   dcn deform-psroi-pool --input X --rois R [--trans T] --output-dim D
//                     --group-size G --pooled-size P [--part-size P]
//                     [--sample-per-part S] [--trans-std T] [--spatial-scale S]
//                     --output Y [--count C] [--device ...] [--repeat N]
//   dcn deform-roi-pool --input X --rois R [--offset O] [--mask M]
//                     --output-size PH,PW [--spatial-scale S] [--sampling-ratio N]
//                     [--gamma G] --output Y [--device ...] [--repeat N]
//   dcn info
//
// Arrays are .npy files (little-endian float32, C order). Exit status: 0 on
// success, 2 for a usage error, 1 for any other error; every error is one
// line on stderr, "dcn: error: <message>". Uses only the public API.
#include <dcn/dcn.h>

#include "npy.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DCN_CLI_X86 1
#endif

namespace {

// A mistake in the command line: exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

const char *const kTopUsage =
    "usage: dcn <verb> [flags]\n"
    "\n"
    "Deformable convolution kernels (Halide AOT) on .npy files\n"
    "(little-endian float32, C order).\n"
    "\n"
    "verbs:\n"
    "  deform-conv2d      deformable convolution (DCNv1; DCNv2 with --mask)\n"
    "  deform-psroi-pool  deformable (position-sensitive) RoI pooling, MSRA /\n"
    "                     Deformable R-FCN semantics\n"
    "  deform-roi-pool    deformable RoI pooling with RoIAlign sampling, mmcv\n"
    "                     semantics (modulated with --mask)\n"
    "  info               version, Halide version, compiled variants and targets,\n"
    "                     detected CPU features, usable devices\n"
    "\n"
    "'dcn <verb> --help' describes a verb's flags. 'dcn --version' prints the version.\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

const char *const kConvUsage =
    "usage: dcn deform-conv2d --input X --offset O --weight W [--mask M] [--bias B]\n"
    "                         [--stride S|SH,SW] [--padding P|PH,PW|T,L,B,R]\n"
    "                         [--dilation D|DH,DW] [--groups N] [--offset-groups N]\n"
    "                         --output Y [--device cpu|cuda|opencl] [--repeat N]\n"
    "\n"
    "Deformable convolution, torchvision.ops.deform_conv2d / ONNX DeformConv semantics.\n"
    "\n"
    "  --input X          input (N, C, H, W)\n"
    "  --offset O         offsets (N, 2*G*kH*kW, oH, oW), (dy, dx) pairs\n"
    "  --weight W         weight (K, C/groups, kH, kW)\n"
    "  --mask M           modulation mask (N, G*kH*kW, oH, oW) (DCNv2)\n"
    "  --bias B           bias (K)\n"
    "  --stride           S, or SH,SW (default 1)\n"
    "  --padding          P (all sides), PH,PW, or T,L,B,R (ONNX order) (default 0)\n"
    "  --dilation         D, or DH,DW (default 1)\n"
    "  --groups N         weight groups (default: C / weight.shape[1])\n"
    "  --offset-groups N  offset groups G (default: offset.shape[1] / (2*kH*kW))\n"
    "  --output Y         output (N, K, oH, oW), written as .npy\n"
    "  --device D         cpu (default), cuda, opencl\n"
    "  --repeat N         after a warm-up run, time N runs and print\n"
    "                     'median_ms=<float> gflops=<float>' as the last line on stderr\n"
    "\n"
    "Arrays are .npy files: little-endian float32 ('<f4'), C order.\n";

const char *const kPsroiUsage =
    "usage: dcn deform-psroi-pool --input X --rois R [--trans T] --output-dim D\n"
    "                             --group-size G --pooled-size P [--part-size P]\n"
    "                             [--sample-per-part S] [--trans-std T] [--spatial-scale S]\n"
    "                             --output Y [--count C] [--device cpu|cuda|opencl] [--repeat N]\n"
    "\n"
    "Deformable position-sensitive RoI pooling, MSRA DeformablePSROIPooling semantics\n"
    "(group size 1 and output dim = C: the plain deformable RoI pooling).\n"
    "\n"
    "  --input X            input (N, C, H, W), C = output_dim * group_size^2\n"
    "  --rois R             RoIs (R, 5): batch index, x1, y1, x2, y2 (image coordinates)\n"
    "  --trans T            normalised offsets (R, 2*num_classes, part, part), x first;\n"
    "                       absent: no deformation\n"
    "  --output-dim D       output channels per RoI\n"
    "  --group-size G       position-sensitive group size (1: plain)\n"
    "  --pooled-size P      bins per side\n"
    "  --part-size P        trans cells per side (default 0 = pooled size)\n"
    "  --sample-per-part S  samples per bin side (default 4)\n"
    "  --trans-std T        scale of trans (default 0)\n"
    "  --spatial-scale S    feature map / image size, e.g. 0.0625 (default 1)\n"
    "  --output Y           output (R, output_dim, P, P), written as .npy\n"
    "  --count C            also write the number of samples inside the image per bin\n"
    "                       (R, output_dim, P, P) as .npy\n"
    "  --device D           cpu (default), cuda, opencl\n"
    "  --repeat N           after a warm-up run, time N runs and print\n"
    "                       'median_ms=<float> gsamples=<float>' as the last line on stderr\n"
    "\n"
    "Arrays are .npy files: little-endian float32 ('<f4'), C order.\n";

const char *const kRoiUsage =
    "usage: dcn deform-roi-pool --input X --rois R [--offset O] [--mask M]\n"
    "                           --output-size P|PH,PW [--spatial-scale S] [--sampling-ratio N]\n"
    "                           [--gamma G] --output Y [--device cpu|cuda|opencl] [--repeat N]\n"
    "\n"
    "Deformable RoI pooling with RoIAlign sampling, mmcv DeformRoIPool semantics\n"
    "(ModulatedDeformRoIPoolPack with --mask).\n"
    "\n"
    "  --input X           input (N, C, H, W)\n"
    "  --rois R            RoIs (R, 5): batch index, x1, y1, x2, y2 (image coordinates)\n"
    "  --offset O          normalised offsets (R, 2, PH, PW), channel 0 = x, 1 = y\n"
    "  --mask M            modulation mask (R, 1, PH, PW), multiplies the pooled output\n"
    "  --output-size       P, or PH,PW: bins per RoI\n"
    "  --spatial-scale S   feature map / image size, e.g. 0.0625 (default 1)\n"
    "  --sampling-ratio N  samples per bin side (default 0: adaptive, ceil(roi / bins))\n"
    "  --gamma G           scale of the offset (default 0.1)\n"
    "  --output Y          output (R, C, PH, PW), written as .npy\n"
    "  --device D          cpu (default), cuda, opencl\n"
    "  --repeat N          after a warm-up run, time N runs and print\n"
    "                      'median_ms=<float> gsamples=<float>' as the last line on stderr\n"
    "\n"
    "Arrays are .npy files: little-endian float32 ('<f4'), C order.\n";

const char *const kInfoUsage =
    "usage: dcn info\n"
    "\n"
    "Prints 'key: value' lines: dcn version, Halide version, compiled kernel\n"
    "variants, compiled CPU targets (best first) with whether this CPU supports\n"
    "each and which one is used (DCN_MAX_CPU_ISA caps it), detected CPU\n"
    "features, number of threads and usable devices.\n";

// ---- command-line parsing ---------------------------------------------------

struct FlagSpec {
    const char *name;  // without the leading "--"
    bool required;
};

// Parsed "--flag value" pairs of one verb.
class Flags {
public:
    Flags(const std::string &verb, std::vector<FlagSpec> specs, int argc, char **argv, int first)
        : verb_(verb), specs_(std::move(specs)) {
        for (int i = first; i < argc; ++i) {
            std::string arg = argv[i];
            if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
                throw UsageError("unexpected argument '" + arg + "' for " + verb_ + hint());
            }
            std::string name = arg.substr(2), value;
            bool have_value = false;
            const size_t eq = name.find('=');
            if (eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                have_value = true;
            }
            if (!known(name)) throw UsageError("unknown flag '--" + name + "' for " + verb_ + hint());
            if (!have_value) {
                if (i + 1 >= argc) throw UsageError("flag --" + name + " needs a value" + hint());
                value = argv[++i];
                if (value.size() >= 2 && value.compare(0, 2, "--") == 0) {
                    throw UsageError("flag --" + name + " needs a value, got '" + value + "'" + hint());
                }
            }
            if (value.empty()) throw UsageError("flag --" + name + " has an empty value" + hint());
            if (values_.count(name)) throw UsageError("flag --" + name + " given more than once" + hint());
            values_[name] = value;
        }
        for (const FlagSpec &s : specs_) {
            if (s.required && !values_.count(s.name)) {
                throw UsageError(std::string("missing required flag --") + s.name + hint());
            }
        }
    }

    bool has(const std::string &name) const { return values_.count(name) != 0; }
    std::string get(const std::string &name) const {
        auto it = values_.find(name);
        return it == values_.end() ? std::string() : it->second;
    }
    std::string hint() const { return " (see 'dcn " + verb_ + " --help')"; }

private:
    bool known(const std::string &name) const {
        for (const FlagSpec &s : specs_) {
            if (name == s.name) return true;
        }
        return false;
    }
    std::string verb_;
    std::vector<FlagSpec> specs_;
    std::map<std::string, std::string> values_;
};

int parse_int(const std::string &flag, const std::string &text) {
    const char *s = text.c_str();
    const bool starts_ok = (*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9');
    if (!starts_ok) throw UsageError("--" + flag + ": '" + text + "' is not an integer");
    errno = 0;
    char *end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (*end != '\0') throw UsageError("--" + flag + ": '" + text + "' is not an integer");
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX) {
        throw UsageError("--" + flag + ": '" + text + "' is out of range");
    }
    return static_cast<int>(v);
}

// "a,b,c" -> integers; the count must be one of `counts`.
std::vector<int> parse_int_list(const std::string &flag, const std::string &text,
                                const std::vector<size_t> &counts, const char *forms) {
    std::vector<int> out;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string piece =
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        try {
            out.push_back(parse_int(flag, piece));
        } catch (const UsageError &) {
            if (piece == text) throw;
            throw UsageError("--" + flag + ": '" + text + "' must be " + forms + " (integers)");
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (std::find(counts.begin(), counts.end(), out.size()) == counts.end()) {
        throw UsageError("--" + flag + ": '" + text + "' must be " + forms);
    }
    return out;
}

void require_at_least(const std::string &flag, const std::vector<int> &values, int min, const std::string &text) {
    for (int v : values) {
        if (v < min) {
            throw UsageError("--" + flag + ": '" + text + "': each value must be >= " + std::to_string(min));
        }
    }
}

// A finite float32 value ("0.0625", "1e-3", "-2").
float parse_float(const std::string &flag, const std::string &text) {
    const char *s = text.c_str();
    const bool starts_ok = (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+';
    errno = 0;
    char *end = nullptr;
    const double v = starts_ok ? std::strtod(s, &end) : 0.0;
    if (!starts_ok || end == s || *end != '\0' || !std::isfinite(v)) {
        throw UsageError("--" + flag + ": '" + text + "' is not a finite number");
    }
    if (errno == ERANGE && std::fabs(v) > 1.0) throw UsageError("--" + flag + ": '" + text + "' is out of range");
    if (std::fabs(v) > FLT_MAX) throw UsageError("--" + flag + ": '" + text + "' is out of range for float32");
    return static_cast<float>(v);
}

dcn::Device parse_device(const std::string &text) {
    if (text == "cpu") return dcn::Device::cpu;
    if (text == "cuda") return dcn::Device::cuda;
    if (text == "opencl") return dcn::Device::opencl;
    throw UsageError("--device: unknown device '" + text + "' (expected cpu, cuda or opencl)");
}

std::string join_shape(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

// Elements of an output shape, refusing sizes that overflow.
int64_t checked_numel(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0 || (d > 0 && n > INT64_MAX / d)) {
            throw std::runtime_error("output shape " + join_shape(shape) + " is too large");
        }
        n *= d;
    }
    return n;
}

// A read-only view of an array; an empty array (e.g. 0 RoIs) still gets a
// valid pointer.
dcn::TensorView view_of(const dcn_npy::Array &a) {
    static const float empty[1] = {0.0f};
    return dcn::TensorView(a.data.empty() ? empty : a.data.data(), a.shape);
}

// A NaN-poisoned output buffer (never empty, so its pointer is valid), so an
// element the kernel failed to write cannot look valid.
std::vector<float> poisoned_output(int64_t numel) {
    return std::vector<float>(static_cast<size_t>(std::max<int64_t>(numel, 1)), std::nanf(""));
}

// --repeat N: one warm-up run, then N timed runs; the median in milliseconds.
double median_ms_of(int repeat, const std::function<void()> &run_once) {
    run_once();  // warm-up
    std::vector<double> ms;
    ms.reserve(static_cast<size_t>(repeat));
    for (int r = 0; r < repeat; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        run_once();
        const auto t1 = std::chrono::steady_clock::now();
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const size_t n = ms.size();
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

// "median_ms=<float> gsamples=<float>": bilinear samples per second / 1e9.
std::string samples_timing_line(double median_ms, double samples) {
    const double seconds = std::max(median_ms, 1e-9) / 1e3;
    char line[128];
    std::snprintf(line, sizeof line, "median_ms=%.6f gsamples=%.4f", median_ms, samples / seconds / 1e9);
    return line;
}

int parse_repeat(const Flags &flags) {
    if (!flags.has("repeat")) return 0;
    const int repeat = parse_int("repeat", flags.get("repeat"));
    require_at_least("repeat", {repeat}, 1, flags.get("repeat"));
    return repeat;
}

// ---- deform-conv2d ------------------------------------------------------------

int run_deform_conv2d(int argc, char **argv) {
    const Flags flags("deform-conv2d",
                      {{"input", true},
                       {"offset", true},
                       {"weight", true},
                       {"mask", false},
                       {"bias", false},
                       {"stride", false},
                       {"padding", false},
                       {"dilation", false},
                       {"groups", false},
                       {"offset-groups", false},
                       {"output", true},
                       {"device", false},
                       {"repeat", false}},
                      argc, argv, 2);

    // All flag values are checked before any file is touched.
    dcn::DeformConv2dOptions opts;
    if (flags.has("stride")) {
        const std::string t = flags.get("stride");
        auto v = parse_int_list("stride", t, {1, 2}, "S or SH,SW");
        require_at_least("stride", v, 1, t);
        opts.stride = v.size() == 1 ? std::array<int, 2>{v[0], v[0]} : std::array<int, 2>{v[0], v[1]};
    }
    if (flags.has("padding")) {
        const std::string t = flags.get("padding");
        auto v = parse_int_list("padding", t, {1, 2, 4}, "P, PH,PW or T,L,B,R");
        require_at_least("padding", v, 0, t);
        if (v.size() == 1) opts.padding = {v[0], v[0], v[0], v[0]};
        else if (v.size() == 2) opts.padding = {v[0], v[1], v[0], v[1]};
        else opts.padding = {v[0], v[1], v[2], v[3]};
    }
    if (flags.has("dilation")) {
        const std::string t = flags.get("dilation");
        auto v = parse_int_list("dilation", t, {1, 2}, "D or DH,DW");
        require_at_least("dilation", v, 1, t);
        opts.dilation = v.size() == 1 ? std::array<int, 2>{v[0], v[0]} : std::array<int, 2>{v[0], v[1]};
    }
    if (flags.has("groups")) {
        opts.groups = parse_int("groups", flags.get("groups"));
        require_at_least("groups", {opts.groups}, 1, flags.get("groups"));
    }
    if (flags.has("offset-groups")) {
        opts.offset_groups = parse_int("offset-groups", flags.get("offset-groups"));
        require_at_least("offset-groups", {opts.offset_groups}, 1, flags.get("offset-groups"));
    }
    if (flags.has("device")) opts.device = parse_device(flags.get("device"));
    const int repeat = parse_repeat(flags);

    const dcn_npy::Array input = dcn_npy::read_npy(flags.get("input"));
    const dcn_npy::Array offset = dcn_npy::read_npy(flags.get("offset"));
    const dcn_npy::Array weight = dcn_npy::read_npy(flags.get("weight"));
    std::optional<dcn_npy::Array> mask, bias;
    if (flags.has("mask")) mask = dcn_npy::read_npy(flags.get("mask"));
    if (flags.has("bias")) bias = dcn_npy::read_npy(flags.get("bias"));

    const std::vector<int64_t> out_shape = dcn::deform_conv2d_output_shape(input.shape, weight.shape, opts);
    int64_t out_numel = 1;
    for (int64_t d : out_shape) {
        if (d < 0 || (d > 0 && out_numel > INT64_MAX / d)) {
            throw std::runtime_error("output shape " + join_shape(out_shape) + " is too large");
        }
        out_numel *= d;
    }
    // Poisoned, so an element the kernel failed to write cannot look valid.
    std::vector<float> out(static_cast<size_t>(out_numel), std::nanf(""));

    const dcn::TensorView in_v(input.data.data(), input.shape);
    const dcn::TensorView off_v(offset.data.data(), offset.shape);
    const dcn::TensorView w_v(weight.data.data(), weight.shape);
    std::optional<dcn::TensorView> mask_v, bias_v;
    if (mask) mask_v = dcn::TensorView(mask->data.data(), mask->shape);
    if (bias) bias_v = dcn::TensorView(bias->data.data(), bias->shape);
    const dcn::TensorView out_v(out.data(), out_shape);

    auto run_once = [&] { dcn::deform_conv2d(in_v, off_v, w_v, mask_v, bias_v, out_v, opts); };

    std::optional<std::string> timing;
    if (repeat == 0) {
        run_once();
    } else {
        const double median_ms = median_ms_of(repeat, run_once);
        const double flops = dcn::deform_conv2d_flops(input.shape, weight.shape, out_shape);
        const double seconds = std::max(median_ms, 1e-9) / 1e3;
        char line[128];
        std::snprintf(line, sizeof line, "median_ms=%.6f gflops=%.3f", median_ms, flops / seconds / 1e9);
        timing = line;
    }

    dcn_npy::write_npy(flags.get("output"), out_shape, out.data(), out.size());
    if (timing) {
        std::fprintf(stderr, "%s\n", timing->c_str());
        std::fflush(stderr);
    }
    return 0;
}

// ---- deform-psroi-pool -------------------------------------------------------

int run_deform_psroi_pool(int argc, char **argv) {
    const Flags flags("deform-psroi-pool",
                      {{"input", true},
                       {"rois", true},
                       {"trans", false},
                       {"output-dim", true},
                       {"group-size", true},
                       {"pooled-size", true},
                       {"part-size", false},
                       {"sample-per-part", false},
                       {"trans-std", false},
                       {"spatial-scale", false},
                       {"output", true},
                       {"count", false},
                       {"device", false},
                       {"repeat", false}},
                      argc, argv, 2);

    // All flag values are checked before any file is touched.
    dcn::DeformPsroiPoolOptions opts;
    auto int_at_least = [&](const char *flag, int min) {
        const int v = parse_int(flag, flags.get(flag));
        require_at_least(flag, {v}, min, flags.get(flag));
        return v;
    };
    opts.output_dim = int_at_least("output-dim", 1);
    opts.group_size = int_at_least("group-size", 1);
    opts.pooled_size = int_at_least("pooled-size", 1);
    if (flags.has("part-size")) opts.part_size = int_at_least("part-size", 0);
    if (flags.has("sample-per-part")) opts.sample_per_part = int_at_least("sample-per-part", 1);
    if (flags.has("trans-std")) opts.trans_std = parse_float("trans-std", flags.get("trans-std"));
    if (flags.has("spatial-scale")) {
        opts.spatial_scale = parse_float("spatial-scale", flags.get("spatial-scale"));
        if (!(opts.spatial_scale > 0.0f)) {
            throw UsageError("--spatial-scale: '" + flags.get("spatial-scale") + "' must be > 0");
        }
    }
    if (flags.has("device")) opts.device = parse_device(flags.get("device"));
    const int repeat = parse_repeat(flags);

    const dcn_npy::Array input = dcn_npy::read_npy(flags.get("input"));
    const dcn_npy::Array rois = dcn_npy::read_npy(flags.get("rois"));
    std::optional<dcn_npy::Array> trans;
    if (flags.has("trans")) trans = dcn_npy::read_npy(flags.get("trans"));

    const std::vector<int64_t> out_shape = dcn::deform_psroi_pool_output_shape(input.shape, rois.shape, opts);
    const int64_t out_numel = checked_numel(out_shape);
    std::vector<float> out = poisoned_output(out_numel);
    std::vector<float> count;
    if (flags.has("count")) count = poisoned_output(out_numel);

    const dcn::TensorView in_v = view_of(input), rois_v = view_of(rois);
    std::optional<dcn::TensorView> trans_v, count_v;
    if (trans) trans_v = view_of(*trans);
    if (!count.empty()) count_v = dcn::TensorView(count.data(), out_shape);
    const dcn::TensorView out_v(out.data(), out_shape);

    auto run_once = [&] { dcn::deform_psroi_pool(in_v, rois_v, trans_v, out_v, count_v, opts); };
    std::optional<std::string> timing;
    if (repeat == 0) {
        run_once();
    } else {
        const double median_ms = median_ms_of(repeat, run_once);
        timing = samples_timing_line(median_ms, dcn::deform_psroi_pool_samples(out_shape, opts));
    }

    dcn_npy::write_npy(flags.get("output"), out_shape, out.data(), static_cast<size_t>(out_numel));
    if (!count.empty()) dcn_npy::write_npy(flags.get("count"), out_shape, count.data(), static_cast<size_t>(out_numel));
    if (timing) {
        std::fprintf(stderr, "%s\n", timing->c_str());
        std::fflush(stderr);
    }
    return 0;
}

// ---- deform-roi-pool ----------------------------------------------------------

int run_deform_roi_pool(int argc, char **argv) {
    const Flags flags("deform-roi-pool",
                      {{"input", true},
                       {"rois", true},
                       {"offset", false},
                       {"mask", false},
                       {"output-size", true},
                       {"spatial-scale", false},
                       {"sampling-ratio", false},
                       {"gamma", false},
                       {"output", true},
                       {"device", false},
                       {"repeat", false}},
                      argc, argv, 2);

    // All flag values are checked before any file is touched.
    dcn::DeformRoiPoolOptions opts;
    {
        const std::string t = flags.get("output-size");
        auto v = parse_int_list("output-size", t, {1, 2}, "P or PH,PW");
        require_at_least("output-size", v, 1, t);
        opts.output_size = v.size() == 1 ? std::array<int, 2>{v[0], v[0]} : std::array<int, 2>{v[0], v[1]};
    }
    if (flags.has("spatial-scale")) {
        opts.spatial_scale = parse_float("spatial-scale", flags.get("spatial-scale"));
        if (!(opts.spatial_scale > 0.0f)) {
            throw UsageError("--spatial-scale: '" + flags.get("spatial-scale") + "' must be > 0");
        }
    }
    if (flags.has("sampling-ratio")) {
        opts.sampling_ratio = parse_int("sampling-ratio", flags.get("sampling-ratio"));
        require_at_least("sampling-ratio", {opts.sampling_ratio}, 0, flags.get("sampling-ratio"));
    }
    if (flags.has("gamma")) opts.gamma = parse_float("gamma", flags.get("gamma"));
    if (flags.has("device")) opts.device = parse_device(flags.get("device"));
    const int repeat = parse_repeat(flags);

    const dcn_npy::Array input = dcn_npy::read_npy(flags.get("input"));
    const dcn_npy::Array rois = dcn_npy::read_npy(flags.get("rois"));
    std::optional<dcn_npy::Array> offset, mask;
    if (flags.has("offset")) offset = dcn_npy::read_npy(flags.get("offset"));
    if (flags.has("mask")) mask = dcn_npy::read_npy(flags.get("mask"));

    const std::vector<int64_t> out_shape = dcn::deform_roi_pool_output_shape(input.shape, rois.shape, opts);
    const int64_t out_numel = checked_numel(out_shape);
    std::vector<float> out = poisoned_output(out_numel);

    const dcn::TensorView in_v = view_of(input), rois_v = view_of(rois);
    std::optional<dcn::TensorView> offset_v, mask_v;
    if (offset) offset_v = view_of(*offset);
    if (mask) mask_v = view_of(*mask);
    const dcn::TensorView out_v(out.data(), out_shape);

    auto run_once = [&] { dcn::deform_roi_pool(in_v, rois_v, offset_v, mask_v, out_v, opts); };
    std::optional<std::string> timing;
    if (repeat == 0) {
        run_once();
    } else {
        const double median_ms = median_ms_of(repeat, run_once);
        // The library accepted the shapes: input is (N, C, H, W).
        timing = samples_timing_line(median_ms, dcn::deform_roi_pool_samples(rois_v, input.shape[1], opts));
    }

    dcn_npy::write_npy(flags.get("output"), out_shape, out.data(), static_cast<size_t>(out_numel));
    if (timing) {
        std::fprintf(stderr, "%s\n", timing->c_str());
        std::fflush(stderr);
    }
    return 0;
}

// ---- info ---------------------------------------------------------------------

struct CpuInfo {
    std::string model;
    std::vector<std::string> features;
};

#ifdef DCN_CLI_X86
uint64_t read_xcr0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
}

CpuInfo detect_cpu() {
    CpuInfo info;
    unsigned a = 0, b = 0, c = 0, d = 0;
    const unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf < 1) return info;
    __cpuid(1, a, b, c, d);
    const unsigned ecx1 = c, edx1 = d;
    const bool osxsave = ecx1 & (1u << 27);
    const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const bool os_avx = (xcr0 & 0x6) == 0x6;        // SSE + AVX state
    const bool os_avx512 = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM state
    unsigned ebx7 = 0, ecx7 = 0, edx7 = 0, eax71 = 0;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        ebx7 = b;
        ecx7 = c;
        edx7 = d;
        const unsigned sub_leaves = a;
        if (sub_leaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            eax71 = a;
        }
    }
    auto add = [&](const char *name, bool present) {
        if (present) info.features.push_back(name);
    };
    add("sse2", edx1 & (1u << 26));
    add("sse3", ecx1 & (1u << 0));
    add("ssse3", ecx1 & (1u << 9));
    add("sse4_1", ecx1 & (1u << 19));
    add("sse4_2", ecx1 & (1u << 20));
    add("popcnt", ecx1 & (1u << 23));
    add("avx", os_avx && (ecx1 & (1u << 28)));
    add("f16c", os_avx && (ecx1 & (1u << 29)));
    add("fma", os_avx && (ecx1 & (1u << 12)));
    add("avx2", os_avx && (ebx7 & (1u << 5)));
    add("bmi1", ebx7 & (1u << 3));
    add("bmi2", ebx7 & (1u << 8));
    add("avx_vnni", os_avx && (eax71 & (1u << 4)));
    add("avx512f", os_avx512 && (ebx7 & (1u << 16)));
    add("avx512dq", os_avx512 && (ebx7 & (1u << 17)));
    add("avx512ifma", os_avx512 && (ebx7 & (1u << 21)));
    add("avx512cd", os_avx512 && (ebx7 & (1u << 28)));
    add("avx512bw", os_avx512 && (ebx7 & (1u << 30)));
    add("avx512vl", os_avx512 && (ebx7 & (1u << 31)));
    add("avx512vbmi", os_avx512 && (ecx7 & (1u << 1)));
    add("avx512vnni", os_avx512 && (ecx7 & (1u << 11)));
    add("avx512bf16", os_avx512 && (eax71 & (1u << 5)));
    add("avx512fp16", os_avx512 && (edx7 & (1u << 23)));

    if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
        char brand[49] = {};
        for (unsigned leaf = 0; leaf < 3; ++leaf) {
            unsigned r[4];
            __cpuid(0x80000002u + leaf, r[0], r[1], r[2], r[3]);
            std::memcpy(brand + 16 * leaf, r, 16);
        }
        std::string s = brand;
        const size_t first = s.find_first_not_of(' ');
        const size_t last = s.find_last_not_of(' ');
        info.model = first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
    }
    return info;
}
#else
// Other architectures: the kernel's view in /proc/cpuinfo.
CpuInfo detect_cpu() {
    CpuInfo info;
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon);
        key.erase(key.find_last_not_of(" \t") + 1);
        const std::string value = line.substr(colon + 1);
        if ((key == "Features" || key == "flags") && info.features.empty()) {
            std::istringstream words(value);
            std::string w;
            while (words >> w) info.features.push_back(w);
        } else if ((key == "model name" || key == "CPU part") && info.model.empty()) {
            const size_t first = value.find_first_not_of(' ');
            if (first != std::string::npos) info.model = value.substr(first);
        }
    }
    return info;
}
#endif

std::string join(const std::vector<std::string> &v, const char *sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += sep;
        s += v[i];
    }
    return s;
}

int run_info(int argc, char **argv) {
    const Flags flags("info", {}, argc, argv, 2);
    (void)flags;

    const dcn::BuildInfo bi = dcn::build_info();
    std::printf("dcn version: %s\n", bi.version.c_str());
    std::printf("halide version: %s\n", bi.halide_version.c_str());
    std::printf("kernel variants: %zu\n", bi.kernels.size());
    for (const std::string &k : bi.kernels) std::printf("kernel: %s\n", k.c_str());

    const std::vector<dcn::CpuIsa> isas = dcn::compiled_cpu_isas();
    const std::optional<dcn::CpuIsa> cap = dcn::max_cpu_isa();
    std::vector<std::string> isa_names;
    for (dcn::CpuIsa isa : isas) isa_names.push_back(dcn::cpu_isa_name(isa));
    std::printf("compiled cpu targets: %s\n", join(isa_names, " ").c_str());
    // The enum is ordered best first: an ISA is allowed when it is not
    // better than the cap.
    std::optional<dcn::CpuIsa> used;
    for (size_t i = 0; i < isas.size(); ++i) {
        const bool supported = dcn::cpu_supports(isas[i]);
        const bool allowed = !cap || static_cast<int>(isas[i]) >= static_cast<int>(*cap);
        if (!used && supported && allowed) used = isas[i];
        std::string line = std::string("cpu target: ") + dcn::cpu_isa_name(isas[i]) +
                           " supported=" + (supported ? "yes" : "no");
        if (!allowed) line += " (above max cpu isa)";
        if (isas.size() == bi.cpu_targets.size()) line += " halide_target=" + bi.cpu_targets[i];
        std::printf("%s\n", line.c_str());
    }
    if (isas.size() != bi.cpu_targets.size()) {
        for (const std::string &t : bi.cpu_targets) std::printf("halide cpu target: %s\n", t.c_str());
    }
    std::printf("max cpu isa: %s\n", cap ? dcn::cpu_isa_name(*cap) : "none");
    std::printf("cpu target used: %s\n", used ? dcn::cpu_isa_name(*used) : "none");

    const CpuInfo cpu = detect_cpu();
    if (!cpu.model.empty()) std::printf("cpu model: %s\n", cpu.model.c_str());
    std::printf("cpu features: %s\n", join(cpu.features, " ").c_str());
    std::printf("hardware threads: %u\n", std::thread::hardware_concurrency());
    std::printf("threads: %d\n", dcn::num_threads());

    std::vector<std::string> devices;
    for (dcn::Device d : dcn::usable_devices()) devices.push_back(dcn::device_name(d));
    std::printf("usable devices: %s\n", join(devices, " ").c_str());
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) throw std::runtime_error("cannot write to stdout");
    return 0;
}

// ---- main -----------------------------------------------------------------------

bool wants_help(int argc, char **argv, int first) {
    for (int i = first; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

int run(int argc, char **argv) {
    if (argc < 2) {
        std::fputs(kTopUsage, stderr);
        return 2;
    }
    const std::string verb = argv[1];
    if (verb == "--help" || verb == "-h" || verb == "help") {
        std::fputs(kTopUsage, stdout);
        return 0;
    }
    if (verb == "--version") {
        std::printf("dcn %s\n", dcn::build_info().version.c_str());
        return 0;
    }
    if (verb == "deform-conv2d") {
        if (wants_help(argc, argv, 2)) {
            std::fputs(kConvUsage, stdout);
            return 0;
        }
        return run_deform_conv2d(argc, argv);
    }
    if (verb == "deform-psroi-pool") {
        if (wants_help(argc, argv, 2)) {
            std::fputs(kPsroiUsage, stdout);
            return 0;
        }
        return run_deform_psroi_pool(argc, argv);
    }
    if (verb == "deform-roi-pool") {
        if (wants_help(argc, argv, 2)) {
            std::fputs(kRoiUsage, stdout);
            return 0;
        }
        return run_deform_roi_pool(argc, argv);
    }
    if (verb == "info") {
        if (wants_help(argc, argv, 2)) {
            std::fputs(kInfoUsage, stdout);
            return 0;
        }
        return run_info(argc, argv);
    }
    throw UsageError("unknown verb '" + verb + "' (expected deform-conv2d, deform-psroi-pool, deform-roi-pool or info; see 'dcn --help')");
}

// One line: newlines in a message would break the one-line contract.
void print_error(const std::string &message) {
    std::string m = message;
    for (char &ch : m) {
        if (ch == '\n' || ch == '\r') ch = ' ';
    }
    std::fprintf(stderr, "dcn: error: %s\n", m.c_str());
    std::fflush(stderr);
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError &e) {
        print_error(e.what());
        return 2;
    } catch (const std::bad_alloc &) {
        print_error("out of memory");
        return 1;
    } catch (const std::exception &e) {
        print_error(e.what());
        return 1;
    } catch (...) {
        print_error("unexpected internal error");
        return 1;
    }
}
