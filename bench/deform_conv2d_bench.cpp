// Google Benchmark of dcn::deform_conv2d over the DCN layers of real models
// (the shape table of bench/peers.py and bench/RESULTS.md), reporting
// GFLOP/s: FLOPs = 2*N*K*(C/groups)*kH*kW*oH*oW per call.
//
//   build/bin/dcn_bench_conv [--threads N] [--peak-gflops G] [Google Benchmark flags]
//
// Threads: --threads, else HL_NUM_THREADS, else 2. Each case runs 5
// repetitions unless --benchmark_repetitions is given; read the median.
// Inputs: uniform(-1, 1) input, weights scaled by 1/sqrt(fan_in), a smooth
// offset field of +-2.5 pixels, a sigmoid mask (DCNv2), no bias.
#include <map>
#include <memory>

#include "bench_common.h"

namespace {

struct ConvCase {
    const char *name;
    int64_t N, C, H, W, K;
    int stride;
    int offset_groups;
    bool mask;  // DCNv2
};

// 3x3, pad 1. Keep in sync with CONV_SHAPES in bench/peers.py.
const ConvCase kCases[] = {
    {"c3_1x128x100x168_k128_dcnv2", 1, 128, 100, 168, 128, 1, 1, true},
    {"c4_1x256x50x84_k256_dcnv2", 1, 256, 50, 84, 256, 1, 1, true},
    {"c5_1x512x25x42_k512_dcnv2", 1, 512, 25, 42, 512, 1, 1, true},
    {"c4entry_1x256x100x168_k256_s2_dcnv1", 1, 256, 100, 168, 256, 2, 1, false},
    {"cls_8x256x14x14_k256_og4_dcnv2", 8, 256, 14, 14, 256, 1, 4, true},
    {"small_1x64x56x56_k64_dcnv2", 1, 64, 56, 56, 64, 1, 1, true},
};

constexpr int kTaps = 9;  // 3x3

struct ConvProblem {
    dcn::DeformConv2dOptions opt;
    std::vector<int64_t> in_shape, w_shape, out_shape, off_shape, mask_shape;
    std::vector<float> x, w, off, mask, out;
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
        x = dcn_bench::uniform(size_t(c.N * c.C * c.H * c.W), -1.0f, 1.0f, rng);
        const float ws = 1.0f / std::sqrt(float(c.C * kTaps));
        w = dcn_bench::uniform(size_t(c.K * c.C * kTaps), -ws, ws, rng);
        off = dcn_bench::smooth_field(c.N * 2 * G * kTaps, oH, oW, 2.5f, rng);
        if (c.mask) mask = dcn_bench::sigmoid_normal(size_t(c.N * G * kTaps * oH * oW), rng);
        out.assign(size_t(c.N * c.K * oH * oW), 0.0f);
        flops = dcn::deform_conv2d_flops(in_shape, w_shape, out_shape);
    }

    void run() {
        std::optional<dcn::TensorView> m;
        if (!mask.empty()) m = dcn::TensorView(mask.data(), mask_shape);
        dcn::deform_conv2d(dcn::TensorView(x.data(), in_shape), dcn::TensorView(off.data(), off_shape),
                           dcn::TensorView(w.data(), w_shape), m, std::nullopt,
                           dcn::TensorView(out.data(), out_shape), opt);
    }
};

// Inputs are made once per case, not per repetition.
ConvProblem &problem(const ConvCase &c) {
    static std::map<std::string, std::unique_ptr<ConvProblem>> cache;
    auto &p = cache[c.name];
    if (!p) p = std::make_unique<ConvProblem>(c);
    return *p;
}

void bench_deform_conv2d(benchmark::State &state, const ConvCase &c, double peak_gflops) {
    ConvProblem &p = problem(c);
    try {
        p.run();  // warm-up: thread pool, page faults
    } catch (const dcn::Error &e) {
        state.SkipWithError(e.what());
        return;
    }
    dcn_bench::WallTimer timer;
    timer.start();
    for (auto _ : state) {
        p.run();
        benchmark::DoNotOptimize(p.out.data());
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
    for (const ConvCase &c : kCases) {
        benchmark::RegisterBenchmark((std::string("deform_conv2d/") + c.name).c_str(), bench_deform_conv2d, c,
                                     setup.peak_gflops)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
    return dcn_bench::run(setup);
}
