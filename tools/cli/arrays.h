// The arrays of one CLI call: .npy inputs, all of one dtype (dcn_npy's:
// float32, float64, float16, bfloat16), and the outputs, allocated in that
// dtype and written back.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <dcn/dcn.h>

#include "npy.h"

namespace dcn_cli {

// --device: cpu, cuda or opencl.
dcn::Device parse_device(const std::string &text);

class CallArrays {
public:
    // Reads `path` for flag `--flag`. The first array read sets the call's
    // dtype; a later one of another dtype is an error naming both files.
    void read(const std::string &flag, const std::string &path);
    // The same from the file's header alone (shape, dtype, size checked):
    // view() is then a view whose data must not be read (for the library's
    // *_validate), until load() reads the data. `max_bytes` > 0 refuses
    // larger arrays before any data is read.
    void probe(const std::string &flag, const std::string &path);
    void load(const std::string &flag, int64_t max_bytes = 0);
    bool has(const std::string &flag) const { return inputs_.count(flag) != 0; }
    const std::vector<int64_t> &shape(const std::string &flag) const { return inputs_.at(flag).array.shape; }
    // A read-only view (an empty array still gets a valid pointer).
    dcn::TensorView view(const std::string &flag) const;
    std::optional<dcn::TensorView> optional_view(const std::string &flag) const;
    dcn::DType dtype() const { return dtype_; }

    // A NaN-poisoned output of `shape` in the call's dtype (so an element a
    // kernel fails to write cannot look valid), written by write().
    dcn::TensorView output(const std::string &flag, const std::vector<int64_t> &shape);
    // An output view for *_validate: the shape, no storage (not to be written).
    dcn::TensorView unallocated(const std::vector<int64_t> &shape) const;
    // Writes output `flag` to `path`. If it cannot, the error also names the
    // outputs this call has already written (they stay on disk).
    void write(const std::string &flag, const std::string &path);
    // Output files (flag, path) must be different files (a usage error):
    // the same path after normalisation (./a.npy, dir/../a.npy), a symbolic
    // link to another output (followed even where its target does not exist
    // yet), or an existing file reached two ways (a hard link).
    static void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>> &outputs);

private:
    void read(const std::string &flag, const std::string &path, bool with_data);
    struct Input {
        std::string path;
        dcn_npy::Array array;
        bool loaded = true;
    };
    std::map<std::string, Input> inputs_;
    std::map<std::string, dcn_npy::Array> outputs_;
    std::vector<std::string> written_;  // "--flag path" of each output written
    std::string first_flag_;
    dcn::DType dtype_ = dcn::DType::float32;
};

}  // namespace dcn_cli
