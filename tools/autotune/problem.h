// One tuning problem: an operator, a shape and the operator's flags (as the
// `dcn` CLI spells them), random inputs for it, and how to bind them to a
// generator's pipeline for in-process JIT runs.
#pragma once

#include "Halide.h"

#include "flags.h"

#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace dcn::autotune {

using dcn_tools::UsageError;

class Problem {
public:
    virtual ~Problem() = default;

    // Generator name (= operator name in schedules/cpu/tunables.cmake).
    virtual std::string op() const = 0;
    // Variant GeneratorParams (with_mask=true ...), fixed by the flags.
    virtual std::map<std::string, std::string> variant_params() const = 0;
    // The shape and flags in the CLI's words, for the tuned file.
    virtual std::string shape() const = 0;
    virtual std::string flags() const = 0;
    // Values of the operator's shape features (schedules/cpu/tunables.cmake order).
    virtual std::vector<int64_t> features() const = 0;
    // One-line description for the progress output.
    virtual std::string describe() const = 0;
    // Work per call, and its unit ("GFLOP/s", "Gsamples/s"); 0 if unknown.
    virtual double work() const = 0;
    virtual const char *work_unit() const = 0;

    // Fresh random inputs (called once per tuning run).
    virtual void make_inputs(std::mt19937 &rng) = 0;
    // Binds the inputs to a built pipeline's parameters.
    virtual void bind(Halide::Internal::AbstractGenerator &g) const = 0;
    // Output buffers, poisoned with NaN.
    virtual Halide::Realization make_outputs() const = 0;
};

// Declares the operator's flags (as the `dcn` CLI spells them) on its
// subcommand.
void add_problem_flags(const std::string &op, dcn_tools::StringFlags &flags);
// Builds the problem for `op` from its parsed flags. Throws UsageError for a
// bad shape or flag.
std::unique_ptr<Problem> make_problem(const std::string &op, const dcn_tools::StringFlags &flags);

}  // namespace dcn::autotune
