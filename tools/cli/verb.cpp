#include "verb.h"

#include "flags.h"

namespace dcn_cli {

VerbFlags::VerbFlags(CLI::App *app) : app_(app) {
    // Left-over arguments are reported by check_parsed(), with the verb.
    app_->allow_extras();
}

void VerbFlags::add(const std::string &name, const std::string &help, bool required) {
    CLI::Option *o = app_->add_option("--" + name, values_[name], help);
    o->type_name("VALUE");
    o->required(required);
    opts_[name] = o;
}

void VerbFlags::check_parsed() const {
    for (const auto &[name, value] : values_)
        if (has(name) && value.rfind("--", 0) == 0)
            throw dcn_tools::UsageError("flag --" + name + " needs a value, got '" + value + "' (see 'dcn " +
                                        app_->get_name() + " --help')");
    const std::vector<std::string> rest = app_->remaining();
    if (!rest.empty()) {
        std::string list;
        for (const std::string &r : rest) list += (list.empty() ? "" : " ") + r;
        throw dcn_tools::UsageError("unexpected argument(s) for " + app_->get_name() + ": " + list + " (see 'dcn " +
                                    app_->get_name() + " --help')");
    }
}

int VerbFlags::repeat() const {
    if (!has("repeat")) return 0;
    const int repeat = dcn_tools::parse_int("repeat", get("repeat"));
    dcn_tools::require_at_least("repeat", {repeat}, 1, get("repeat"));
    return repeat;
}

}  // namespace dcn_cli
