// Checking a dcn::Error against what it must say: the argument it names,
// the function, the one-line "<function>: <argument>: <problem>" form, and
// the values the problem must mention (shapes, numbers, words).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <dcn/dcn.h>

namespace dcn_test {

// Whether `text` contains `number` as a whole token (not as part of a longer
// number: "3" is not found in "36" or "-3", "-1" is found in "got -1").
inline bool contains_number(const std::string &text, int64_t number) {
    const std::string n = std::to_string(number);
    for (size_t pos = text.find(n); pos != std::string::npos; pos = text.find(n, pos + 1)) {
        const bool left_ok =
            pos == 0 || !(std::isdigit(static_cast<unsigned char>(text[pos - 1])) ||
                          (number >= 0 && text[pos - 1] == '-') || text[pos - 1] == '.');
        const size_t end = pos + n.size();
        const bool right_ok =
            end >= text.size() || !(std::isdigit(static_cast<unsigned char>(text[end])) ||
                                    (text[end] == '.' && end + 1 < text.size() &&
                                     std::isdigit(static_cast<unsigned char>(text[end + 1]))));
        if (left_ok && right_ok) return true;
    }
    return false;
}

inline bool contains_ci(std::string text, std::string part) {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        return s;
    };
    return lower(std::move(text)).find(lower(std::move(part))) != std::string::npos;
}

// What a dcn::Error must say.
struct Expect {
    std::vector<std::string> arguments;  // accepted argument names (usually exactly one)
    std::vector<std::string> texts = {};    // substrings of what(), e.g. shapes "[1, 36, 6, 7]"
    std::vector<int64_t> numbers = {};      // whole-number tokens in what()
    std::vector<std::string> texts_ci = {};  // case-insensitive substrings
    std::string function = "deform_conv2d";
    // function() may be longer (deform_psroi_pool_output_shape for "deform_psroi_pool").
    bool function_prefix = false;
};

inline ::testing::AssertionResult check_error(const std::function<void()> &call, const Expect &x) {
    try {
        call();
    } catch (const dcn::Error &e) {
        const std::string what = e.what();
        std::vector<std::string> problems;
        if (std::find(x.arguments.begin(), x.arguments.end(), e.argument()) == x.arguments.end()) {
            std::string names;
            for (const auto &a : x.arguments) names += (names.empty() ? "\"" : " or \"") + a + "\"";
            problems.push_back("argument() is \"" + e.argument() + "\", expected " + names);
        }
        const bool function_ok =
            x.function_prefix ? e.function().rfind(x.function, 0) == 0 : e.function() == x.function;
        if (!x.function.empty() && !function_ok)
            problems.push_back("function() is \"" + e.function() + "\", expected \"" + x.function +
                               "\"");
        const std::string prefix = e.function() + ": " + e.argument() + ": ";
        if (what.rfind(prefix, 0) != 0)
            problems.push_back("what() does not start with \"" + prefix + "\"");
        if (what.find('\n') != std::string::npos) problems.push_back("what() is not one line");
        if (what != prefix + e.detail())
            problems.push_back("what() is not \"<function>: <argument>: \" + detail()");
        for (const auto &t : x.texts)
            if (what.find(t) == std::string::npos) problems.push_back("what() lacks \"" + t + "\"");
        for (const auto &t : x.texts_ci)
            if (!contains_ci(what, t))
                problems.push_back("what() lacks \"" + t + "\" (any case)");
        for (int64_t v : x.numbers)
            if (!contains_number(what, v))
                problems.push_back("what() lacks the number " + std::to_string(v));
        if (problems.empty()) return ::testing::AssertionSuccess();
        auto r = ::testing::AssertionFailure() << "dcn::Error what() = \"" << what << "\"";
        for (const auto &p : problems) r << "\n  " << p;
        return r;
    } catch (const std::exception &e) {
        return ::testing::AssertionFailure()
               << "threw a std::exception that is not dcn::Error: " << e.what();
    } catch (...) {
        return ::testing::AssertionFailure() << "threw something that is not a std::exception";
    }
    return ::testing::AssertionFailure() << "did not throw";
}


}  // namespace dcn_test
