#include <sstream>

#include "dcn_build_config.h"
#include "internal.h"

namespace dcn {
namespace {

std::vector<std::string> split_list(const std::string &s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ';'))
        if (!item.empty()) out.push_back(item);
    return out;
}

}  // namespace

BuildInfo build_info() {
    BuildInfo b;
    b.version = DCN_VERSION_STRING;
    b.halide_version = DCN_HALIDE_VERSION_STRING;
    b.kernels = split_list(DCN_KERNELS_STRING);
    b.cpu_targets = split_list(DCN_CPU_TARGETS_STRING);
    return b;
}

}  // namespace dcn
