// The CPU paths in the tests: every path the build compiled (the registry's
// list, through dcn::compiled_cpu_isas), forced one by one; a path this CPU
// cannot run is a skip with its reason. And the fixture that resets the
// library's process-wide settings around each test.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <dcn/dcn.h>

namespace dcn_test {

// Every compiled CPU path, best first.
inline std::vector<dcn::CpuIsa> all_cpu_paths() { return dcn::compiled_cpu_isas(); }

// A path's name, for test names and traces.
inline const char *isa_label(dcn::CpuIsa isa) { return dcn::cpu_isa_name(isa); }

// Empty when the path can run here, else why not.
inline std::string why_unusable(dcn::CpuIsa isa) {
    const std::vector<dcn::CpuIsa> v = dcn::compiled_cpu_isas();
    if (std::find(v.begin(), v.end(), isa) == v.end())
        return std::string("CPU path ") + isa_label(isa) + " is not compiled into this build";
    if (!dcn::cpu_supports(isa)) return std::string("this CPU does not support the ") + isa_label(isa) + " path";
    return {};
}

// Empty when a call of (op, direction, dtype) capped at `isa` runs that
// path's own kernel here; else why a case of it on `isa` is skipped: the
// path cannot run here, or it has no such kernel (a path may exist for
// some kernels only; the next path down would run, tested on its own).
inline std::string why_not_own(dcn::CpuIsa isa, const std::string &op, const std::vector<std::string> &directions,
                               dcn::DType dtype) {
    std::string why = why_unusable(isa);
    if (!why.empty()) return why;
    for (const std::string &d : directions)
        if (dcn::cpu_path_for(op, d, dtype, isa) != isa)
            return std::string("the ") + isa_label(isa) + " path has no " + op + " " + d + " kernel in " +
                   dcn::dtype_name(dtype) + " (the next path's runs, tested there)";
    return {};
}

inline std::vector<dcn::CpuIsa> usable_isas() {
    std::vector<dcn::CpuIsa> r;
    for (dcn::CpuIsa isa : dcn::compiled_cpu_isas())
        if (dcn::cpu_supports(isa)) r.push_back(isa);
    return r;
}

// Resets the library's process-wide settings (CPU path cap, threads) around every test.
class DcnTest : public ::testing::Test {
protected:
    void SetUp() override {
        dcn::set_max_cpu_isa(std::nullopt);
        dcn::set_num_threads(0);
    }
    void TearDown() override {
        dcn::set_max_cpu_isa(std::nullopt);
        dcn::set_num_threads(0);
    }
};

}  // namespace dcn_test
