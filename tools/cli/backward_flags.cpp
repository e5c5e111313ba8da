#include "backward_flags.h"

#include "arrays.h"

namespace dcn_cli {

using dcn_tools::UsageError;

OutputPlan plan_outputs(const VerbFlags &f, const std::vector<GradFlag> &grads) {
    OutputPlan p;
    p.backward = f.has("grad-output");
    if (f.has("output")) p.outputs.push_back({"output", f.get("output")});
    std::string names;
    for (const GradFlag &g : grads) {
        names += std::string(names.empty() ? "--" : ", --") + g.flag;
        if (!f.has(g.flag)) continue;
        if (!p.backward)
            throw UsageError(std::string("--") + g.flag + " needs --grad-output (the backward pass's input)");
        if (g.needs && !f.has(g.needs))
            throw UsageError(std::string("--") + g.flag + " needs --" + g.needs);
        p.outputs.push_back({g.flag, f.get(g.flag)});
    }
    if (!p.backward && !f.has("output")) throw UsageError("--output is required (or --grad-output for the backward pass)");
    if (p.backward && p.outputs.size() == (f.has("output") ? 1u : 0u))
        throw UsageError("--grad-output: no gradient asked for (give " + names + ")");
    CallArrays::check_distinct_outputs(p.outputs);
    return p;
}

std::string grad_output_help(const std::string &shape) {
    return "gradient of the output " + shape + ": runs the backward pass, writing the --grad-* files asked for";
}

}  // namespace dcn_cli
