// Compiling, running and checking one candidate setting.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "autotune.h"

namespace dcn::autotune {

// ---- measurement ----------------------------------------------------------------------

std::string params_str(const Params &p, const char *sep) {
    std::string s;
    for (const auto &[k, v] : p) s += (s.empty() ? "" : sep) + k + "=" + std::to_string(v);
    return s;
}

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

}  // namespace dcn::autotune
