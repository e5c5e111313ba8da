#include "timing.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace dcn_cli {

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

std::string flops_timing_line(double median_ms, double flops) {
    const double seconds = std::max(median_ms, 1e-9) / 1e3;
    char line[128];
    std::snprintf(line, sizeof line, "median_ms=%.6f gflops=%.3f", median_ms, flops / seconds / 1e9);
    return line;
}

std::string samples_timing_line(double median_ms, double samples) {
    const double seconds = std::max(median_ms, 1e-9) / 1e3;
    char line[128];
    std::snprintf(line, sizeof line, "median_ms=%.6f gsamples=%.4f", median_ms, samples / seconds / 1e9);
    return line;
}

std::string run_timed(int repeat, const std::function<void()> &run_once,
                      const std::function<std::string(double)> &line) {
    if (repeat == 0) {
        run_once();
        return "";
    }
    return line(median_ms_of(repeat, run_once));
}

void print_timing(const std::string &line) {
    if (line.empty()) return;
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

}  // namespace dcn_cli
