// One verb of the `dcn` CLI: a CLI11 subcommand whose flags are strings
// (tools/flags.h: checked by the shared parsers when it runs), and what it runs.
#pragma once

#include "flags.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace dcn_cli {

using VerbFlags = dcn_tools::StringFlags;

struct Verb {
    std::string name;
    std::shared_ptr<VerbFlags> flags;  // a subcommand of the dcn app
    std::function<int(const VerbFlags &)> run;
};

Verb add_deform_conv2d(CLI::App &app);
Verb add_deform_psroi_pool(CLI::App &app);
Verb add_deform_roi_pool(CLI::App &app);
Verb add_info(CLI::App &app);

}  // namespace dcn_cli
