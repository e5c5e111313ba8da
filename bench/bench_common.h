// Shared by the Google Benchmark programs in bench/: the thread flag, default
// repetitions, and random inputs with the same recipe as bench/make_inputs.py.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dcn/dcn.h"

namespace dcn_bench {

// Reads and removes the program's own flags from argv, sets dcn's thread
// count, and adds defaults for Google Benchmark flags the user did not give:
// the machine is shared and noisy, so 5 repetitions and their aggregates
// (read the median) unless --benchmark_repetitions says otherwise.
//
//   --threads N        dcn::set_num_threads(N); default HL_NUM_THREADS, else 2
//   --peak-gflops G    also report each case's fraction of an FP32 peak of G
//                      GFLOP/s (build/bin/fma_peak measures it)
struct Setup {
    int threads = 2;
    double peak_gflops = 0;  // 0: not reported
    std::string dtype = "float32";  // --dtype (the benchmarks that take one)
    std::vector<char *> argv;
    std::vector<std::string> owned;  // storage for injected flags
};

inline void usage_error(const char *program, const char *message) {
    std::fprintf(stderr, "%s: error: %s\n", program, message);
    std::exit(2);
}

inline Setup parse_flags(int argc, char **argv) {
    Setup s;
    if (const char *env = std::getenv("HL_NUM_THREADS"); env && std::atoi(env) > 0) s.threads = std::atoi(env);
    bool has_repetitions = false, has_aggregates = false;
    s.argv.push_back(argv[0]);
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto value = [&](const std::string &flag) -> const char * {
            if (a.rfind(flag + "=", 0) == 0) return argv[i] + flag.size() + 1;
            if (a == flag) {
                if (i + 1 >= argc) usage_error(argv[0], (flag + " needs a value").c_str());
                return argv[++i];
            }
            return nullptr;
        };
        if (const char *v = value("--threads")) {
            s.threads = std::atoi(v);
            if (s.threads < 1) usage_error(argv[0], "--threads wants an integer >= 1");
        } else if (const char *v = value("--dtype")) {
            s.dtype = v;
        } else if (const char *v = value("--peak-gflops")) {
            s.peak_gflops = std::atof(v);
            if (!(s.peak_gflops > 0)) usage_error(argv[0], "--peak-gflops wants a number > 0");
        } else {
            has_repetitions |= a.rfind("--benchmark_repetitions", 0) == 0;
            has_aggregates |= a.rfind("--benchmark_report_aggregates_only", 0) == 0 ||
                              a.rfind("--benchmark_display_aggregates_only", 0) == 0;
            s.argv.push_back(argv[i]);
        }
    }
    if (!has_repetitions) s.owned.push_back("--benchmark_repetitions=5");
    if (!has_aggregates) s.owned.push_back("--benchmark_display_aggregates_only=true");
    for (std::string &o : s.owned) s.argv.push_back(o.data());
    s.argv.push_back(nullptr);
    dcn::set_num_threads(s.threads);
    benchmark::AddCustomContext("dcn_threads", std::to_string(dcn::num_threads()));
    if (s.peak_gflops > 0) benchmark::AddCustomContext("fp32_peak_gflops", std::to_string(s.peak_gflops));
    benchmark::AddCustomContext("dtype", s.dtype);
    return s;
}

// Runs Google Benchmark with the flags parse_flags left.
inline int run(Setup &s) {
    int argc = static_cast<int>(s.argv.size()) - 1;
    benchmark::Initialize(&argc, s.argv.data());
    if (benchmark::ReportUnrecognizedArguments(argc, s.argv.data())) return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

// Uniform in [lo, hi).
inline std::vector<float> uniform(size_t n, float lo, float hi, std::mt19937 &rng) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (float &x : v) x = u(rng);
    return v;
}

// planes x (H, W) of a smooth field amp * sin(0.13 x + 0.11 y + phase), a
// random phase per plane: offsets of a few pixels that vary slowly across
// the image, like a trained offset branch's (bench/make_inputs.py).
inline std::vector<float> smooth_field(int64_t planes, int64_t H, int64_t W, float amp, std::mt19937 &rng) {
    std::uniform_real_distribution<float> phase(0.0f, 6.28f);
    std::vector<float> v(size_t(planes * H * W));
    for (int64_t p = 0; p < planes; p++) {
        const float ph = phase(rng);
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                v[size_t((p * H + y) * W + x)] = amp * std::sin(0.13f * x + 0.11f * y + ph);
    }
    return v;
}

// sigmoid(normal(0, 1)): a DCNv2 mask in (0, 1).
inline std::vector<float> sigmoid_normal(size_t n, std::mt19937 &rng) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float &x : v) x = 1.0f / (1.0f + std::exp(-g(rng)));
    return v;
}

// R RoIs [batch 0, x1, y1, x2, y2] in input-image coordinates (img_h x
// img_w), plausible proposals as bench/make_roi_inputs.py makes them:
// log-uniform areas from 16x16 pixels to 60% of the image, aspect ratios
// (h / w) 1:3 to 3:1, inside the image.
inline std::vector<float> random_rois(int64_t R, float img_h, float img_w, std::mt19937 &rng) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    auto log_uniform = [&](float lo, float hi) { return std::exp(std::log(lo) + u(rng) * (std::log(hi) - std::log(lo))); };
    std::vector<float> rois(size_t(R * 5));
    for (int64_t r = 0; r < R; r++) {
        const float area = log_uniform(16.0f * 16.0f, 0.6f * img_h * img_w);
        const float aspect = log_uniform(1.0f / 3, 3.0f);
        const float w = std::fmin(std::sqrt(area / aspect), img_w - 1), h = std::fmin(w * aspect, img_h - 1);
        const float cx = w / 2 + u(rng) * (img_w - 1 - w), cy = h / 2 + u(rng) * (img_h - 1 - h);
        float *o = &rois[size_t(r * 5)];
        o[0] = 0.0f;
        o[1] = std::fmax(0.0f, cx - w / 2);
        o[2] = std::fmax(0.0f, cy - h / 2);
        o[3] = std::fmin(img_w - 1, cx + w / 2);
        o[4] = std::fmin(img_h - 1, cy + h / 2);
    }
    return rois;
}

// scale * normal(0, 1).
inline std::vector<float> normal(size_t n, float scale, std::mt19937 &rng) {
    std::normal_distribution<float> g(0.0f, scale);
    std::vector<float> v(n);
    for (float &x : v) x = g(rng);
    return v;
}

// A counter of `name` per second (kIsRate; shown as e.g. 175.2G/s) from a
// per-iteration amount.
inline void set_rate(benchmark::State &state, const char *name, double per_iteration) {
    state.counters[name] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// Times the benchmark loop itself (wall clock, as UseRealTime) so that a
// case can report a fraction of the FP32 peak: flops * iterations / seconds / peak.
class WallTimer {
public:
    void start() { t0_ = std::chrono::steady_clock::now(); }
    double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    }

private:
    std::chrono::steady_clock::time_point t0_;
};

}  // namespace dcn_bench
