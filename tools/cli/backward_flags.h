// The forward / backward choice shared by the verbs: --grad-output runs the
// backward pass, writing the gradients asked for by the --grad-* flags (at
// least one); --output then also runs the forward pass (optional). Without
// --grad-output, --output is required.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "verb.h"

namespace dcn_cli {

// A gradient flag of a verb and the input flag it needs (nullptr: none;
// e.g. --grad-mask needs --mask).
struct GradFlag {
    const char *flag;
    const char *needs;
};

struct OutputPlan {
    bool backward = false;
    // Every file the call writes: (flag, path), --output first.
    std::vector<std::pair<std::string, std::string>> outputs;
};

// Checks the flags (usage errors, before any file is touched) and returns
// the plan; two outputs writing one file are refused.
OutputPlan plan_outputs(const VerbFlags &f, const std::vector<GradFlag> &grads);

// Help text of the --grad-output flag of a verb.
std::string grad_output_help(const std::string &shape);

}  // namespace dcn_cli
