// libFuzzer harness: the CLI's argument parsing. The bytes are split at
// NUL into argv; the real verbs' flags (tools/cli) are parsed by CLI11 and
// checked as the CLI checks them (check_parsed), and every token goes
// through the shared value parsers (tools/flags). Nothing runs a verb (no
// file is read or written). Any input must parse or throw a usage error.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "flags.h"
#include "verb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::vector<std::string> tokens{"dcn"};
    std::string cur;
    for (size_t i = 0; i < size && tokens.size() < 64; i++) {
        if (data[i] == 0) {
            tokens.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(data[i]);
        }
    }
    tokens.push_back(cur);
    std::vector<char *> argv;
    for (std::string &t : tokens) argv.push_back(t.data());

    CLI::App app("fuzz", "dcn");
    app.require_subcommand(1);
    std::vector<dcn_cli::Verb> verbs{dcn_cli::add_deform_conv2d(app), dcn_cli::add_deform_psroi_pool(app),
                                     dcn_cli::add_deform_roi_pool(app), dcn_cli::add_info(app)};
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
        for (const dcn_cli::Verb &v : verbs)
            if (v.flags->parsed()) v.flags->check_parsed();
    } catch (const CLI::Error &) {
    } catch (const dcn_tools::UsageError &) {
    }
    for (size_t i = 1; i < tokens.size(); i++) {
        try {
            dcn_tools::parse_int("fuzz", tokens[i]);
        } catch (const dcn_tools::UsageError &) {
        }
        try {
            dcn_tools::parse_int_list("fuzz", tokens[i], {1, 2, 4}, "P, PH,PW or T,L,B,R");
        } catch (const dcn_tools::UsageError &) {
        }
        try {
            dcn_tools::parse_float("fuzz", tokens[i]);
        } catch (const dcn_tools::UsageError &) {
        }
    }
    return 0;
}
