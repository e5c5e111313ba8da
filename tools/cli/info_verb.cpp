// dcn info: what this build has and what this machine can run (from the
// runtime; nothing is detected here).
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "verb.h"

#include <dcn/dcn.h>

namespace dcn_cli {
namespace {

std::string join(const std::vector<std::string> &v, const char *sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
}

// The CPU's name as the kernel reports it ("" when unknown).
std::string cpu_model() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const size_t first = line.find_first_not_of(' ', colon + 1);
        return first == std::string::npos ? std::string() : line.substr(first);
    }
    return "";
}

int run(const VerbFlags &) {
    const dcn::BuildInfo bi = dcn::build_info();
    std::printf("dcn version: %s\n", bi.version.c_str());
    std::printf("halide version: %s\n", bi.halide_version.c_str());
    std::printf("kernel variants: %zu\n", bi.kernels.size());
    for (const std::string &k : bi.kernels) std::printf("kernel: %s\n", k.c_str());
    for (const std::string &g : bi.gpu_gemm) std::printf("gpu gemm: %s\n", g.c_str());

    const std::vector<dcn::CpuIsa> isas = dcn::compiled_cpu_isas();
    const std::optional<dcn::CpuIsa> cap = dcn::max_cpu_isa();
    std::vector<std::string> isa_names;
    for (dcn::CpuIsa isa : isas) isa_names.push_back(dcn::cpu_isa_name(isa));
    std::printf("compiled cpu targets: %s\n", join(isa_names, " ").c_str());
    // The enum is ordered best first: a path is allowed when it is not better than the cap.
    std::optional<dcn::CpuIsa> used;
    for (size_t i = 0; i < isas.size(); ++i) {
        const bool supported = dcn::cpu_supports(isas[i]);
        const bool allowed = !cap || static_cast<int>(isas[i]) >= static_cast<int>(*cap);
        if (!used && supported && allowed) used = isas[i];
        std::string line = std::string("cpu target: ") + dcn::cpu_isa_name(isas[i]) +
                           " supported=" + (supported ? "yes" : "no");
        if (!allowed) line += " (above max cpu isa)";
        line += " halide_target=" + bi.cpu_targets[i];
        std::printf("%s\n", line.c_str());
    }
    std::printf("max cpu isa: %s\n", cap ? dcn::cpu_isa_name(*cap) : "none");
    std::printf("cpu target used: %s\n", used ? dcn::cpu_isa_name(*used) : "none");
    const std::string model = cpu_model();
    if (!model.empty()) std::printf("cpu model: %s\n", model.c_str());
    std::printf("cpu features: %s\n", join(dcn::cpu_features(), " ").c_str());
    std::printf("hardware threads: %u\n", std::thread::hardware_concurrency());
    std::printf("threads: %d\n", dcn::num_threads());
    std::vector<std::string> devices;
    for (dcn::Device d : dcn::usable_devices()) devices.push_back(dcn::device_name(d));
    std::printf("usable devices: %s\n", join(devices, " ").c_str());
    for (dcn::Device d : {dcn::Device::cuda, dcn::Device::opencl}) {
        std::string why;
        if (!dcn::device_usable(d, &why)) std::printf("device %s: not usable: %s\n", dcn::device_name(d), why.c_str());
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) throw std::runtime_error("cannot write to stdout");
    return 0;
}

}  // namespace

Verb add_info(CLI::App &app) {
    Verb v;
    v.name = "info";
    v.flags = std::make_shared<VerbFlags>(app, v.name, "version, Halide version, compiled kernels and CPU paths, the CPU features the "
                               "kernels use, threads, usable devices (and why another is not)");
    v.flags->footer("Prints 'key: value' lines. DCN_MAX_CPU_ISA caps the CPU path used.");
    v.run = run;
    return v;
}

}  // namespace dcn_cli
