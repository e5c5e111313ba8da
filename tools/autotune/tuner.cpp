// The search over a problem's tunables (see main.cpp for the strategy).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include "autotune.h"
#include "progress.h"

namespace dcn::autotune {

namespace {

// The default schedule: the starting point, and the last race's opponent.
struct Baseline {
    Params params;
    double median_ms = 0;
    std::unique_ptr<Compiled> compiled;
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

}  // namespace

TuneResult search(Problem &problem, const Halide::Target &target, double budget, Clock::time_point start,
                  const std::optional<Params> &only) {
    Tuner tuner(problem, target, budget, start);
    tuner.run(only);
    return TuneResult{tuner.best_params(), tuner.best_ms(), tuner.baseline_ms(), tuner.candidates(), tuner.failed()};
}

}  // namespace dcn::autotune
