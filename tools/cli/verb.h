// One verb of the `dcn` CLI: a CLI11 subcommand whose flags are strings
// (checked by tools/flags.h's parsers when it runs), and what it runs.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace dcn_cli {

class VerbFlags {
public:
    explicit VerbFlags(CLI::App *app);
    // "--name VALUE"; `required` flags must be given.
    void add(const std::string &name, const std::string &help, bool required = false);
    bool has(const std::string &name) const { return opts_.at(name)->count() > 0; }
    const std::string &get(const std::string &name) const { return values_.at(name); }
    // --repeat N (>= 1), 0 when absent.
    int repeat() const;
    // After parsing: a flag whose value is another flag ("--stride
    // --padding 1") lacks its value; anything CLI11 left over is unexpected.
    // Throws UsageError naming the flag or the arguments.
    void check_parsed() const;

private:
    CLI::App *app_;
    std::map<std::string, std::string> values_;
    std::map<std::string, CLI::Option *> opts_;
};

struct Verb {
    CLI::App *app = nullptr;
    std::shared_ptr<VerbFlags> flags;
    std::function<int(const VerbFlags &)> run;
};

Verb add_deform_conv2d(CLI::App &app);
Verb add_deform_psroi_pool(CLI::App &app);
Verb add_deform_roi_pool(CLI::App &app);
Verb add_info(CLI::App &app);

}  // namespace dcn_cli
