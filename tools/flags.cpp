#include "flags.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace dcn_tools {

int parse_int(const std::string &flag, const std::string &text) {
    const char *s = text.c_str();
    const bool starts_ok = (*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9');
    if (!starts_ok) throw UsageError("--" + flag + ": '" + text + "' is not an integer");
    errno = 0;
    char *end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (*end != '\0') throw UsageError("--" + flag + ": '" + text + "' is not an integer");
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX) {
        throw UsageError("--" + flag + ": '" + text + "' is out of range");
    }
    return static_cast<int>(v);
}

// "a,b,c" -> integers; the count must be one of `counts`.
std::vector<int> parse_int_list(const std::string &flag, const std::string &text,
                                const std::vector<size_t> &counts, const char *forms) {
    std::vector<int> out;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string piece =
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        try {
            out.push_back(parse_int(flag, piece));
        } catch (const UsageError &) {
            if (piece == text) throw;
            throw UsageError("--" + flag + ": '" + text + "' must be " + forms + " (integers)");
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (std::find(counts.begin(), counts.end(), out.size()) == counts.end()) {
        throw UsageError("--" + flag + ": '" + text + "' must be " + forms);
    }
    return out;
}

void require_at_least(const std::string &flag, const std::vector<int> &values, int min, const std::string &text) {
    for (int v : values) {
        if (v < min) {
            throw UsageError("--" + flag + ": '" + text + "': each value must be >= " + std::to_string(min));
        }
    }
}

// A finite float32 value ("0.0625", "1e-3", "-2").
float parse_float(const std::string &flag, const std::string &text) {
    const char *s = text.c_str();
    const bool starts_ok = (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+';
    errno = 0;
    char *end = nullptr;
    const double v = starts_ok ? std::strtod(s, &end) : 0.0;
    if (!starts_ok || end == s || *end != '\0' || !std::isfinite(v)) {
        throw UsageError("--" + flag + ": '" + text + "' is not a finite number");
    }
    if (errno == ERANGE && std::fabs(v) > 1.0) throw UsageError("--" + flag + ": '" + text + "' is out of range");
    if (std::fabs(v) > FLT_MAX) throw UsageError("--" + flag + ": '" + text + "' is out of range for float32");
    return static_cast<float>(v);
}


int parse_int_at_least(const std::string &flag, const std::string &text, int min) {
    const int v = parse_int(flag, text);
    require_at_least(flag, {v}, min, text);
    return v;
}

std::array<int, 2> parse_pair(const std::string &flag, const std::string &text, const char *forms, int min) {
    const std::vector<int> v = parse_int_list(flag, text, {1, 2}, forms);
    require_at_least(flag, v, min, text);
    return v.size() == 1 ? std::array<int, 2>{v[0], v[0]} : std::array<int, 2>{v[0], v[1]};
}

std::string shape_str(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

StringFlags::StringFlags(CLI::App *app) : app_(app) {
    // Left-over arguments are reported by check_parsed(), naming the command.
    app_->allow_extras();
}

StringFlags::StringFlags(CLI::App &parent, const std::string &name, const std::string &description)
    : StringFlags(parent.add_subcommand(name, description)) {}

bool StringFlags::parsed() const { return app_->parsed(); }

void StringFlags::footer(const std::string &text) { app_->footer(text); }

void StringFlags::add(const std::string &name, const std::string &help, bool required) {
    CLI::Option *o = app_->add_option("--" + name, values_[name], help);
    o->type_name("VALUE");
    o->required(required);
    opts_[name] = o;
}

void StringFlags::add_switch(const std::string &name, const std::string &help) {
    opts_[name] = app_->add_flag("--" + name, switches_[name], help);
}

bool StringFlags::has(const std::string &name) const { return opts_.at(name)->count() > 0; }

void StringFlags::check_parsed() const {
    for (const auto &[name, value] : values_)
        if (has(name) && value.rfind("--", 0) == 0)
            throw UsageError("flag --" + name + " needs a value, got '" + value + "' (see '" + app_->get_name() +
                             " --help')");
    const std::vector<std::string> rest = app_->remaining();
    if (!rest.empty()) {
        std::string list;
        for (const std::string &r : rest) list += (list.empty() ? "" : " ") + r;
        throw UsageError("unexpected argument(s) for " + app_->get_name() + ": " + list + " (see '" +
                         app_->get_name() + " --help')");
    }
}

int StringFlags::repeat() const {
    if (!has("repeat")) return 0;
    const int repeat = parse_int("repeat", get("repeat"));
    require_at_least("repeat", {repeat}, 1, get("repeat"));
    return repeat;
}

}  // namespace dcn_tools
