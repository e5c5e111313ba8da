// Running the `dcn` CLI from the tests: per-test scratch folders, files,
// the run itself (stdout / stderr / exit code), and the error-contract
// checks (exit code, exactly one "dcn: error: ..." line). Header-only; the
// build defines DCN_CLI_PATH and DCN_TEST_TMPDIR.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef DCN_CLI_PATH
#error "DCN_CLI_PATH must name the dcn binary"
#endif
#ifndef DCN_TEST_TMPDIR
#error "DCN_TEST_TMPDIR must name a scratch directory"
#endif

namespace dcn_test {

// A per-test scratch directory: DCN_TEST_TMPDIR/<suite>.<test>.<pid>.
inline std::string scratch_dir() {
    const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    for (char &c : name)
        if (c == '/') c = '_';
    const std::filesystem::path dir =
        std::filesystem::path(DCN_TEST_TMPDIR) / (name + "." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir.string();
}

inline std::string path_in(const std::string &dir, const std::string &file) {
    return (std::filesystem::path(dir) / file).string();
}

inline std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

inline void write_file(const std::string &path, const std::string &bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(f.good()) << "cannot write " << path;
}

inline std::vector<std::string> split_lines(const std::string &text) {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream s(text);
    while (std::getline(s, line)) lines.push_back(line);
    return lines;
}

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string> &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

inline std::string shell_quote(const std::string &s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

struct CliResult {
    int exit_code = -1;  // -1: did not exit normally (crashed)
    std::string out, err;
    std::vector<std::string> err_lines;
    std::string command;
};

// Runs `dcn args...` with stdin from /dev/null; stdout and stderr go to files
// in `dir`. `shell_prefix` runs first in the same shell (e.g. "ulimit -v N; ").
inline CliResult run_cli(const std::vector<std::string> &args, const std::string &dir,
                         const std::string &shell_prefix = "") {
    static int counter = 0;
    const std::string tag = std::to_string(++counter);
    const std::string out_path = path_in(dir, "stdout." + tag + ".txt");
    const std::string err_path = path_in(dir, "stderr." + tag + ".txt");
    std::string cmd = shell_quote(DCN_CLI_PATH);
    for (const std::string &a : args) cmd += " " + shell_quote(a);
    cmd = shell_prefix + cmd;
    CliResult r;
    r.command = cmd;
    cmd += " </dev/null >" + shell_quote(out_path) + " 2>" + shell_quote(err_path);
    const int status = std::system(cmd.c_str());
    if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.out = read_file(out_path);
    r.err = read_file(err_path);
    r.err_lines = split_lines(r.err);
    return r;
}

inline std::string describe(const CliResult &r) {
    return "command: " + r.command + "\nexit code: " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out +
           "\nstderr:\n" + r.err;
}

// A failure: the given exit code (any non-zero one when exit_code < 0),
// exactly one line on stderr starting with "dcn: error: ", containing every
// string in `mentions`.
inline ::testing::AssertionResult fails_with(const CliResult &r, int exit_code,
                                             const std::vector<std::string> &mentions = {}) {
    if (exit_code < 0 ? r.exit_code <= 0 : r.exit_code != exit_code)
        return ::testing::AssertionFailure() << "expected exit code "
                                             << (exit_code < 0 ? std::string("!= 0") : std::to_string(exit_code))
                                             << "\n"
                                             << describe(r);
    if (r.err_lines.size() != 1 || r.err.empty() || r.err.back() != '\n')
        return ::testing::AssertionFailure() << "expected exactly one line on stderr\n" << describe(r);
    if (r.err_lines[0].rfind("dcn: error: ", 0) != 0)
        return ::testing::AssertionFailure() << "stderr does not start with 'dcn: error: '\n" << describe(r);
    for (const std::string &m : mentions)
        if (r.err_lines[0].find(m) == std::string::npos)
            return ::testing::AssertionFailure() << "error message does not mention '" << m << "'\n" << describe(r);
    return ::testing::AssertionSuccess();
}

// Any failure, for inputs whose exact category is an implementation choice:
// a non-zero exit (not a crash) and one "dcn: error:" line.
inline ::testing::AssertionResult fails_cleanly(const CliResult &r) {
    if (r.exit_code <= 0) return ::testing::AssertionFailure() << "expected a non-zero exit\n" << describe(r);
    return fails_with(r, r.exit_code);
}

// A .npy file's bytes: version `major` (1: 2-byte header length, else 4),
// the header dict padded as numpy does, then `data`.
inline std::string npy_bytes(int major, const std::string &dict, const std::string &data) {
    const size_t prefix = major == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out = std::string("\x93NUMPY", 6);
    out += static_cast<char>(major);
    out += '\0';
    for (size_t b = 0; b < prefix - 8; ++b) out += static_cast<char>((header.size() >> (8 * b)) & 0xff);
    return out + header + data;
}
inline std::string npy_bytes(const std::string &dict, const std::string &data) { return npy_bytes(1, dict, data); }

template <typename T>
std::string raw_bytes(const std::vector<T> &v) {
    return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
}
inline std::string float_bytes(const std::vector<float> &v) { return raw_bytes(v); }
inline std::string double_bytes(const std::vector<double> &v) { return raw_bytes(v); }

}  // namespace dcn_test
