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
// (schedules/cpu/tunables.cmake), then coordinate descent between neighbouring
// values, then steps along pairs of tunables, then random points near the
// best, as long as the budget allows; every apparent improvement is
// confirmed by an interleaved race against the incumbent. A final race
// between the best and the default decides, so the reported speedup is
// never below 1.
#include "Halide.h"

#include "problem.h"
#include "dcn_registry.h"
#include "dcn_tunables.h"

#include <unistd.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>


namespace {

using namespace dcn::autotune;
using Halide::Internal::AbstractGenerator;
using Halide::Internal::GeneratorBase;
using Halide::Internal::GeneratorParamBase;
using Halide::Internal::GeneratorParamInfo;
using Clock = std::chrono::steady_clock;

const char *const kUsage =
    "usage: dcn-autotune <op> --shape ... [op flags] --budget-seconds T --out FILE.json\n"
    "                    [--class NAME] [--match FEATURE=LO..HI,...|any] [--threads N]\n"
    "                    [--isa NAME] [--seed S] [--params K=V,...] [--device cpu|cuda|opencl]\n"
    "       dcn-autotune --check-tunables\n"
    "\n"
    "Searches the operator's CPU schedule tunables (schedules/cpu/tunables.cmake) for\n"
    "one shape on this machine: each candidate is JIT-compiled, checked against the\n"
    "default schedule's output on random inputs and timed. Writes the fastest correct\n"
    "setting as a tuned file for schedules/tuned/ (the build compiles it as an extra\n"
    "shape class, used at run time for shapes within its --match ranges).\n"
    "\n"
    "  --budget-seconds T  wall-clock budget for the whole run (default 60)\n"
    "  --out FILE          the tuned file to write (JSON)\n"
    "  --class NAME        the shape class's name ([a-z][a-z0-9_]*; default from the shape)\n"
    "  --match ...         shape ranges the class applies to, per feature (default: half to\n"
    "                      twice the tuned shape's value); 'any' = every shape\n"
    "  --threads N         worker threads (default: all cores)\n"
    "  --isa NAME          tune the path for this CPU ISA (default: the best this CPU runs)\n"
    "  --seed S            random inputs' seed (default: from the clock)\n"
    "  --params K=V,...    no search: time this setting against the default (e.g. to\n"
    "                      check a tuned file on this machine)\n"
    "  --device D          cpu (default); GPU schedules have no tunables yet\n"
    "  --check-tunables    check schedules/cpu/tunables.cmake against the generators' GeneratorParams\n"
    "\n"
    "The last line on stderr is\n"
    "  best: <params> median_ms=<x> baseline_ms=<y> speedup=<z>\n"
    "\n";

// ---- generator introspection ------------------------------------------------------
//
// Halide keeps a generator's GeneratorParam list private (GeneratorBase::
// param_info()). The tuner must see the real list, so that a name in
// schedules/cpu/tunables.cmake or a tuned file that the generator lacks is an error and not
// silently ignored: explicit instantiation of a template may name private
// members, which is the standard-conforming way to reach them.
using ParamInfoFn = GeneratorParamInfo &(GeneratorBase::*)();
using DefaultValueFn = std::string (GeneratorParamBase::*)() const;
template <ParamInfoFn P, DefaultValueFn D>
struct PrivateAccess {
    friend ParamInfoFn param_info_fn() { return P; }
    friend DefaultValueFn default_value_fn() { return D; }
};
template struct PrivateAccess<&GeneratorBase::param_info, &GeneratorParamBase::get_default_value>;
ParamInfoFn param_info_fn();
DefaultValueFn default_value_fn();

// The generator's own GeneratorParams (name -> value), without Halide's
// built-in ones (target, autoscheduler). Values are readable once the
// pipeline is built, so this builds it (which compiles nothing).
std::map<std::string, std::string> generator_params(AbstractGenerator &g) {
    g.build_pipeline();
    auto *base = dynamic_cast<GeneratorBase *>(&g);
    if (!base) throw std::runtime_error("generator " + g.name() + " is not a Halide::Generator<>");
    std::map<std::string, std::string> out;
    for (GeneratorParamBase *p : (base->*param_info_fn())().generator_params()) {
        const std::string &n = p->name();
        if (n == "target" || n == "autoscheduler" || n.find('.') != std::string::npos) continue;
        out[n] = (p->*default_value_fn())();
    }
    return out;
}

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

struct TunableInfo {
    std::string name;
    int default_value = 0, min = 0, max = 0;
    std::vector<int> candidates;
};

std::vector<TunableInfo> tunables_of(const std::string &op) {
    std::vector<TunableInfo> out;
    for (const auto &t : dcn::tunables::kTunables) {
        if (op != t.op) continue;
        TunableInfo ti{t.name, t.default_value, t.min, t.max, {}};
        for (const std::string &c : split(t.candidates, ' ')) ti.candidates.push_back(std::stoi(c));
        out.push_back(ti);
    }
    return out;
}

std::vector<std::string> variant_params_of(const std::string &op) {
    for (const auto &o : dcn::tunables::kOperators)
        if (op == o.op) return split(o.variant_params, ' ');
    return {};
}

std::vector<std::string> shape_features_of(const std::string &op) {
    std::vector<std::string> out;
    for (const auto &f : dcn::tunables::kShapeFeatures)
        if (op == f.op) out.push_back(f.name);
    return out;
}

// Checks schedules/cpu/tunables.cmake against the generator `op` for `target`. Problems that
// make tuning meaningless are errors; the rest are warnings (or errors when
// `strict`, for the test suite).
bool check_tunables(const std::string &op, const Halide::Target &target, bool strict, std::ostream &log) {
    bool ok = true;
    auto gen = Halide::Internal::GeneratorRegistry::create(op, Halide::GeneratorContext(target));
    if (!gen) {
        log << "error: schedules/cpu/tunables.cmake names operator '" << op << "' but no generator of that name is linked in\n";
        return false;
    }
    const auto actual = generator_params(*gen);
    // The element type is an axis of the registry (cmake/DcnRegistry.cmake)
    // that the build sets, never tuned; the tuner tunes float32.
    std::set<std::string> known{"dtype"};
    if (!actual.count("dtype")) {
        log << "error: " << op << " has no GeneratorParam 'dtype' (cmake/DcnRegistry.cmake sets it)\n";
        ok = false;
    }
    for (const std::string &v : variant_params_of(op)) {
        known.insert(v);
        if (!actual.count(v)) {
            log << "error: schedules/cpu/tunables.cmake: variant parameter '" << v << "' of " << op
                << " is not a GeneratorParam of the generator\n";
            ok = false;
        }
    }
    for (const TunableInfo &t : tunables_of(op)) {
        known.insert(t.name);
        auto it = actual.find(t.name);
        if (it == actual.end()) {
            log << "error: schedules/cpu/tunables.cmake: tunable '" << t.name << "' of " << op
                << " is not a GeneratorParam of the generator (renamed or removed? update schedules/cpu/tunables.cmake)\n";
            ok = false;
            continue;
        }
        if (it->second != std::to_string(t.default_value)) {
            log << (strict ? "error" : "warning") << ": tunable '" << t.name << "' of " << op
                << ": schedules/cpu/tunables.cmake says default " << t.default_value << ", the generator's default is " << it->second
                << "\n";
            ok = ok && !strict;
        }
        bool sorted = std::is_sorted(t.candidates.begin(), t.candidates.end()) && !t.candidates.empty();
        for (int c : t.candidates) sorted = sorted && c >= t.min && c <= t.max;
        if (!sorted || t.default_value < t.min || t.default_value > t.max) {
            log << "error: schedules/cpu/tunables.cmake: tunable '" << t.name << "' of " << op
                << ": candidates must be ascending and, with the default, within [min, max]\n";
            ok = false;
        }
    }
    for (const auto &[name, value] : actual) {
        if (known.count(name)) continue;
        log << (strict ? "error" : "warning") << ": " << op << " has GeneratorParam '" << name << "' (default "
            << value << ") that schedules/cpu/tunables.cmake does not list: it is not tuned\n";
        ok = ok && !strict;
    }
    const int nf = static_cast<int>(shape_features_of(op).size());
    if (nf < 1 || nf > dcn::tunables::kMaxShapeFeatures) {
        log << "error: schedules/cpu/tunables.cmake: " << op << " needs 1 to " << dcn::tunables::kMaxShapeFeatures
            << " shape features\n";
        ok = false;
    }
    return ok;
}

// ---- targets ------------------------------------------------------------------------

struct CpuPath {
    std::string isa, target;
};

std::vector<CpuPath> aot_cpu_paths() {
    std::vector<CpuPath> out;
    for (const dcn::detail::CpuPathInfo &p : dcn::detail::kCpuPaths) out.push_back({p.name, p.target});
    return out;
}

// Whether the operating system runs the target's vector extensions.
// Halide's host target reads CPUID alone: a hypervisor may report AVX-512
// through CPUID without enabling its register state (XCR0), and code for
// it then dies with SIGILL. The compiler's cpu_supports() checks both.
bool os_runs(const Halide::Target &t) {
    using F = Halide::Target;
    if ((t.has_feature(F::AVX512) || t.has_feature(F::AVX512_Skylake)) &&
        !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
          __builtin_cpu_supports("avx512cd")))
        return false;
    if ((t.has_feature(F::AVX2) || t.has_feature(F::FMA)) &&
        !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return false;
    if (t.has_feature(F::AVX) && !__builtin_cpu_supports("avx")) return false;
    if (t.has_feature(F::SSE41) && !__builtin_cpu_supports("sse4.1")) return false;
    return true;
}

bool host_runs(const Halide::Target &t) {
    const Halide::Target host = Halide::get_host_target();
    if (t.arch != host.arch || t.os != host.os || t.bits != host.bits) return false;
    for (int f = 0; f < Halide::Target::FeatureEnd; f++) {
        const auto feature = static_cast<Halide::Target::Feature>(f);
        if (t.has_feature(feature) && !host.has_feature(feature)) return false;
    }
    return os_runs(t);
}

// ---- measurement ----------------------------------------------------------------------

using Params = std::map<std::string, int>;

std::string params_str(const Params &p, const char *sep = " ") {
    std::string s;
    for (const auto &[k, v] : p) s += (s.empty() ? "" : sep) + k + "=" + std::to_string(v);
    return s;
}

// A JIT-compiled candidate. The generator is kept alive with its pipeline
// (the pipeline's parameters are the generator's inputs).
struct Compiled {
    Halide::Internal::AbstractGeneratorPtr gen;
    Halide::Pipeline pipeline;
    Halide::Target target;
    double compile_seconds = 0;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::unique_ptr<Compiled> compile(const Problem &problem, const Halide::Target &target,
                                  const std::optional<Params> &params) {
    auto c = std::make_unique<Compiled>();
    const auto t0 = Clock::now();
    c->gen = Halide::Internal::GeneratorRegistry::create(problem.op(), Halide::GeneratorContext(target));
    if (!c->gen) throw std::runtime_error("no generator named " + problem.op());
    for (const auto &[k, v] : problem.variant_params()) c->gen->set_generatorparam_value(k, v);
    if (params)
        for (const auto &[k, v] : *params) c->gen->set_generatorparam_value(k, std::to_string(v));
    c->pipeline = c->gen->build_pipeline();
    problem.bind(*c->gen);
    c->pipeline.compile_jit(target);
    c->target = target;
    c->compile_seconds = seconds_since(t0);
    return c;
}

double run_once(Compiled &c, Halide::Realization &out) {
    const auto t0 = Clock::now();
    c.pipeline.realize(out, c.target);
    return seconds_since(t0) * 1e3;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// Differences of a candidate's outputs from the default schedule's: the
// same algorithm, so only the order of float operations may differ.
std::string compare_outputs(const Halide::Realization &got, const Halide::Realization &want) {
    for (size_t i = 0; i < want.size(); i++) {
        Halide::Buffer<float> g = got[i], w = want[i];
        double num = 0, den = 0, max_abs = 0, max_ref = 0;
        bool bad = false;
        w.for_each_element([&](const int *pos) {
            const double a = g(pos), b = w(pos);
            if (std::isnan(a) != std::isnan(b)) bad = true;
            if (std::isnan(a) || std::isnan(b)) return;
            num += (a - b) * (a - b);
            den += b * b;
            max_abs = std::max(max_abs, std::abs(a - b));
            max_ref = std::max(max_ref, std::abs(b));
        });
        const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
        if (bad || rel > 1e-5 || max_abs > 1e-4 * std::max(max_ref, 1e-30)) {
            std::ostringstream o;
            o << "output " << i << " differs from the default schedule's: relative L2 " << rel << ", max abs "
              << max_abs << (bad ? ", NaN where the default has a value" : "");
            return o.str();
        }
    }
    return "";
}

// ---- the search -------------------------------------------------------------------------

// The default schedule: the starting point, and the last race's opponent.
struct Baseline {
    Params params;
    double median_ms = 0;
    std::unique_ptr<Compiled> compiled;
};

class Progress {
public:
    Progress(double budget) : budget_(budget), tty_(isatty(STDERR_FILENO)) {}
    void log(const std::string &line) {
        clear();
        std::cerr << line << "\n";
        draw();
    }
    void update(int tried, double best_ms, double speedup, double left) {
        tried_ = tried, best_ms_ = best_ms, speedup_ = speedup, left_ = left;
        if (tty_) draw();
        else std::cerr << bar() << "\n";
    }
    void finish() {
        clear();
        if (tty_) std::cerr << bar() << "\n";
        drawn_ = false;
    }

private:
    std::string bar() const {
        const int width = 24;
        const double frac = budget_ > 0 ? std::clamp(1.0 - left_ / budget_, 0.0, 1.0) : 1.0;
        const int fill = static_cast<int>(frac * width + 0.5);
        std::ostringstream o;
        o << "[" << std::string(fill, '#') << std::string(width - fill, '-') << "] " << tried_ << " candidates, best "
          << std::fixed << std::setprecision(3) << best_ms_ << " ms (x" << std::setprecision(3) << speedup_
          << " vs default), " << std::setprecision(0) << std::max(left_, 0.0) << " s left";
        return o.str();
    }
    void clear() {
        if (tty_ && drawn_) std::cerr << "\r\033[K";
    }
    void draw() {
        if (!tty_ || tried_ < 0) return;
        std::cerr << "\r\033[K" << bar() << std::flush;
        drawn_ = true;
    }
    double budget_, best_ms_ = 0, speedup_ = 1, left_ = 0;
    int tried_ = -1;
    bool tty_, drawn_ = false;
};

class Tuner {
public:
    Tuner(Problem &problem, Halide::Target target, double budget, Clock::time_point start)
        : problem_(problem), target_(target), budget_(budget), start_(start), progress_(budget) {}

    // Searches; or, given `only`, times just that setting against the default.
    void run(const std::optional<Params> &only) {
        const auto actual = generator_params_for_target();
        tunables_ = tunables_of(problem_.op());
        // The starting point is the generator's own default (schedules/cpu/tunables.cmake's
        // default should agree; check_tunables warns otherwise).
        Params defaults;
        for (TunableInfo &t : tunables_) {
            const int d = std::stoi(actual.at(t.name));
            if (std::find(t.candidates.begin(), t.candidates.end(), d) == t.candidates.end()) {
                t.candidates.push_back(d);
                std::sort(t.candidates.begin(), t.candidates.end());
            }
            defaults[t.name] = d;
        }

        // The default schedule: the generator with no tunable set.
        progress_.log("compiling the default schedule for " + target_.to_string() + " ...");
        baseline_.params = defaults;
        baseline_.compiled = compile(problem_, target_, std::nullopt);
        compile_estimate_ = baseline_.compiled->compile_seconds;
        reference_ = problem_.make_outputs();
        run_once(*baseline_.compiled, reference_);  // warm-up, and the reference output
        for (size_t i = 0; i < reference_.size(); i++) {
            Halide::Buffer<float> b = reference_[i];
            bool nan = false;
            b.for_each_value([&](float v) { nan = nan || std::isnan(v); });
            if (nan) throw std::runtime_error("the default schedule left NaN in output " + std::to_string(i));
        }
        baseline_.median_ms = time_candidate(*baseline_.compiled);
        if (left() < 0)
            progress_.log("the default schedule alone took " + std::to_string(int(seconds_since(start_))) +
                          " s, more than the budget: nothing else is tried");
        tried_[key(defaults)] = baseline_.median_ms;
        candidates_ = 1;
        progress_.log("default: " + params_str(defaults) + "  " + ms(baseline_.median_ms) + rate(baseline_.median_ms));
        best_ms_ = baseline_.median_ms;
        best_params_ = defaults;
        report();

        if (only) {
            Params p = defaults;
            for (const auto &[k, v] : *only) {
                if (!p.count(k)) throw UsageError("--params: '" + k + "' is not a tunable of " + problem_.op());
                p[k] = v;
            }
            std::unique_ptr<Compiled> c;
            if (auto m = evaluate(p, &c)) {
                best_params_ = p;
                best_ms_ = *m;
                best_compiled_ = std::move(c);
            }
        } else {
            coordinate_descent();
        }
        final_race();
        progress_.finish();
    }

    const Params &best_params() const { return final_params_; }
    double best_ms() const { return final_best_ms_; }
    double baseline_ms() const { return final_baseline_ms_; }
    int candidates() const { return candidates_; }
    int failed() const { return failed_; }

private:
    std::map<std::string, std::string> generator_params_for_target() {
        auto gen = Halide::Internal::GeneratorRegistry::create(problem_.op(), Halide::GeneratorContext(target_));
        if (!gen) throw std::runtime_error("no generator named " + problem_.op() + " is linked in");
        return generator_params(*gen);
    }

    static std::string key(const Params &p) { return params_str(p); }
    std::string ms(double v) const {
        std::ostringstream o;
        o << std::fixed << std::setprecision(3) << v << " ms";
        return o.str();
    }
    std::string rate(double v) const {
        if (problem_.work() <= 0 || v <= 0) return "";
        std::ostringstream o;
        o << " (" << std::fixed << std::setprecision(1) << problem_.work() / (v * 1e-3) / 1e9 << " "
          << problem_.work_unit() << ")";
        return o.str();
    }
    double left() const { return budget_ - seconds_since(start_); }

    // Runs per timing: about half a second of work, 5 to 31 runs.
    int runs_for(double ms_each) const {
        return std::clamp(static_cast<int>(500.0 / std::max(ms_each, 1e-3)), 5, 31);
    }

    double time_candidate(Compiled &c) {
        Halide::Realization out = problem_.make_outputs();
        std::vector<double> t;
        t.push_back(run_once(c, out));
        const int n = runs_for(t[0]);
        for (int i = 1; i < n; i++) t.push_back(run_once(c, out));
        return median(t);
    }

    // Interleaved runs of two compiled candidates (a, b, a, b, ...), so that
    // a noisy neighbour hurts both alike. Returns (median a, median b).
    std::pair<double, double> race(Compiled &a, Compiled &b, int runs) {
        Halide::Realization oa = problem_.make_outputs(), ob = problem_.make_outputs();
        std::vector<double> ta, tb;
        for (int i = 0; i < runs; i++) {
            ta.push_back(run_once(a, oa));
            tb.push_back(run_once(b, ob));
        }
        return {median(ta), median(tb)};
    }

    // Time the final race needs; kept in reserve during the search.
    double final_reserve() const { return 2.0 * final_runs() * std::max(best_ms_, baseline_.median_ms) * 1e-3 + 0.2; }
    int final_runs() const { return std::clamp(static_cast<int>(0.05 * budget_ / (2e-3 * baseline_.median_ms)), 5, 41); }

    bool affordable() const {
        const double need = compile_estimate_ * 1.15 + 2.0 * runs_for(best_ms_) * best_ms_ * 1e-3 + final_reserve();
        return left() > need;
    }

    // Compiles, checks and times one candidate (once per setting).
    // Returns its median, or nullopt when skipped or failed.
    std::optional<double> evaluate(const Params &p, std::unique_ptr<Compiled> *keep) {
        if (tried_.count(key(p))) return std::nullopt;
        if (!affordable()) {
            out_of_time_ = true;
            return std::nullopt;
        }
        candidates_++;
        tried_[key(p)] = -1;
        std::unique_ptr<Compiled> c;
        try {
            c = compile(problem_, target_, p);
            compile_estimate_ = std::max(compile_estimate_, c->compile_seconds);
            Halide::Realization out = problem_.make_outputs();
            run_once(*c, out);
            const std::string diff = compare_outputs(out, reference_);
            if (!diff.empty()) throw std::runtime_error(diff);
        } catch (const Halide::Error &e) {
            return fail(p, e.what());
        } catch (const std::exception &e) {
            return fail(p, e.what());
        }
        const double m = time_candidate(*c);
        tried_[key(p)] = m;
        progress_.log("  " + params_str(p) + "  " + ms(m) + rate(m));
        if (keep) *keep = std::move(c);
        return m;
    }

    std::optional<double> fail(const Params &p, std::string why) {
        failed_++;
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        std::replace(why.begin(), why.end(), '\n', ' ');
        if (why.size() > 200) why = why.substr(0, 200) + "...";
        progress_.log("  " + params_str(p) + "  failed: " + why);
        return std::nullopt;
    }

    void report() { progress_.update(candidates_, best_ms_, baseline_.median_ms / best_ms_, left()); }

    // Moves the incumbent to `p` (median `m`, compiled `c`) if an
    // interleaved race of the two confirms that `p` is faster by at least
    // kMargin (smaller differences are noise on a shared machine, and
    // accepting them lets the search drift).
    static constexpr double kMargin = 0.01;
    bool accept(const Params &p, double m, std::unique_ptr<Compiled> c) {
        if (m >= best_ms_ * (1 - kMargin)) return false;
        Compiled &incumbent = best_compiled_ ? *best_compiled_ : *baseline_.compiled;
        const int runs = std::max(5, runs_for(m) / 2);
        if (left() < 2.0 * runs * best_ms_ * 1e-3 + final_reserve()) return false;
        const auto [mc, mi] = race(*c, incumbent, runs);
        if (mc >= mi * (1 - kMargin)) {
            progress_.log("    (raced against the incumbent: " + ms(mc) + " vs " + ms(mi) + ": kept the incumbent)");
            return false;
        }
        best_ms_ = mc * (best_ms_ / mi);  // on the incumbent's scale, so later comparisons stay fair
        best_params_ = p;
        best_compiled_ = std::move(c);
        progress_.log("    new best: " + params_str(p));
        report();
        return true;
    }

    // Tries `p`; moves there if it is faster (see accept()).
    bool try_move(const Params &p) {
        std::unique_ptr<Compiled> c;
        auto m = evaluate(p, &c);
        if (!m) return false;
        report();
        return accept(p, *m, std::move(c));
    }

    int index_of(const TunableInfo &t, int v) const {
        return static_cast<int>(std::find(t.candidates.begin(), t.candidates.end(), v) - t.candidates.begin());
    }

    // Every candidate value of one tunable, the others at the incumbent's,
    // nearest values first (the list is not always ordered by effect: 0
    // may mean "derived from the target"); then the fastest is raced
    // against the incumbent.
    void line_search(const TunableInfo &t) {
        const int cur = index_of(t, best_params_[t.name]), n = static_cast<int>(t.candidates.size());
        Params best_p;
        double best_m = 0;
        std::unique_ptr<Compiled> best_c;
        for (int d = 1; d < n && !out_of_time_; d++) {
            for (int i : {cur + d, cur - d}) {
                if (i < 0 || i >= n || out_of_time_) continue;
                Params p = best_params_;
                p[t.name] = t.candidates[i];
                std::unique_ptr<Compiled> c;
                auto m = evaluate(p, &c);
                if (!m) continue;
                report();
                if (!best_c || *m < best_m) best_p = p, best_m = *m, best_c = std::move(c);
            }
        }
        if (best_c) accept(best_p, best_m, std::move(best_c));
    }

    // 1. A line search over each tunable in turn, from the default.
    // 2. Coordinate descent: per tunable, step to the neighbouring value in
    //    the direction that improves until it stops improving; repeat until
    //    a pass changes nothing.
    // 3. With time left, one step along every pair of tunables.
    // 4. Then, until the budget is spent, random untried points near the
    //    incumbent (each tunable up to two candidate values away).
    void coordinate_descent() {
        for (const TunableInfo &t : tunables_) {
            if (out_of_time_) break;
            line_search(t);
        }
        bool moved = true;
        while (moved && !out_of_time_) {
            moved = false;
            for (const TunableInfo &t : tunables_) {
                for (int dir : {+1, -1}) {
                    bool went = false;
                    while (!out_of_time_) {
                        const int i = index_of(t, best_params_[t.name]) + dir;
                        if (i < 0 || i >= static_cast<int>(t.candidates.size())) break;
                        Params p = best_params_;
                        p[t.name] = t.candidates[i];
                        if (!try_move(p)) break;
                        went = moved = true;
                    }
                    if (went) break;  // found the improving direction
                }
            }
        }
        for (size_t a = 0; a < tunables_.size() && !out_of_time_; a++) {
            for (size_t b = a + 1; b < tunables_.size() && !out_of_time_; b++) {
                for (int da : {+1, -1}) {
                    for (int db : {+1, -1}) {
                        const TunableInfo &ta = tunables_[a], &tb = tunables_[b];
                        const int ia = index_of(ta, best_params_[ta.name]) + da;
                        const int ib = index_of(tb, best_params_[tb.name]) + db;
                        if (ia < 0 || ib < 0 || ia >= int(ta.candidates.size()) || ib >= int(tb.candidates.size()))
                            continue;
                        Params p = best_params_;
                        p[ta.name] = ta.candidates[ia];
                        p[tb.name] = tb.candidates[ib];
                        try_move(p);
                    }
                }
            }
        }
        std::mt19937 rng(12345);
        std::uniform_int_distribution<int> step(-2, 2);
        for (int misses = 0; misses < 500 && !out_of_time_;) {
            Params p = best_params_;
            for (const TunableInfo &t : tunables_) {
                const int i = std::clamp(index_of(t, best_params_[t.name]) + step(rng), 0,
                                         static_cast<int>(t.candidates.size()) - 1);
                p[t.name] = t.candidates[i];
            }
            if (tried_.count(key(p))) {
                misses++;
                continue;
            }
            misses = 0;
            try_move(p);
        }
    }

    // The best against the default, interleaved: the default is kept
    // unless the best is faster in this race.
    void final_race() {
        final_params_ = baseline_.params;
        final_best_ms_ = final_baseline_ms_ = baseline_.median_ms;
        if (!best_compiled_) {
            progress_.log(out_of_time_ && candidates_ <= 1 ? "budget spent on the default schedule: nothing else tried"
                                                           : "no candidate beat the default schedule");
            return;
        }
        const auto [mb, md] = race(*best_compiled_, *baseline_.compiled, final_runs());
        progress_.log("final race, " + std::to_string(final_runs()) + " interleaved runs each: best " + ms(mb) +
                      ", default " + ms(md));
        final_baseline_ms_ = md;
        if (mb < md) {
            final_params_ = best_params_;
            final_best_ms_ = mb;
        } else {
            final_best_ms_ = md;  // the default wins: speedup 1
        }
        best_ms_ = final_best_ms_;
        baseline_.median_ms = final_baseline_ms_;
        report();
    }

    Problem &problem_;
    Halide::Target target_;
    double budget_;
    Clock::time_point start_;
    Progress progress_;
    std::vector<TunableInfo> tunables_;
    Baseline baseline_;
    Halide::Realization reference_{std::vector<Halide::Buffer<>>{Halide::Buffer<float>(1)}};
    std::map<std::string, double> tried_;
    int candidates_ = 0, failed_ = 0;
    bool out_of_time_ = false;
    double compile_estimate_ = 0, best_ms_ = 0;
    Params best_params_;
    std::unique_ptr<Compiled> best_compiled_;
    Params final_params_;
    double final_best_ms_ = 0, final_baseline_ms_ = 0;
};

// ---- the tuned file -----------------------------------------------------------------------

std::string json_str(const std::string &s) {
    std::string o = "\"";
    for (char c : s) {
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\t': o += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                o += buf;
            } else {
                o += c;
            }
        }
    }
    return o + "\"";
}

std::string json_num(double v, int precision = 4) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(precision) << v;
    return o.str();
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string m = line.substr(colon + 1);
                m.erase(0, m.find_first_not_of(" \t"));
                return m;
            }
        }
    }
    return "unknown CPU";
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

constexpr int64_t kAnyHigh = 999999999999999;  // "no upper bound" in a tuned file

struct Range {
    int64_t lo, hi;
};

// --match "name=LO..HI,..." or "any"; default: [ceil(v/2), 2v] per feature.
std::vector<Range> parse_match(const std::string &text, const std::vector<std::string> &names,
                               const std::vector<int64_t> &values) {
    std::vector<Range> r;
    for (int64_t v : values) r.push_back({(v + 1) / 2, 2 * v});
    if (text.empty()) return r;
    if (text == "any") {
        for (Range &x : r) x = {0, kAnyHigh};
        return r;
    }
    for (const std::string &item : split(text, ',')) {
        const size_t eq = item.find('='), dots = item.find("..");
        if (eq == std::string::npos || dots == std::string::npos || dots < eq)
            throw UsageError("--match: expected FEATURE=LO..HI (or 'any'), got '" + item + "'");
        const std::string name = item.substr(0, eq);
        auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
            std::string known;
            for (const auto &n : names) known += (known.empty() ? "" : ", ") + n;
            throw UsageError("--match: unknown shape feature '" + name + "' (this operator's: " + known + ")");
        }
        const std::string lo = item.substr(eq + 1, dots - eq - 1), hi = item.substr(dots + 2);
        try {
            Range x{lo.empty() ? 0 : std::stoll(lo), hi.empty() ? kAnyHigh : std::stoll(hi)};
            if (x.lo < 0 || x.hi < x.lo || x.hi > kAnyHigh) throw std::out_of_range("range");
            r[it - names.begin()] = x;
        } catch (const std::logic_error &) {
            throw UsageError("--match: bad range in '" + item + "'");
        }
    }
    return r;
}

void write_tuned_file(const std::string &path, const std::string &json) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        out << json;
        if (!out) throw std::runtime_error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write " + path);
}

bool valid_class_name(const std::string &s) {
    if (s.empty() || s.size() > 48 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

// ---- GPU -------------------------------------------------------------------------------------

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

double number_flag(const std::string &flag, const std::string &text) {
    char *end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v))
        throw UsageError("--" + flag + ": '" + text + "' is not a number");
    return v;
}

int check_all_tunables() {
    const Halide::Target host = Halide::get_host_target();
    bool ok = true;
    for (const auto &o : dcn::tunables::kOperators) {
        std::ostringstream log;
        const bool this_ok = check_tunables(o.op, host.without_feature(Halide::Target::JIT), true, log);
        std::cerr << log.str();
        std::cerr << o.op << ": " << (this_ok ? "schedules/cpu/tunables.cmake matches the generator's GeneratorParams" : "MISMATCH")
                  << "\n";
        ok = ok && this_ok;
    }
    return ok ? 0 : 1;
}

int tune(int argc, char **argv) {
    const auto start = Clock::now();
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << kUsage << problem_usage();
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--check-tunables") {
        if (args.size() != 1) throw UsageError("--check-tunables takes no other argument");
        return check_all_tunables();
    }
    const std::string op = args[0];
    std::string command = "dcn-autotune";
    for (const std::string &a : args) command += " " + a;
    Flags flags(std::vector<std::string>(args.begin() + 1, args.end()), boolean_flags());
    if (flags.take_bool("help")) {
        std::cout << kUsage << problem_usage();
        return 0;
    }
    const std::string device = flags.take_or("device", "cpu");
    if (device != "cpu" && device != "cuda" && device != "opencl")
        throw UsageError("--device: expected cpu, cuda or opencl, got '" + device + "'");

    const double budget = number_flag("budget-seconds", flags.take_or("budget-seconds", "60"));
    if (!(budget > 0)) throw UsageError("--budget-seconds must be > 0");
    const std::string out = flags.take_or("out", "");
    std::string cls = flags.take_or("class", "");
    const std::string match = flags.take_or("match", "");
    const double threads_value =
        number_flag("threads", flags.take_or("threads", std::to_string(std::max(1u, std::thread::hardware_concurrency()))));
    if (threads_value < 1 || threads_value > 1024 || threads_value != std::floor(threads_value))
        throw UsageError("--threads must be an integer in [1, 1024]");
    const int threads = static_cast<int>(threads_value);
    const std::string isa_req = flags.take_or("isa", "");
    std::optional<Params> only;
    if (flags.has("params")) {
        only = Params{};
        for (const std::string &item : split(flags.take("params"), ',')) {
            const size_t eq = item.find('=');
            if (eq == std::string::npos) throw UsageError("--params: expected NAME=VALUE,..., got '" + item + "'");
            (*only)[item.substr(0, eq)] = static_cast<int>(number_flag("params", item.substr(eq + 1)));
        }
    }
    const std::string seed_text = flags.take_or("seed", "");
    const double seed_value = seed_text.empty() ? 0.0 : number_flag("seed", seed_text);
    if (seed_value < 0 || seed_value > 4294967295.0 || seed_value != std::floor(seed_value))
        throw UsageError("--seed must be an integer in [0, 2^32)");
    const unsigned seed = seed_text.empty() ? static_cast<unsigned>(std::time(nullptr)) : static_cast<unsigned>(seed_value);
    auto problem = make_problem(op, flags);
    flags.expect_empty();
    if (device != "cpu") return gpu_request(device, op);
    if (out.empty()) throw UsageError("--out FILE.json is required");

    const auto features = problem->features();
    const auto feature_names = shape_features_of(op);
    const auto ranges = parse_match(match, feature_names, features);
    if (cls.empty()) {
        cls = "auto";
        for (int64_t v : features) cls += "_" + std::to_string(v);
    }
    if (!valid_class_name(cls)) throw UsageError("--class: '" + cls + "' must match [a-z][a-z0-9_]* (at most 48)");

    // The AOT build's CPU path for this machine (or the one asked for).
    std::optional<CpuPath> path;
    for (const CpuPath &p : aot_cpu_paths()) {
        if (!isa_req.empty() && p.isa != isa_req) continue;
        if (host_runs(Halide::Target(p.target))) {
            path = p;
            break;
        }
        if (!isa_req.empty()) throw UsageError("--isa " + isa_req + ": this CPU cannot run " + p.target);
    }
    if (!path) {
        std::string names;
        for (const CpuPath &p : aot_cpu_paths()) names += (names.empty() ? "" : ",") + p.isa;
        throw UsageError("--isa: unknown ISA '" + isa_req + "' (expected one of " + names + ")");
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

    Tuner tuner(*problem, target, budget, start);
    tuner.run(only);

    const Params &best = tuner.best_params();
    const double speedup = tuner.baseline_ms() / tuner.best_ms();
    const double elapsed = seconds_since(start);

    std::ostringstream j;
    std::string flags_text = problem->flags();
    std::string shape_line = op + " --shape " + problem->shape() + (flags_text.empty() ? "" : " " + flags_text);
    j << "{\n";
    j << "  \"//\": " << json_str("GENERATED by dcn-autotune; DO NOT EDIT. Machine: " + cpu_model() + ", " +
                                   std::to_string(std::thread::hardware_concurrency()) + " logical cores, " +
                                   std::to_string(threads) + " threads, CPU path " + path->isa + ". Date: " +
                                   utc_now() + ". Shape: " + shape_line +
                                   ". Retune: see schedules/tuned/README.md.")
      << ",\n";
    j << "  \"format\": 1,\n";
    j << "  \"operator\": " << json_str(op) << ",\n";
    j << "  \"class\": " << json_str(cls) << ",\n";
    j << "  \"isa\": " << json_str(path->isa) << ",\n";
    j << "  \"params\": {";
    {
        bool first = true;
        for (const auto &[k, v] : best) {
            j << (first ? "" : ", ") << json_str(k) << ": " << v;
            first = false;
        }
    }
    j << "},\n";
    j << "  \"applies_to\": {";
    for (size_t i = 0; i < feature_names.size(); i++)
        j << (i ? ", " : "") << json_str(feature_names[i]) << ": [" << ranges[i].lo << ", " << ranges[i].hi << "]";
    j << "},\n";
    j << "  \"tuned_on\": {\"shape\": " << json_str(problem->shape()) << ", \"flags\": " << json_str(flags_text)
      << ", \"features\": [";
    for (size_t i = 0; i < features.size(); i++) j << (i ? ", " : "") << features[i];
    j << "], \"target\": " << json_str(target.to_string()) << ", \"machine\": " << json_str(cpu_model())
      << ", \"logical_cores\": " << std::thread::hardware_concurrency() << ", \"threads\": " << threads
      << ", \"date\": " << json_str(utc_now()) << ", \"halide\": " << json_str(DCN_HALIDE_VERSION_STRING)
      << ", \"seed\": " << seed << "},\n";
    j << "  \"result\": {\"median_ms\": " << json_num(tuner.best_ms()) << ", \"baseline_ms\": "
      << json_num(tuner.baseline_ms()) << ", \"speedup\": " << json_num(speedup) << ", \"candidates\": "
      << tuner.candidates() << ", \"failed\": " << tuner.failed() << ", \"budget_seconds\": " << json_num(budget, 1)
      << ", \"elapsed_seconds\": " << json_num(elapsed, 1) << "},\n";
    j << "  \"command\": " << json_str(command) << "\n";
    j << "}\n";
    write_tuned_file(out, j.str());

    std::cerr << "wrote " << out << " (class " << cls << ", " << tuner.candidates() << " candidates in "
              << std::fixed << std::setprecision(1) << elapsed << " s)\n";
    std::cerr << "best: " << params_str(best) << std::setprecision(3) << " median_ms=" << tuner.best_ms()
              << " baseline_ms=" << tuner.baseline_ms() << " speedup=" << speedup << "\n";
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return tune(argc, argv);
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
