// libFuzzer harness: the .npy reader (tools/npy.cpp) on arbitrary bytes.
// Any input must give an Array or a std::runtime_error, never a crash, an
// out-of-bounds access or an allocation beyond what the bytes hold.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try {
        const dcn_npy::Array a = dcn_npy::parse_npy(std::string(reinterpret_cast<const char *>(data), size), "fuzz");
        // What was read is consistent with its shape.
        if (static_cast<int64_t>(a.bytes.size()) != a.numel() * static_cast<int64_t>(a.element_size())) __builtin_trap();
    } catch (const std::runtime_error &) {
    }
    return 0;
}
