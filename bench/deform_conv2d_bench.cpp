// Google Benchmark of dcn::deform_conv2d over the DCN layers of real models
// (the shape table of bench/peers.py and bench/RESULTS.md), reporting
// GFLOP/s: FLOPs = 2*N*K*(C/groups)*kH*kW*oH*oW per call.
//
//   build/bin/dcn_bench_conv [--threads N] [--peak-gflops G] [--dtype float32|bfloat16|float16]
//                            [Google Benchmark flags]
//
// Three benchmarks per shape: deform_conv2d/<shape> (the forward),
// deform_conv2d_backward_data/<shape> (grad_input, grad_offset and
// grad_mask: one call of the data kernel) and
// deform_conv2d_backward_weight/<shape> (grad_weight: the weight kernel);
// each backward's GFLOP/s counts its one forward-sized GEMM.
//
// --dtype: the tensors' storage type (the 16-bit ones hold the float32
// data rounded to nearest); run each dtype in its own process to compare.
//
// Threads: --threads, else HL_NUM_THREADS, else 2. Each case runs 5
// repetitions unless --benchmark_repetitions is given; read the median.
// Inputs: uniform(-1, 1) input, weights scaled by 1/sqrt(fan_in), a smooth
// offset field of +-2.5 pixels, a sigmoid mask (DCNv2), no bias.
#include <map>
#include <memory>

#include "bench_common.h"
#include "conv_shapes.h"

namespace {

using dcn_bench::ConvCase;
using dcn_bench::kCases;

constexpr int kTaps = 9;  // 3x3

int64_t numel(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

// A tensor's data in the benchmark's dtype: float32, or 16-bit storage
// (the float32 values rounded to nearest even).
struct Stored {
    std::vector<float> f32;
    std::vector<uint16_t> bits;
    dcn::DType dtype = dcn::DType::float32;

    Stored() = default;
    Stored(const std::vector<float> &v, dcn::DType t) : dtype(t) {
        if (t == dcn::DType::float32) {
            f32 = v;
            return;
        }
        bits.resize(v.size());
        for (size_t i = 0; i < v.size(); i++)
            bits[i] = t == dcn::DType::bfloat16 ? dcn::bfloat16_t::from_float(v[i]).bits
                                                : dcn::float16_t::from_float(v[i]).bits;
    }
    bool empty() const { return f32.empty() && bits.empty(); }
    dcn::TensorView view(const std::vector<int64_t> &shape) {
        dcn::TensorView t;
        t.data = f32.empty() ? static_cast<void *>(bits.data()) : static_cast<void *>(f32.data());
        t.shape = shape;
        t.dtype = dtype;
        return t;
    }
};

dcn::DType dtype_named(const std::string &name) {
    if (name == "float32") return dcn::DType::float32;
    if (name == "bfloat16") return dcn::DType::bfloat16;
    if (name == "float16") return dcn::DType::float16;
    dcn_bench::usage_error("dcn_bench_conv", "--dtype: expected float32, bfloat16 or float16");
    return dcn::DType::float32;
}

dcn::DType g_dtype = dcn::DType::float32;

struct ConvProblem {
    dcn::DeformConv2dOptions opt;
    std::vector<int64_t> in_shape, w_shape, out_shape, off_shape, mask_shape;
    Stored x, w, off, mask, out;
    // The backward's grad_output and gradients, made on first use.
    Stored gy, gx, goff, gmask, gw;
    double flops = 0;

    explicit ConvProblem(const ConvCase &c) {
        opt.set_padding(1, 1);
        opt.stride = {c.stride, c.stride};
        in_shape = {c.N, c.C, c.H, c.W};
        w_shape = {c.K, c.C, 3, 3};
        out_shape = dcn::deform_conv2d_output_shape(in_shape, w_shape, opt);
        const int64_t oH = out_shape[2], oW = out_shape[3], G = c.offset_groups;
        off_shape = {c.N, 2 * G * kTaps, oH, oW};
        mask_shape = {c.N, G * kTaps, oH, oW};
        std::mt19937 rng(42);
        const dcn::DType t = g_dtype;
        x = Stored(dcn_bench::uniform(size_t(c.N * c.C * c.H * c.W), -1.0f, 1.0f, rng), t);
        const float ws = 1.0f / std::sqrt(float(c.C * kTaps));
        w = Stored(dcn_bench::uniform(size_t(c.K * c.C * kTaps), -ws, ws, rng), t);
        off = Stored(dcn_bench::smooth_field(c.N * 2 * G * kTaps, oH, oW, 2.5f, rng), t);
        if (c.mask) mask = Stored(dcn_bench::sigmoid_normal(size_t(c.N * G * kTaps * oH * oW), rng), t);
        out = Stored(std::vector<float>(size_t(c.N * c.K * oH * oW), 0.0f), t);
        flops = dcn::deform_conv2d_flops(in_shape, w_shape, out_shape);
    }

    void run() {
        std::optional<dcn::TensorView> m;
        if (!mask.empty()) m = mask.view(mask_shape);
        dcn::deform_conv2d(x.view(in_shape), off.view(off_shape), w.view(w_shape), m, std::nullopt,
                           out.view(out_shape), opt);
    }

    // The data gradients (data = true) or the weight gradient.
    void run_backward(bool data) {
        const dcn::DType t = g_dtype;
        if (gy.empty()) {
            std::mt19937 rng(7);
            gy = Stored(dcn_bench::uniform(size_t(numel(out_shape)), -1.0f, 1.0f, rng), t);
            gx = Stored(std::vector<float>(size_t(numel(in_shape)), 0.0f), t);
            goff = Stored(std::vector<float>(size_t(numel(off_shape)), 0.0f), t);
            if (!mask.empty()) gmask = Stored(std::vector<float>(size_t(numel(mask_shape)), 0.0f), t);
            gw = Stored(std::vector<float>(size_t(numel(w_shape)), 0.0f), t);
        }
        std::optional<dcn::TensorView> m;
        if (!mask.empty()) m = mask.view(mask_shape);
        dcn::DeformConv2dGradients g;
        if (data) {
            g.input = gx.view(in_shape);
            g.offset = goff.view(off_shape);
            if (m) g.mask = gmask.view(mask_shape);
        } else {
            g.weight = gw.view(w_shape);
        }
        dcn::deform_conv2d_backward(gy.view(out_shape), x.view(in_shape), off.view(off_shape), w.view(w_shape), m, g,
                                    opt);
    }
};

// Inputs are made once per case, not per repetition.
ConvProblem &problem(const ConvCase &c) {
    static std::map<std::string, std::unique_ptr<ConvProblem>> cache;
    auto &p = cache[c.name];
    if (!p) p = std::make_unique<ConvProblem>(c);
    return *p;
}

enum class Pass { forward, backward_data, backward_weight };

void bench_deform_conv2d(benchmark::State &state, const ConvCase &c, Pass pass, double peak_gflops) {
    ConvProblem &p = problem(c);
    auto once = [&] {
        if (pass == Pass::forward)
            p.run();
        else
            p.run_backward(pass == Pass::backward_data);
    };
    try {
        once();  // warm-up: thread pool, page faults
    } catch (const dcn::Error &e) {
        state.SkipWithError(e.what());
        return;
    }
    dcn_bench::WallTimer timer;
    timer.start();
    for (auto _ : state) {
        once();
        benchmark::DoNotOptimize(p.out.view(p.out_shape).data);
        benchmark::ClobberMemory();
    }
    const double seconds = timer.seconds();
    dcn_bench::set_rate(state, "FLOPS", p.flops);
    if (peak_gflops > 0 && seconds > 0)
        state.counters["of_peak"] = p.flops * double(state.iterations()) / seconds / (peak_gflops * 1e9);
    state.SetLabel(std::string(dcn::cpu_isa_name(dcn::last_cpu_isa())) + " schedule=" + dcn::last_cpu_schedule());
}

}  // namespace

int main(int argc, char **argv) {
    dcn_bench::Setup setup = dcn_bench::parse_flags(argc, argv);
    g_dtype = dtype_named(setup.dtype);
    const std::pair<Pass, const char *> passes[] = {{Pass::forward, "deform_conv2d/"},
                                                    {Pass::backward_data, "deform_conv2d_backward_data/"},
                                                    {Pass::backward_weight, "deform_conv2d_backward_weight/"}};
    for (const auto &[pass, prefix] : passes)
        for (const ConvCase &c : kCases) {
            benchmark::RegisterBenchmark((std::string(prefix) + c.name).c_str(), bench_deform_conv2d, c, pass,
                                         setup.peak_gflops)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        }
    return dcn_bench::run(setup);
}
