// The tunables as the generators linked into dcn-autotune have them,
// checked against schedules/cpu/tunables.cmake (dcn_tunables.h).
#include <iostream>
#include <set>
#include <sstream>

#include "autotune.h"
#include "dcn_tunables.h"

namespace dcn::autotune {

using Halide::Internal::AbstractGenerator;
using Halide::Internal::GeneratorBase;
using Halide::Internal::GeneratorParamBase;
using Halide::Internal::GeneratorParamInfo;

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
    // The element type and its compute type are an axis of the registry
    // (cmake/DcnRegistry.cmake) that the build sets, never tuned; the tuner
    // tunes float32.
    std::set<std::string> known{"dtype", "accum"};
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

}  // namespace dcn::autotune
