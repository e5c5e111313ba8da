// Many threads at once: every operator, float32 and float64, mixed shapes,
// while another thread keeps changing the process-wide settings
// (set_num_threads, set_max_cpu_isa, release_cached_memory). Each result
// must be bitwise the one the same call gives alone on the CPU path it ran
// (dcn::last_cpu_isa is per thread). tools/check.sh also runs this under
// ThreadSanitizer, which must report nothing.
#include <gtest/gtest.h>

#include <dcn/dcn.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

template <typename T>
std::vector<T> random_values(size_t n, std::mt19937 &rng, double lo, double hi) {
    std::vector<T> v(n);
    for (T &x : v) x = static_cast<T>(lo + (hi - lo) * (double(rng() >> 8) / 16777216.0));
    return v;
}

// One call of one operator on fixed inputs; run() returns its output.
struct Job {
    std::string name;
    std::function<std::vector<double>()> run;
};

template <typename T>
Job conv_job(const std::string &name, int64_t C, int64_t H, int64_t W, int64_t K, uint32_t seed) {
    std::mt19937 rng(seed);
    auto in = std::make_shared<std::vector<T>>(random_values<T>(size_t(C * H * W), rng, -1, 1));
    auto off = std::make_shared<std::vector<T>>(random_values<T>(size_t(18 * H * W), rng, -2, 2));
    auto w = std::make_shared<std::vector<T>>(random_values<T>(size_t(K * C * 9), rng, -0.5, 0.5));
    auto m = std::make_shared<std::vector<T>>(random_values<T>(size_t(9 * H * W), rng, 0, 1));
    return {name, [=] {
                std::vector<T> out(size_t(K * H * W), T(NAN));
                dcn::DeformConv2dOptions o;
                o.padding = 1;
                dcn::deform_conv2d(dcn::TensorView(in->data(), {1, C, H, W}), dcn::TensorView(off->data(), {1, 18, H, W}),
                                   dcn::TensorView(w->data(), {K, C, 3, 3}), dcn::TensorView(m->data(), {1, 9, H, W}),
                                   std::nullopt, dcn::TensorView(out.data(), {1, K, H, W}), o);
                return std::vector<double>(out.begin(), out.end());
            }};
}

// deform_conv2d_backward, one kernel call per run (so that one call runs on
// one CPU path while the cap changes): the data gradients of one image, or
// the weight and bias gradients.
template <typename T>
Job conv_backward_job(const std::string &name, bool data, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t C = 12, H = 9, W = 11, K = 10;
    auto in = std::make_shared<std::vector<T>>(random_values<T>(size_t(C * H * W), rng, -1, 1));
    auto off = std::make_shared<std::vector<T>>(random_values<T>(size_t(18 * H * W), rng, -2, 2));
    auto w = std::make_shared<std::vector<T>>(random_values<T>(size_t(K * C * 9), rng, -0.5, 0.5));
    auto m = std::make_shared<std::vector<T>>(random_values<T>(size_t(9 * H * W), rng, 0, 1));
    auto gy = std::make_shared<std::vector<T>>(random_values<T>(size_t(K * H * W), rng, -1, 1));
    return {name, [=] {
                std::vector<T> a(size_t(data ? C * H * W : K * C * 9), T(NAN)), b(size_t(data ? 18 * H * W : K), T(NAN)),
                    c(size_t(9 * H * W), T(NAN));
                dcn::DeformConv2dOptions o;
                o.padding = 1;
                dcn::DeformConv2dGradients g;
                if (data) {
                    g.input = dcn::TensorView(a.data(), {1, C, H, W});
                    g.offset = dcn::TensorView(b.data(), {1, 18, H, W});
                    g.mask = dcn::TensorView(c.data(), {1, 9, H, W});
                } else {
                    g.weight = dcn::TensorView(a.data(), {K, C, 3, 3});
                    g.bias = dcn::TensorView(b.data(), {K});
                }
                dcn::deform_conv2d_backward(dcn::TensorView(gy->data(), {1, K, H, W}),
                                            dcn::TensorView(in->data(), {1, C, H, W}),
                                            dcn::TensorView(off->data(), {1, 18, H, W}),
                                            dcn::TensorView(w->data(), {K, C, 3, 3}),
                                            dcn::TensorView(m->data(), {1, 9, H, W}), g, o);
                std::vector<double> r(a.begin(), a.end());
                r.insert(r.end(), b.begin(), b.end());
                if (data) r.insert(r.end(), c.begin(), c.end());
                return r;
            }};
}

template <typename T>
std::vector<T> rois_for(int64_t R, double H, double W, std::mt19937 &rng) {
    std::vector<T> r;
    for (int64_t i = 0; i < R; i++) {
        const double x = W * double(rng() % 1000) / 1000.0, y = H * double(rng() % 1000) / 1000.0;
        r.insert(r.end(), {T(0), T(x), T(y), T(x + 1 + rng() % 5), T(y + 1 + rng() % 5)});
    }
    return r;
}

template <typename T>
Job roi_job(const std::string &name, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t C = 6, H = 12, W = 13, R = 9;
    auto in = std::make_shared<std::vector<T>>(random_values<T>(size_t(C * H * W), rng, -1, 1));
    auto rois = std::make_shared<std::vector<T>>(rois_for<T>(R, H, W, rng));
    auto off = std::make_shared<std::vector<T>>(random_values<T>(size_t(R * 2 * 49), rng, -1, 1));
    return {name, [=] {
                std::vector<T> out(size_t(R * C * 49), T(NAN));
                dcn::DeformRoiPoolOptions o;
                o.sampling_ratio = 0;
                dcn::deform_roi_pool(dcn::TensorView(in->data(), {1, C, H, W}), dcn::TensorView(rois->data(), {R, 5}),
                                     dcn::TensorView(off->data(), {R, 2, 7, 7}), std::nullopt,
                                     dcn::TensorView(out.data(), {R, C, 7, 7}), o);
                return std::vector<double>(out.begin(), out.end());
            }};
}

template <typename T>
Job psroi_job(const std::string &name, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t D = 2, G = 3, H = 10, W = 11, R = 7, P = 3;
    auto in = std::make_shared<std::vector<T>>(random_values<T>(size_t(D * G * G * H * W), rng, -1, 1));
    auto rois = std::make_shared<std::vector<T>>(rois_for<T>(R, H, W, rng));
    auto trans = std::make_shared<std::vector<T>>(random_values<T>(size_t(R * 2 * P * P), rng, -1, 1));
    return {name, [=] {
                std::vector<T> out(size_t(R * D * P * P), T(NAN));
                dcn::DeformPsroiPoolOptions o;
                o.output_dim = int(D), o.group_size = int(G), o.pooled_size = int(P), o.trans_std = 0.1f;
                dcn::deform_psroi_pool(dcn::TensorView(in->data(), {1, D * G * G, H, W}),
                                       dcn::TensorView(rois->data(), {R, 5}), dcn::TensorView(trans->data(), {R, 2, P, P}),
                                       dcn::TensorView(out.data(), {R, D, P, P}), std::nullopt, o);
                return std::vector<double>(out.begin(), out.end());
            }};
}

// The RoI poolings' backward passes (grad_input and grad_offset / grad_trans).
template <typename T>
Job roi_backward_job(const std::string &name, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t C = 6, H = 12, W = 13, R = 9;
    auto in = std::make_shared<std::vector<T>>(random_values<T>(size_t(C * H * W), rng, -1, 1));
    auto rois = std::make_shared<std::vector<T>>(rois_for<T>(R, H, W, rng));
    auto off = std::make_shared<std::vector<T>>(random_values<T>(size_t(R * 2 * 49), rng, -1, 1));
    auto gy = std::make_shared<std::vector<T>>(random_values<T>(size_t(R * C * 49), rng, -1, 1));
    return {name, [=] {
                std::vector<T> gi(size_t(C * H * W), T(NAN)), goff(size_t(R * 2 * 49), T(NAN));
                dcn::DeformRoiPoolOptions o;
                o.sampling_ratio = 0;
                dcn::DeformRoiPoolGradients g;
                g.input = dcn::TensorView(gi.data(), {1, C, H, W});
                g.offset = dcn::TensorView(goff.data(), {R, 2, 7, 7});
                dcn::deform_roi_pool_backward(dcn::TensorView(gy->data(), {R, C, 7, 7}),
                                              dcn::TensorView(in->data(), {1, C, H, W}),
                                              dcn::TensorView(rois->data(), {R, 5}),
                                              dcn::TensorView(off->data(), {R, 2, 7, 7}), std::nullopt, g, o);
                gi.insert(gi.end(), goff.begin(), goff.end());
                return std::vector<double>(gi.begin(), gi.end());
            }};
}

template <typename T>
Job psroi_backward_job(const std::string &name, uint32_t seed) {
    std::mt19937 rng(seed);
    const int64_t D = 2, G = 3, H = 10, W = 11, R = 7, P = 3;
    auto in = std::make_shared<std::vector<T>>(random_values<T>(size_t(D * G * G * H * W), rng, -1, 1));
    auto rois = std::make_shared<std::vector<T>>(rois_for<T>(R, H, W, rng));
    auto trans = std::make_shared<std::vector<T>>(random_values<T>(size_t(R * 2 * P * P), rng, -1, 1));
    auto gy = std::make_shared<std::vector<T>>(random_values<T>(size_t(R * D * P * P), rng, -1, 1));
    return {name, [=] {
                std::vector<T> gi(size_t(D * G * G * H * W), T(NAN)), gt(size_t(R * 2 * P * P), T(NAN));
                dcn::DeformPsroiPoolOptions o;
                o.output_dim = int(D), o.group_size = int(G), o.pooled_size = int(P), o.trans_std = 0.1f;
                dcn::DeformPsroiPoolGradients g;
                g.input = dcn::TensorView(gi.data(), {1, D * G * G, H, W});
                g.trans = dcn::TensorView(gt.data(), {R, 2, P, P});
                dcn::deform_psroi_pool_backward(dcn::TensorView(gy->data(), {R, D, P, P}),
                                                dcn::TensorView(in->data(), {1, D * G * G, H, W}),
                                                dcn::TensorView(rois->data(), {R, 5}),
                                                dcn::TensorView(trans->data(), {R, 2, P, P}), g, o);
                gi.insert(gi.end(), gt.begin(), gt.end());
                return std::vector<double>(gi.begin(), gi.end());
            }};
}

std::vector<Job> jobs() {
    return {conv_job<float>("conv_f32_small", 5, 7, 9, 6, 1),  conv_job<float>("conv_f32_larger", 24, 13, 17, 20, 2),
            conv_job<double>("conv_f64", 7, 8, 6, 5, 3),         roi_job<float>("roi_f32", 4),
            roi_job<double>("roi_f64", 5),                       psroi_job<float>("psroi_f32", 6),
            psroi_job<double>("psroi_f64", 7),
            conv_backward_job<float>("conv_backward_data_f32", true, 8),
            conv_backward_job<float>("conv_backward_weight_f32", false, 9),
            conv_backward_job<double>("conv_backward_data_f64", true, 10),
            roi_backward_job<float>("roi_backward_f32", 11),
            psroi_backward_job<double>("psroi_backward_f64", 12)};
}

std::vector<dcn::CpuIsa> usable_paths() {
    std::vector<dcn::CpuIsa> r;
    for (dcn::CpuIsa isa : dcn::compiled_cpu_isas())
        if (dcn::cpu_supports(isa)) r.push_back(isa);
    return r;
}

TEST(Concurrency, MixedCallsWhileSettingsChange) {
    const std::vector<Job> all = jobs();
    const std::vector<dcn::CpuIsa> paths = usable_paths();
    // Each job alone on each usable path (the path that ran it: a path may
    // lack a kernel and run the next one's): what every concurrent call
    // must give.
    std::map<std::pair<size_t, int>, std::vector<double>> expected;
    for (dcn::CpuIsa isa : paths) {
        dcn::set_max_cpu_isa(isa);
        for (size_t j = 0; j < all.size(); j++) {
            std::vector<double> r = all[j].run();
            expected[{j, int(dcn::last_cpu_isa())}] = std::move(r);
        }
    }
    dcn::set_max_cpu_isa(std::nullopt);

    constexpr int kWorkers = 4, kCallsPerWorker = 300;
    std::atomic<bool> done{false};
    std::atomic<int> mismatches{0}, errors{0}, calls{0};
    std::thread settings([&] {
        std::mt19937 rng(11);
        while (!done.load()) {
            dcn::set_num_threads(1 + int(rng() % 3));
            const size_t pick = rng() % (paths.size() + 1);
            dcn::set_max_cpu_isa(pick == paths.size() ? std::nullopt : std::optional<dcn::CpuIsa>(paths[pick]));
            dcn::release_cached_memory();
            (void)dcn::cached_memory_bytes();
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < kWorkers; t++) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < kCallsPerWorker; i++) {
                const size_t j = size_t(t + i) % all.size();
                try {
                    const std::vector<double> got = all[j].run();
                    const dcn::CpuIsa ran = dcn::last_cpu_isa();
                    if (got != expected.at({j, int(ran)})) mismatches++;
                } catch (const std::exception &) {
                    errors++;
                }
                calls++;
            }
        });
    }
    for (std::thread &w : workers) w.join();
    done = true;
    settings.join();
    dcn::set_max_cpu_isa(std::nullopt);
    dcn::set_num_threads(0);
    EXPECT_EQ(calls.load(), kWorkers * kCallsPerWorker);
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(mismatches.load(), 0) << "a concurrent call's result differs from the same call alone on its path";
}

}  // namespace
