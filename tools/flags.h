// Value parsers shared by the command-line tools (dcn, dcn-autotune, the
// benchmarks). CLI11 parses the command line; these check the values of
// its string options and throw UsageError (exit status 2) with a one-line
// message naming the flag.
#pragma once

#include <array>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {  // CLI11 (only flags.cpp and the tools' main files include it: it is slow to compile)
class App;
class Option;
}  // namespace CLI

namespace dcn_tools {

// A mistake in the command line: exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A decimal int ("12", "-3"); `flag` without the leading "--".
int parse_int(const std::string &flag, const std::string &text);
// "a,b,c" -> integers; the count must be one of `counts` (`forms` says which, e.g. "S or SH,SW").
std::vector<int> parse_int_list(const std::string &flag, const std::string &text, const std::vector<size_t> &counts,
                                const char *forms);
// Every value >= min.
void require_at_least(const std::string &flag, const std::vector<int> &values, int min, const std::string &text);
// An int >= min.
int parse_int_at_least(const std::string &flag, const std::string &text, int min);
// "V" or "VH,VW" (each >= min) as (h, w); `forms` as for parse_int_list, e.g. "S or SH,SW".
std::array<int, 2> parse_pair(const std::string &flag, const std::string &text, const char *forms, int min);
// A finite float32 value ("0.0625", "1e-3", "-2").
float parse_float(const std::string &flag, const std::string &text);
// "[1, 2, 3]"
std::string shape_str(const std::vector<int64_t> &shape);

// The flags of one CLI11 (sub)command, kept as strings and checked by the
// parsers above when the command runs (so every message names the flag the
// same way in every tool).
class StringFlags {
public:
    explicit StringFlags(CLI::App *app);
    // A subcommand of `parent` and its flags.
    StringFlags(CLI::App &parent, const std::string &name, const std::string &description);
    // "--name VALUE"; `required` flags must be given.
    void add(const std::string &name, const std::string &help, bool required = false);
    // "--name" without a value.
    void add_switch(const std::string &name, const std::string &help);
    bool has(const std::string &name) const;
    const std::string &get(const std::string &name) const { return values_.at(name); }
    std::string get_or(const std::string &name, const std::string &fallback) const {
        return has(name) ? get(name) : fallback;
    }
    // --repeat N (>= 1), 0 when absent.
    int repeat() const;
    // After parsing: a flag whose value is another flag ("--stride
    // --padding 1") lacks its value; anything CLI11 left over is unexpected.
    // Throws UsageError naming the flag or the arguments.
    void check_parsed() const;
    CLI::App *app() const { return app_; }
    // Whether the command (a subcommand) was given on the command line.
    bool parsed() const;
    // A line printed after the flags in --help.
    void footer(const std::string &text);

private:
    CLI::App *app_;
    std::map<std::string, std::string> values_;
    std::map<std::string, bool> switches_;
    std::map<std::string, CLI::Option *> opts_;
};

}  // namespace dcn_tools
