// dcn_npy: read and write NumPy .npy files holding little-endian floating
// arrays in C order, one per dcn::DType: '<f4' float32, '<f8' float64,
// '<f2' float16, and '<V2' bfloat16 (what numpy.save writes for an
// ml_dtypes.bfloat16 array: numpy has no bfloat16 of its own; read one back
// with np.load(path).view(ml_dtypes.bfloat16)).
//
// Reading accepts format versions 1.0, 2.0 and 3.0. Anything else (another
// dtype, fortran_order True) is rejected with a one-line
// std::runtime_error naming the file and what was found, e.g.
//   "x.npy: dtype '<i4' (int32), expected '<f4' (float32), '<f8' (float64), ..."
// Writing always produces version 1.0 with the header padded to a multiple
// of 64 bytes, exactly as numpy.save does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <dcn/dcn.h>

namespace dcn_npy {

// The .npy descr of a dtype: "<f4", "<f8", "<f2", "<V2".
const char *npy_descr(dcn::DType t);

struct Array {
    std::vector<int64_t> shape;  // () for a scalar, (n,) for 1-D
    dcn::DType dtype = dcn::DType::float32;
    std::vector<unsigned char> bytes;  // C order, host byte order; numel() * element_size() bytes

    int64_t numel() const;
    size_t element_size() const { return dcn::dtype_size(dtype); }
    // "'<f4' (float32)", "'<V2' (bfloat16)", ...
    std::string dtype_str() const;
    // The elements as T (nullptr when T is not the array's type).
    template <typename T>
    T *data_as() {
        return dcn::dtype_of<T>::value == dtype ? reinterpret_cast<T *>(bytes.data()) : nullptr;
    }
    template <typename T>
    const T *data_as() const {
        return dcn::dtype_of<T>::value == dtype ? reinterpret_cast<const T *>(bytes.data()) : nullptr;
    }
    // Every element converted to double (exactly: every dtype is a subset).
    std::vector<double> values() const;
    // A copy of the elements as T (empty when T is not the array's type).
    template <typename T>
    std::vector<T> to_vector() const {
        const T *p = data_as<T>();
        return p ? std::vector<T>(p, p + bytes.size() / sizeof(T)) : std::vector<T>();
    }
    // An array of `shape` holding `values` (whose type gives the dtype).
    template <typename T>
    static Array of(std::vector<int64_t> shape, const std::vector<T> &values) {
        Array a;
        a.shape = std::move(shape);
        a.dtype = dcn::dtype_of<T>::value;
        a.bytes.resize(values.size() * sizeof(T));
        if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
        return a;
    }
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

// Writes a .npy file (version 1.0, the dtype's descr, C order). Throws
// std::runtime_error("<path>: <problem>") when the data does not match the
// shape or the file cannot be written.
void write_npy(const std::string &path, const Array &array);
void write_npy(const std::string &path, const std::vector<int64_t> &shape, dcn::DType dtype, const void *data,
               size_t count);
template <typename T>
void write_npy(const std::string &path, const std::vector<int64_t> &shape, const T *data, size_t count) {
    write_npy(path, shape, dcn::dtype_of<T>::value, static_cast<const void *>(data), count);
}
// An empty float32 array (count 0).
inline void write_npy(const std::string &path, const std::vector<int64_t> &shape, std::nullptr_t, size_t count) {
    write_npy(path, shape, dcn::DType::float32, nullptr, count);
}

}  // namespace dcn_npy
