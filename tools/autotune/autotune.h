// dcn-autotune's parts, shared between its files (tools/autotune/): the
// generators' tunables as linked in (introspection.cpp), the CPU paths this
// machine runs (cpu_paths.cpp), compiling and timing a candidate
// (measure.cpp), the search (tuner.cpp) and the tuned file (tuned_file.cpp).
#pragma once

#include "Halide.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "problem.h"

namespace dcn::autotune {

using Clock = std::chrono::steady_clock;
// Tunable name -> value.
using Params = std::map<std::string, int>;

std::vector<std::string> split(const std::string &s, char sep);
double seconds_since(Clock::time_point t);

// ---- introspection.cpp: schedules/cpu/tunables.cmake against the generators
struct TunableInfo {
    std::string name;
    int default_value = 0, min = 0, max = 0;
    std::vector<int> candidates;
};
std::vector<TunableInfo> tunables_of(const std::string &op);
std::vector<std::string> variant_params_of(const std::string &op);
std::vector<std::string> shape_features_of(const std::string &op);
// The generator's own GeneratorParams (name -> default value).
std::map<std::string, std::string> generator_params(Halide::Internal::AbstractGenerator &g);
// Checks the list against the generator `op` for `target`; problems that
// make tuning meaningless are errors, the rest warnings (errors when `strict`).
bool check_tunables(const std::string &op, const Halide::Target &target, bool strict, std::ostream &log);
// --check-tunables: every operator, strict; the exit status.
int check_all_tunables();

// ---- cpu_paths.cpp: the AOT build's CPU paths (cmake/DcnRegistry.cmake)
struct CpuPath {
    std::string isa, target;
};
std::vector<CpuPath> aot_cpu_paths();
// Whether this machine (CPU and operating system) runs the path's code.
bool host_runs(const CpuPath &path);

// ---- measure.cpp: one candidate
std::string params_str(const Params &p, const char *sep = " ");
// A JIT-compiled candidate. The generator is kept alive with its pipeline
// (the pipeline's parameters are the generator's inputs).
struct Compiled {
    Halide::Internal::AbstractGeneratorPtr gen;
    Halide::Pipeline pipeline;
    Halide::Target target;
    double compile_seconds = 0;
};
std::unique_ptr<Compiled> compile(const Problem &problem, const Halide::Target &target,
                                  const std::optional<Params> &params);
// One run, in milliseconds.
double run_once(Compiled &c, Halide::Realization &out);
double median(std::vector<double> v);
// "" when the candidate's outputs agree with the default schedule's, else why not.
std::string compare_outputs(const Halide::Realization &got, const Halide::Realization &want);

// ---- tuner.cpp: the search
struct TuneResult {
    Params best;
    double best_ms = 0, baseline_ms = 0;
    int candidates = 0, failed = 0;
};
// Searches within `budget` seconds from `start`; or, given `only`, times
// just that setting against the default.
TuneResult search(Problem &problem, const Halide::Target &target, double budget, Clock::time_point start,
                  const std::optional<Params> &only);

// ---- tuned_file.cpp: the tuned file (schedules/tuned/*.json)
struct Range {
    int64_t lo, hi;
};
// --match "name=LO..HI,..." or "any"; default: [ceil(v/2), 2v] per feature.
std::vector<Range> parse_match(const std::string &text, const std::vector<std::string> &names,
                               const std::vector<int64_t> &values);
bool valid_class_name(const std::string &s);
std::string cpu_model();
std::string utc_now();
// What a tuned file records besides the result.
struct TunedFileInfo {
    std::string op, cls, isa, command;
    const Problem *problem;
    Halide::Target target;
    std::vector<std::string> feature_names;
    std::vector<Range> ranges;
    int threads;
    unsigned seed;
    double budget, elapsed;
};
void write_tuned_file(const std::string &path, const TunedFileInfo &info, const TuneResult &result);

}  // namespace dcn::autotune
