// dcn_npy: read and write NumPy .npy files holding little-endian float32 or
// float64 arrays in C order, the kinds the dcn tools use.
//
// Reading accepts format versions 1.0, 2.0 and 3.0. Anything other than
// dtype '<f4' or '<f8' with fortran_order False is rejected with a one-line
// std::runtime_error naming the file and what was found, e.g.
//   "x.npy: dtype '<i4' (int32), expected '<f4' (float32) or '<f8' (float64)"
// Writing always produces version 1.0 with the header padded to a multiple
// of 64 bytes, exactly as numpy.save does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dcn_npy {

struct Array {
    std::vector<int64_t> shape;   // () for a scalar, (n,) for 1-D
    std::vector<float> data;      // '<f4': C order; size == product of shape
    std::vector<double> data64;   // '<f8': C order; size == product of shape
    bool f64 = false;             // '<f8' (data64) or '<f4' (data)

    int64_t numel() const;
    size_t element_size() const { return f64 ? sizeof(double) : sizeof(float); }
    // "'<f4' (float32)" or "'<f8' (float64)"
    const char *dtype_str() const { return f64 ? "'<f8' (float64)" : "'<f4' (float32)"; }
};

// "1x3x4x4"; "()" for a scalar (rank 0).
std::string shape_string(const std::vector<int64_t> &shape);

// Reads a .npy file. Throws std::runtime_error("<path>: <problem>").
Array read_npy(const std::string &path);

// Reads and checks a .npy file's header only (shape, dtype, and that the
// file holds exactly that much data): data and data64 stay empty.
Array read_npy_header(const std::string &path);

// Parses the bytes of a .npy file already in memory; `name` is used in error
// messages only.
Array parse_npy(const std::string &bytes, const std::string &name);

// Writes a .npy file (version 1.0, '<f4' or '<f8' by the element type, C order). Throws
// std::runtime_error("<path>: <problem>") when data.size() does not match
// the shape or the file cannot be written.
void write_npy(const std::string &path, const Array &array);
void write_npy(const std::string &path, const std::vector<int64_t> &shape, const float *data,
               size_t count);
void write_npy(const std::string &path, const std::vector<int64_t> &shape, const double *data,
               size_t count);
// An empty float32 array (count 0).
inline void write_npy(const std::string &path, const std::vector<int64_t> &shape, std::nullptr_t, size_t count) {
    write_npy(path, shape, static_cast<const float *>(nullptr), count);
}

}  // namespace dcn_npy
