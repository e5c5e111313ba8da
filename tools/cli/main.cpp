// `dcn`: command-line front end of the dcn kernels on .npy files (docs/cli.md
// lists the verbs and flags). Exit status: 0 on success, 2 for
// a usage error, 1 for any other error; every error is one line on stderr,
// "dcn: error: <message>". Uses only the public API.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <dcn/dcn.h>

#include "flags.h"
#include "verb.h"

namespace {

// One line: newlines in a message would break the one-line contract.
void print_error(const std::string &message) {
    std::string m = message;
    for (char &ch : m)
        if (ch == '\n' || ch == '\r') ch = ' ';
    std::fprintf(stderr, "dcn: error: %s\n", m.c_str());
    std::fflush(stderr);
}

int run(int argc, char **argv) {
    CLI::App app("Deformable convolution kernels (Halide AOT) on .npy files.", "dcn");
    app.set_version_flag("--version", "dcn " + dcn::build_info().version);
    app.require_subcommand(1);
    app.footer("'dcn <verb> --help' describes a verb's flags. Exit status: 0 success, 1 error, 2 usage error.");
    std::vector<dcn_cli::Verb> verbs{dcn_cli::add_deform_conv2d(app), dcn_cli::add_deform_psroi_pool(app),
                                     dcn_cli::add_deform_roi_pool(app), dcn_cli::add_info(app)};
    if (argc < 2) {  // no verb: the usage, as an error
        std::fprintf(stderr, "usage: dcn <verb> [flags]\n\n%s", app.help().c_str());
        return 2;
    }
    const std::string first = argv[1];
    bool known = first.rfind("-", 0) == 0;
    std::string names;
    for (const dcn_cli::Verb &v : verbs) {
        known = known || first == v.name;
        names += (names.empty() ? "" : ", ") + v.name;
    }
    if (!known) throw dcn_tools::UsageError("unknown verb '" + first + "' (expected " + names + "; see 'dcn --help')");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        print_error(e.what());
        return 2;
    }
    for (const dcn_cli::Verb &v : verbs) {
        if (!v.flags->parsed()) continue;
        v.flags->check_parsed();
        return v.run(*v.flags);
    }
    print_error("no verb given (see 'dcn --help')");
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const dcn_tools::UsageError &e) {
        print_error(e.what());
        return 2;
    } catch (const std::bad_alloc &) {
        print_error("out of memory");
        return 1;
    } catch (const std::exception &e) {
        print_error(e.what());
        return 1;
    } catch (...) {
        print_error("unexpected internal error");
        return 1;
    }
}
