// One tuning problem: an operator, a shape and the operator's flags (as the
// `dcn` CLI spells them), random inputs for it, and how to bind them to a
// generator's pipeline for in-process JIT runs.
#pragma once

#include "Halide.h"

#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace dcn::autotune {

// A mistake on the command line (exit status 2).
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The command line after the operator: "--flag value" pairs and boolean
// flags. Each problem takes what it knows; anything left is an error.
class Flags {
public:
    Flags(const std::vector<std::string> &args, const std::vector<std::string> &boolean_flags);
    bool has(const std::string &name) const { return values_.count(name) != 0; }
    // Removes and returns the flag's value ("" for a boolean flag).
    std::string take(const std::string &name);
    std::string take_or(const std::string &name, const std::string &fallback);
    bool take_bool(const std::string &name);
    // Throws UsageError naming the first flag nobody took.
    void expect_empty() const;

private:
    std::map<std::string, std::string> values_;
};

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

// Builds the problem for `op` from the flags (consumes them). Throws
// UsageError for a bad shape or flag.
std::unique_ptr<Problem> make_problem(const std::string &op, Flags &flags);

// The operators and their flag help, for the usage text.
std::string problem_usage();

// Boolean (valueless) flags of every operator.
std::vector<std::string> boolean_flags();

}  // namespace dcn::autotune
