// dcn_bench_autosched: the hand schedules (default parameters, and the
// tuned class for the shape if schedules/tuned/ has one) against Halide's
// autoschedulers on the same generators, one shape per operator (the
// shapes the generators give the autoschedulers as estimates). Built only
// with -DDCN_AUTOSCHEDULER_BASELINES=ON (cmake/DcnBaselines.cmake).
//
//   dcn_bench_autosched [--threads N] [--rounds R]
//
// Every library is called directly (the AOT entry points, not the dcn API),
// on the same inputs, for the same CPU target (the build's first, AVX-512).
// Runs are interleaved over the schedules, in a new random order each
// round (a fixed order measurably favoured some schedules by 2-3%), so a
// noisy neighbour hurts them alike; the median of R rounds is reported (a
// schedule that has taken over 5 s stops after 3 runs). Each output is
// checked against the default hand schedule's (relative L2). Prints a
// Markdown table (bench/RESULTS.md, "Hand schedules vs Halide's
// autoschedulers").
#include <HalideBuffer.h>
#include <HalideRuntime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "dcn/dcn.h"
#include "flags.h"
#include "dcn_baselines.h"
#include "kernel_table.h"

namespace {

using Halide::Runtime::Buffer;
using Clock = std::chrono::steady_clock;

struct Schedule {
    std::string name;
    std::string status;            // "" = runs; else why it is not timed
    std::function<int(std::vector<Buffer<float>> &)> run;  // writes the outputs it is given
    std::vector<Buffer<float>> outputs;
    std::vector<double> ms;
    std::string check;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

std::string relative_l2(const std::vector<Buffer<float>> &got, const std::vector<Buffer<float>> &want) {
    double num = 0, den = 0;
    bool nan = false;
    for (size_t i = 0; i < want.size(); i++) {
        const float *g = got[i].data(), *w = want[i].data();
        for (size_t k = 0; k < want[i].number_of_elements(); k++) {
            if (std::isnan(g[k]) || std::isnan(w[k])) nan = true;
            num += (double(g[k]) - w[k]) * (double(g[k]) - w[k]);
            den += double(w[k]) * w[k];
        }
    }
    if (nan) return "NaN in output";
    char buf[64];
    const double rel = std::sqrt(num / std::max(den, 1e-300));
    std::snprintf(buf, sizeof buf, "%s (rel L2 %.1e)", rel <= 1e-5 ? "ok" : "WRONG", rel);
    return buf;
}

void fill(Buffer<float> &b, std::mt19937 &rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    b.for_each_value([&](float &v) { v = u(rng); });
}

// Region-proposal-like RoIs in input-image coordinates.
Buffer<float> rois_for(int R, int H, int W, float scale, std::mt19937 &rng) {
    Buffer<float> rois(5, R);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    const float iw = W / scale, ih = H / scale;
    for (int r = 0; r < R; r++) {
        const float w = 16 + u(rng) * (iw / 2 - 16), h = 16 + u(rng) * (ih / 2 - 16);
        const float x1 = u(rng) * (iw - w), y1 = u(rng) * (ih - h);
        rois(0, r) = 0;
        rois(1, r) = x1;
        rois(2, r) = y1;
        rois(3, r) = x1 + w;
        rois(4, r) = y1 + h;
    }
    return rois;
}

std::vector<Buffer<float>> outputs_like(const std::vector<Buffer<float>> &shapes) {
    std::vector<Buffer<float>> out;
    for (const auto &b : shapes) {
        std::vector<int> e;
        for (int d = 0; d < b.dimensions(); d++) e.push_back(b.dim(d).extent());
        Buffer<float> o(e);
        o.fill(std::nanf(""));
        out.push_back(o);
    }
    return out;
}

// The rows of one operator's table.
struct Case {
    std::string op, shape;
    std::vector<Schedule> schedules;
    std::string gpu_status;
};

// Calls an entry point with the pipeline's arguments: a typed one (the
// autoscheduled libraries) directly, a kernel-table argv one (the hand
// schedules) through Halide's argv convention (buffers as they are,
// scalars by address).
template <typename Fn, typename... A>
int invoke(Fn fn, A... a) {
    return fn(a...);
}
template <typename... A>
int invoke(dcn::detail::ArgvFn fn, A... a) {
    std::tuple<A...> values(a...);
    void *args[sizeof...(A)];
    size_t i = 0;
    auto ptr = [](auto &v) -> void * {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, halide_buffer_t *>) return v;
        else return &v;
    };
    std::apply([&](auto &...v) { ((args[i++] = ptr(v)), ...); }, values);
    return fn(args);
}

// The hand-scheduled float32 forward kernel of a variant (the kernel table).
const dcn::detail::KernelEntry &hand_kernel(dcn::detail::Op op, unsigned variant) {
    const auto *k = dcn::detail::find_kernel(op, dcn::detail::Direction::forward, dcn::DType::float32, variant);
    if (!k) {
        std::fprintf(stderr, "dcn_bench_autosched: no float32 forward kernel for the variant\n");
        std::exit(1);
    }
    return *k;
}

// Adds the default and tuned rows of one operator variant (hand schedules,
// kernel table entry `k`). `call(fn, outputs)` runs an entry point with the
// case's inputs.
template <typename Call>
void add_rows(Case &c, const std::vector<Buffer<float>> &shapes, const dcn::detail::KernelEntry &k,
              const std::vector<int64_t> &features, Call call) {
    using Fn = dcn::detail::ArgvFn;
    const Fn default_fn = k.cpu[DCN_BASELINE_CPU_ISA_INDEX];
    auto add = [&](const std::string &name, const std::string &status, Fn fn) {
        Schedule s;
        s.name = name;
        s.status = status;
        s.outputs = outputs_like(shapes);
        if (fn) s.run = [fn, call](std::vector<Buffer<float>> &o) { return call(fn, o); };
        c.schedules.push_back(std::move(s));
    };
    add("hand, default parameters", default_fn ? "" : "not compiled for this path", default_fn);
    bool any_tuned = false;
    for (auto *t = k.tuned; t && t->name; ++t) {
        if (t->isa != DCN_BASELINE_CPU_ISA_INDEX) continue;  // the baselines' CPU path
        bool within = true;
        for (size_t i = 0; i < features.size(); i++)
            within = within && features[i] >= t->ranges[i][0] && features[i] <= t->ranges[i][1];
        if (!within) continue;
        add(std::string("hand, tuned (class ") + t->name + ")", "", t->fn);
        any_tuned = true;
        break;
    }
    if (!any_tuned) add("hand, tuned", "no tuned class in schedules/tuned/ covers this shape", nullptr);
}

void run_case(Case &c, int rounds) {
    // Warm-up, and the outputs for the check.
    for (Schedule &s : c.schedules) {
        if (!s.status.empty()) continue;
        if (s.run(s.outputs) != 0) s.status = "error at run time";
    }
    // A fresh random order every round: no schedule always follows the
    // same (heavy) neighbour.
    std::vector<size_t> order(c.schedules.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::mt19937 rng(99);
    for (int r = 0; r < rounds; r++) {
        std::shuffle(order.begin(), order.end(), rng);
        for (size_t i : order) {
            Schedule &s = c.schedules[i];
            if (!s.status.empty()) continue;
            // Very slow schedules (10-100x) stop after 3 runs and 5 s.
            double total = 0;
            for (double t : s.ms) total += t;
            if (s.ms.size() >= 3 && total > 5000) continue;
            const auto t0 = Clock::now();
            s.run(s.outputs);
            s.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
    }
    for (Schedule &s : c.schedules)
        if (s.status.empty()) s.check = relative_l2(s.outputs, c.schedules[0].outputs);
}

void print_case(const Case &c) {
    const double base = median(c.schedules[0].ms);
    std::printf("\n**%s**, %s\n\n", c.op.c_str(), c.shape.c_str());
    std::printf("| schedule | median ms | vs hand default | output vs hand default |\n| --- | --- | --- | --- |\n");
    for (const Schedule &s : c.schedules) {
        if (!s.status.empty()) {
            std::printf("| %s | - | - | %s |\n", s.name.c_str(), s.status.c_str());
            continue;
        }
        const double m = median(s.ms);
        std::printf("| %s | %.3f | %.2fx | %s |\n", s.name.c_str(), m, base / m, s.check.c_str());
    }
    std::printf("| Anderson2021 (CUDA, sm_80) | - | - | %s |\n", c.gpu_status.c_str());
}

std::string as_status(bool ok, const char *status) {
    return ok ? std::string() : std::string("autoscheduler failed: ") + status;
}

std::string gpu_status(bool ok, const char *status, int seconds) {
    return ok ? "compiled in " + std::to_string(seconds) + " s; not timed: no GPU on this machine"
              : std::string("autoscheduler failed: ") + status;
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app("Hand schedules vs Halide's autoschedulers (bench/RESULTS.md)", "dcn_bench_autosched");
    dcn_tools::StringFlags flags(&app);
    flags.add("threads", "worker threads (default: dcn's default)");
    flags.add("rounds", "timed rounds (default 15)");
    int threads = 0, rounds = 15;
    try {
        app.parse(argc, argv);
        flags.check_parsed();
        if (flags.has("threads")) threads = dcn_tools::parse_int("threads", flags.get("threads"));
        if (flags.has("rounds")) rounds = dcn_tools::parse_int("rounds", flags.get("rounds"));
        dcn_tools::require_at_least("rounds", {rounds}, 1, flags.get_or("rounds", "15"));
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "dcn_bench_autosched: error: %s\n", e.what());
        return 2;
    }
    if (!dcn::cpu_supports(static_cast<dcn::CpuIsa>(DCN_BASELINE_CPU_ISA_INDEX))) {
        std::fprintf(stderr, "dcn_bench_autosched: the baselines are built for %s, which this CPU cannot run\n",
                     DCN_BASELINE_CPU_ISA);
        return 1;
    }
    if (threads > 0) dcn::set_num_threads(threads);
    threads = dcn::num_threads();
    halide_set_num_threads(threads);
    std::mt19937 rng(1234);
    std::vector<Case> cases;

    // deform_conv2d, DCNv2: ResNet-50 c4, 1x256x50x84 -> 256, 3x3, pad 1.
    {
        const int N = 1, C = 256, H = 50, W = 84, K = 256, k = 3, oH = 50, oW = 84;
        static Buffer<float> in(W, H, C, N), off(oW, oH, 2 * k * k, N), w(k, k, C, K), mask(oW, oH, k * k, N);
        fill(in, rng, -1, 1);
        fill(off, rng, -2, 2);
        fill(w, rng, -0.02f, 0.02f);
        fill(mask, rng, 0, 1);
        Case c{"deform_conv2d (DCNv2, mask)", "1x256x50x84 -> 256, 3x3, pad 1", {}, ""};
        auto call = [](auto fn, std::vector<Buffer<float>> &o) {
            return invoke(fn, in.raw_buffer(), off.raw_buffer(), w.raw_buffer(), 1, 1, 1, 1, 1, 1, 1, 1,
                          mask.raw_buffer(), o[0].raw_buffer());
        };
        const std::vector<Buffer<float>> shapes{Buffer<float>(oW * oH, K, N)};
        add_rows(c, shapes, hand_kernel(dcn::detail::Op::deform_conv2d, dcn::detail::flag::deform_conv2d_with_mask),
                 {K, C * k * k, oH * oW}, call);
#define DCN_ROW(AS, NAME) \
    c.schedules.push_back({#AS, as_status(NAME##_autoscheduled, NAME##_status), nullptr, outputs_like(shapes), {}, ""}); \
    if (NAME##_autoscheduled) c.schedules.back().run = [call](std::vector<Buffer<float>> &o) { return call(NAME, o); };
        DCN_BASELINES_deform_conv2d(DCN_ROW)
        c.gpu_status = gpu_status(dcn_deform_conv2d_mask_f32_anderson2021_autoscheduled,
                                  dcn_deform_conv2d_mask_f32_anderson2021_status,
                                  dcn_deform_conv2d_mask_f32_anderson2021_seconds);
        cases.push_back(std::move(c));
    }

    // deform_psroi_pool with trans: R-FCN, 21 classes x 7x7 groups, 300 RoIs.
    {
        const int C = 21 * 49, H = 38, W = 63, R = 300, P = 7;
        static Buffer<float> in(W, H, C, 1), trans(P, P, 2, R), rois;
        fill(in, rng, -1, 1);
        fill(trans, rng, -1, 1);
        rois = rois_for(R, H, W, 1.0f / 16, rng);
        Case c{"deform_psroi_pool (trans)", "1x1029x38x63, 300 RoIs, output_dim 21, 7x7, group 7, 4 samples", {}, ""};
        auto call = [](auto fn, std::vector<Buffer<float>> &o) {
            return invoke(fn, in.raw_buffer(), rois.raw_buffer(), 1.0f / 16, 21, 7, 7, 7, 4, 0.1f, trans.raw_buffer(),
                          o[0].raw_buffer(), o[1].raw_buffer());
        };
        const std::vector<Buffer<float>> shapes{Buffer<float>(P, P, 21, R), Buffer<float>(P, P, 21, R)};
        add_rows(c, shapes,
                 hand_kernel(dcn::detail::Op::deform_psroi_pool, dcn::detail::flag::deform_psroi_pool_with_trans),
                 {C, R}, call);
        DCN_BASELINES_deform_psroi_pool(DCN_ROW)
        c.gpu_status = gpu_status(dcn_deform_psroi_pool_trans_f32_anderson2021_autoscheduled,
                                  dcn_deform_psroi_pool_trans_f32_anderson2021_status,
                                  dcn_deform_psroi_pool_trans_f32_anderson2021_seconds);
        cases.push_back(std::move(c));
    }

    // deform_roi_pool with offset: Faster R-CNN, 256 channels, 512 RoIs, 7x7, 2x2 samples.
    {
        const int C = 256, H = 50, W = 84, R = 512, P = 7;
        static Buffer<float> in(W, H, C, 1), off(P, P, 2, R), rois;
        fill(in, rng, -1, 1);
        fill(off, rng, -1, 1);
        rois = rois_for(R, H, W, 1.0f / 16, rng);
        Case c{"deform_roi_pool (offset)", "1x256x50x84, 512 RoIs, 7x7, sampling ratio 2", {}, ""};
        auto call = [](auto fn, std::vector<Buffer<float>> &o) {
            return invoke(fn, in.raw_buffer(), rois.raw_buffer(), 1.0f / 16, 2, 0.1f, 2, off.raw_buffer(),
                          o[0].raw_buffer());
        };
        const std::vector<Buffer<float>> shapes{Buffer<float>(P, P, C, R)};
        add_rows(c, shapes,
                 hand_kernel(dcn::detail::Op::deform_roi_pool, dcn::detail::flag::deform_roi_pool_with_offset),
                 {C, R}, call);
        DCN_BASELINES_deform_roi_pool(DCN_ROW)
        c.gpu_status = gpu_status(dcn_deform_roi_pool_offset_f32_anderson2021_autoscheduled,
                                  dcn_deform_roi_pool_offset_f32_anderson2021_status,
                                  dcn_deform_roi_pool_offset_f32_anderson2021_seconds);
        cases.push_back(std::move(c));
    }
#undef DCN_ROW

    std::printf("Hand schedules vs Halide's autoschedulers: %s path, %d threads, median of %d rounds (random order) "
                "(schedules taking over 5 s: of 3); "
                "CPU autoschedulers run with parallelism %d, Anderson2021 with %d.\n",
                DCN_BASELINE_CPU_ISA, threads, rounds, DCN_BASELINE_PARALLELISM, DCN_BASELINE_GPU_PARALLELISM);
    for (Case &c : cases) {
        run_case(c, rounds);
        print_case(c);
    }
    return 0;
}
