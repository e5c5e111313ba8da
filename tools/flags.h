// Value parsers shared by the command-line tools (dcn, dcn-autotune, the
// benchmarks). CLI11 parses the command line; these check the values of
// its string options and throw UsageError (exit status 2) with a one-line
// message naming the flag.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <dcn/dcn.h>

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
// A finite float32 value ("0.0625", "1e-3", "-2").
float parse_float(const std::string &flag, const std::string &text);
// cpu, cuda or opencl.
dcn::Device parse_device(const std::string &text);
// "[1, 2, 3]"
std::string shape_str(const std::vector<int64_t> &shape);

}  // namespace dcn_tools
