// dcn-autotune: searches an operator's CPU schedule tunables for one shape
// on this machine and writes the fastest correct setting as a tuned file
// (schedules/tuned/*.json, read by the build: cmake/DcnTuned.cmake).
//
//   dcn-autotune <op> --shape ... [the op's flags] --budget-seconds T --out FILE.json
//                [--class NAME] [--match FEATURE=LO..HI,...|any] [--threads N]
//                [--isa NAME] [--seed S] [--params K=V,...] [--device cpu|cuda|opencl]
//   dcn-autotune --check-tunables
//
// How: the generators are linked in; each candidate is a fresh generator
// instance with the candidate's GeneratorParams, JIT-compiled in process
// (libHalide from the wheel) for the CPU target the AOT build would run on
// this machine, run on random inputs, checked against the default
// schedule's output, and timed (median of several runs). The search starts
// at the default: a line search over each tunable's candidate values
// (schedules/cpu/tunables.cmake), then coordinate descent between
// neighbouring values, then steps along pairs of tunables, then random
// points near the best, as long as the budget allows; every apparent
// improvement is confirmed by an interleaved race against the incumbent. A
// final race between the best and the default decides, so the reported
// speedup is never below 1.
#include <CLI/CLI.hpp>
#include <dlfcn.h>
#include <dcn/dcn.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "autotune.h"
#include "flags.h"

namespace {

using namespace dcn::autotune;
using dcn_tools::StringFlags;

const char *const kOps[] = {"deform_conv2d", "deform_psroi_pool", "deform_roi_pool"};

// GPU schedules have no tunables yet; say whether they could be timed here.
int gpu_request(const std::string &device, const std::string &op) {
    const char *lib = device == "cuda" ? "libcuda.so.1" : "libOpenCL.so.1";
    void *h = dlopen(lib, RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        std::cerr << "dcn-autotune: cannot time the " << device << " schedule of " << op << " on this machine: no "
                  << (device == "cuda" ? "CUDA driver" : "OpenCL library") << " (" << lib
                  << " not found); the GPU schedules have no tunables yet either\n";
        return 1;
    }
    dlclose(h);
    std::cerr << "dcn-autotune: the " << device << " schedule of " << op
              << " has no tunables yet (schedules/cpu/tunables.cmake lists CPU ones only): nothing to tune\n";
    return 1;
}

// The tuning flags every operator takes.
void add_tuning_flags(StringFlags &f) {
    f.add("budget-seconds", "wall-clock budget for the whole run (default 60)");
    f.add("out", "the tuned file to write (JSON)");
    f.add("class", "the shape class's name ([a-z][a-z0-9_]*; default from the shape)");
    f.add("match", "shape ranges the class applies to, FEATURE=LO..HI,... (default: half to twice the tuned "
                   "shape's value); 'any' = every shape");
    f.add("threads", "worker threads (default: all cores)");
    f.add("isa", "tune the path for this CPU ISA (default: the best this CPU runs)");
    f.add("seed", "random inputs' seed (default: from the clock)");
    f.add("params", "K=V,...: no search, time this setting against the default");
    f.add("device", "cpu (default); GPU schedules have no tunables yet");
}

int tune(const std::string &op, const StringFlags &flags, const std::string &command) {
    const auto start = Clock::now();
    const std::string device = flags.get_or("device", "cpu");
    if (device != "cpu" && device != "cuda" && device != "opencl")
        throw UsageError("--device: expected cpu, cuda or opencl, got '" + device + "'");
    const float budget = dcn_tools::parse_float("budget-seconds", flags.get_or("budget-seconds", "60"));
    if (!(budget > 0)) throw UsageError("--budget-seconds must be > 0");
    const std::string out = flags.get_or("out", "");
    std::string cls = flags.get_or("class", "");
    const int threads = dcn_tools::parse_int(
        "threads", flags.get_or("threads", std::to_string(std::max(1u, std::thread::hardware_concurrency()))));
    if (threads < 1 || threads > 1024) throw UsageError("--threads must be an integer in [1, 1024]");
    const std::string isa_req = flags.get_or("isa", "");
    std::optional<Params> only;
    if (flags.has("params")) {
        only = Params{};
        for (const std::string &item : split(flags.get("params"), ',')) {
            const size_t eq = item.find('=');
            if (eq == std::string::npos) throw UsageError("--params: expected NAME=VALUE,..., got '" + item + "'");
            (*only)[item.substr(0, eq)] = dcn_tools::parse_int("params", item.substr(eq + 1));
        }
    }
    unsigned seed = static_cast<unsigned>(std::time(nullptr));
    if (flags.has("seed")) {
        const std::string t = flags.get("seed");
        char *end = nullptr;
        const unsigned long long v = std::strtoull(t.c_str(), &end, 10);
        if (t.empty() || t[0] == '-' || *end != '\0' || v > 4294967295ull)
            throw UsageError("--seed must be an integer in [0, 2^32)");
        seed = static_cast<unsigned>(v);
    }
    auto problem = make_problem(op, flags);
    if (device != "cpu") return gpu_request(device, op);
    if (out.empty()) throw UsageError("--out FILE.json is required");

    const auto features = problem->features();
    const auto feature_names = shape_features_of(op);
    const auto ranges = parse_match(flags.get_or("match", ""), feature_names, features);
    if (cls.empty()) {
        cls = "auto";
        for (int64_t v : features) cls += "_" + std::to_string(v);
    }
    if (!valid_class_name(cls)) throw UsageError("--class: '" + cls + "' must match [a-z][a-z0-9_]* (at most 48)");

    // The AOT build's CPU path for this machine (or the one asked for).
    std::optional<CpuPath> path;
    std::string names;
    for (const CpuPath &p : aot_cpu_paths()) {
        names += (names.empty() ? "" : ",") + p.isa;
        if (path || (!isa_req.empty() && p.isa != isa_req)) continue;
        if (host_runs(p)) path = p;
        else if (!isa_req.empty()) throw UsageError("--isa " + isa_req + ": this CPU cannot run " + p.target);
    }
    if (!path) throw UsageError("--isa: unknown ISA '" + isa_req + "' (expected one of " + names + ")");
    // The path the build's float32 forward kernel of `op` runs on there (a
    // path may exist for some operators or dtypes only, cmake/DcnRegistry.cmake).
    const dcn::CpuIsa asked = *dcn::cpu_isa_from_name(path->isa);
    const dcn::CpuIsa runs = dcn::cpu_path_for(op, "forward", dcn::DType::float32, asked);
    if (runs != asked) {
        if (!isa_req.empty())
            throw UsageError("--isa " + isa_req + ": the build has no float32 " + op + " kernel for this path (" + op +
                             " runs on " + dcn::cpu_isa_name(runs) + " there)");
        for (const CpuPath &p : aot_cpu_paths())
            if (p.isa == dcn::cpu_isa_name(runs)) path = p;
    }
    const Halide::Target target(path->target);

    // Threads of Halide's JIT runtime: read when its pool starts.
    setenv("HL_NUM_THREADS", std::to_string(threads).c_str(), 1);
    {
        std::ostringstream log;
        if (!check_tunables(op, target, false, log)) {
            std::cerr << log.str() << "dcn-autotune: error: schedules/cpu/tunables.cmake does not match the " << op
                      << " generator\n";
            return 1;
        }
        std::cerr << log.str();
    }

    std::mt19937 rng(seed);
    problem->make_inputs(rng);
    std::cerr << "tuning " << problem->describe() << "\n"
              << "  on " << cpu_model() << ", " << threads << " threads, path " << path->isa << ", budget " << budget
              << " s, seed " << seed << "\n";
    const TuneResult r = search(*problem, target, budget, start, only);
    const double elapsed = seconds_since(start);
    write_tuned_file(out, {op, cls, path->isa, command, problem.get(), target, feature_names, ranges, threads, seed,
                           budget, elapsed},
                     r);

    std::cerr << "wrote " << out << " (class " << cls << ", " << r.candidates << " candidates in " << std::fixed
              << std::setprecision(1) << elapsed << " s)\n";
    std::cerr << "best: " << params_str(r.best) << std::setprecision(3) << " median_ms=" << r.best_ms
              << " baseline_ms=" << r.baseline_ms << " speedup=" << r.baseline_ms / r.best_ms << "\n";
    return 0;
}

int run(int argc, char **argv) {
    CLI::App app("Searches an operator's CPU schedule tunables (schedules/cpu/tunables.cmake) for one shape on this "
                 "machine: each candidate is JIT-compiled, checked against the default schedule's output on random "
                 "inputs and timed. Writes the fastest correct setting as a tuned file for schedules/tuned/. The "
                 "last line on stderr is 'best: <params> median_ms=<x> baseline_ms=<y> speedup=<z>'.",
                 "dcn-autotune");
    bool check = false;
    app.add_flag("--check-tunables", check,
                 "check schedules/cpu/tunables.cmake against the generators' GeneratorParams");
    std::vector<std::pair<std::string, std::unique_ptr<StringFlags>>> ops;
    for (const char *op : kOps) {
        CLI::App *sub = app.add_subcommand(op, std::string("tune ") + op);
        auto f = std::make_unique<StringFlags>(sub);
        add_problem_flags(op, *f);
        add_tuning_flags(*f);
        ops.emplace_back(op, std::move(f));
    }
    if (argc < 2) {
        std::cerr << app.help();
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        throw UsageError(e.what());
    }
    if (check) {
        if (!app.get_subcommands().empty()) throw UsageError("--check-tunables takes no other argument");
        return check_all_tunables();
    }
    std::string command = "dcn-autotune";
    for (int i = 1; i < argc; i++) command += std::string(" ") + argv[i];
    for (const auto &[op, flags] : ops) {
        if (!flags->parsed()) continue;
        flags->check_parsed();
        return tune(op, *flags, command);
    }
    throw UsageError("expected an operator (deform_conv2d, deform_psroi_pool, deform_roi_pool) or --check-tunables");
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError &e) {
        std::cerr << "dcn-autotune: error: " << e.what() << "\n(dcn-autotune --help for usage)\n";
        return 2;
    } catch (const Halide::Error &e) {
        std::cerr << "dcn-autotune: error: Halide: " << e.what() << "\n";
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "dcn-autotune: error: " << e.what() << "\n";
        return 1;
    }
}
