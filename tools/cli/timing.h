// --repeat N: one warm-up run, then N timed runs; the median.
#pragma once

#include <functional>
#include <string>

namespace dcn_cli {

// Median over `repeat` timed runs after a warm-up, in milliseconds.
double median_ms_of(int repeat, const std::function<void()> &run_once);
// "median_ms=<float> gflops=<float>"
std::string flops_timing_line(double median_ms, double flops);
// "median_ms=<float> gsamples=<float>": bilinear samples per second / 1e9.
std::string samples_timing_line(double median_ms, double samples);
// Runs once, or `repeat` timed runs after a warm-up; returns the timing line
// made by `line(median_ms)`, or "" without --repeat.
std::string run_timed(int repeat, const std::function<void()> &run_once,
                      const std::function<std::string(double)> &line);
// Prints a timing line as the last line on stderr (nothing for "").
void print_timing(const std::string &line);

}  // namespace dcn_cli
