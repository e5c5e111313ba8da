#include "arrays.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "flags.h"

namespace dcn_cli {
namespace {

// A view of `bytes` (or of a valid stand-in when empty) as `shape` in `dtype`.
dcn::TensorView view_of(void *bytes, const std::vector<int64_t> &shape, dcn::DType dtype) {
    static double empty[1] = {0.0};
    dcn::TensorView v;
    v.data = bytes ? bytes : empty;
    v.shape = shape;
    v.dtype = dtype;
    return v;
}

dcn::TensorView view_of(dcn_npy::Array &a) {
    return view_of(a.bytes.empty() ? nullptr : a.bytes.data(), a.shape, a.dtype);
}

// Elements of an output shape, refusing sizes that overflow.
int64_t checked_numel(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0 || (d > 0 && n > std::numeric_limits<int64_t>::max() / d))
            throw std::runtime_error("output shape " + dcn_tools::shape_str(shape) + " is too large");
        n *= d;
    }
    return n;
}

}  // namespace

dcn::Device parse_device(const std::string &text) {
    if (text == "cpu") return dcn::Device::cpu;
    if (text == "cuda") return dcn::Device::cuda;
    if (text == "opencl") return dcn::Device::opencl;
    throw dcn_tools::UsageError("--device: unknown device '" + text + "' (expected cpu, cuda or opencl)");
}

// A stand-in for data that must not be read (validation from shapes alone).
double g_unread[1];

dcn::TensorView unread_view(const std::vector<int64_t> &shape, dcn::DType dtype) {
    return view_of(g_unread, shape, dtype);
}

void CallArrays::probe(const std::string &flag, const std::string &path) {
    read(flag, path, false);
}

void CallArrays::load(const std::string &flag, int64_t max_bytes) {
    Input &in = inputs_.at(flag);
    if (in.loaded) return;
    if (max_bytes > 0) {
        int64_t bytes = static_cast<int64_t>(in.array.element_size());
        for (int64_t d : in.array.shape)
            if (__builtin_mul_overflow(bytes, d, &bytes)) bytes = INT64_MAX;
        if (bytes > max_bytes)
            throw std::runtime_error("--" + flag + " " + in.path + ": shape " + dcn_tools::shape_str(in.array.shape) +
                                     " is over the limit of " + std::to_string(max_bytes) + " bytes");
    }
    in.array = dcn_npy::read_npy(in.path);
    in.loaded = true;
}

dcn::TensorView CallArrays::unallocated(const std::vector<int64_t> &shape) const {
    return unread_view(shape, dtype_);
}

void CallArrays::read(const std::string &flag, const std::string &path) { read(flag, path, true); }

void CallArrays::read(const std::string &flag, const std::string &path, bool with_data) {
    Input in{path, with_data ? dcn_npy::read_npy(path) : dcn_npy::read_npy_header(path), with_data};
    if (inputs_.empty()) {
        first_flag_ = flag;
        dtype_ = in.array.dtype;
    } else if (in.array.dtype != dtype_) {
        const Input &first = inputs_.at(first_flag_);
        throw std::runtime_error("--" + flag + " " + path + ": dtype " + in.array.dtype_str() + ", but --" +
                                 first_flag_ + " " + first.path + " is " + first.array.dtype_str() +
                                 ": all arrays of one call must have one dtype");
    }
    inputs_[flag] = std::move(in);
}

dcn::TensorView CallArrays::view(const std::string &flag) const {
    const Input &in = inputs_.at(flag);
    if (!in.loaded) return unread_view(in.array.shape, in.array.dtype);
    return view_of(const_cast<dcn_npy::Array &>(in.array));
}

std::optional<dcn::TensorView> CallArrays::optional_view(const std::string &flag) const {
    if (!has(flag)) return std::nullopt;
    return view(flag);
}

dcn::TensorView CallArrays::output(const std::string &flag, const std::vector<int64_t> &shape) {
    const size_t n = static_cast<size_t>(std::max<int64_t>(checked_numel(shape), 1));
    dcn_npy::Array &a = outputs_[flag];
    a.shape = shape;
    a.dtype = dtype_;
    a.bytes.resize(n * a.element_size());
    // A quiet NaN of the dtype in every element.
    dcn::visit_dtype(dtype_, [&](auto t) {
        using T = decltype(t);
        std::fill_n(reinterpret_cast<T *>(a.bytes.data()), n, dcn::element_from_float<T>(std::nanf("")));
    });
    return view_of(a.bytes.data(), a.shape, a.dtype);
}

namespace {

// Where writing `path` would put the file: symbolic links followed (a link
// whose target does not exist yet too, up to a bound on the chain), the
// rest normalised lexically.
std::filesystem::path resolved_output_path(const std::string &path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path p = fs::absolute(path, ec);
    if (ec) p = path;
    for (int hops = 0; hops < 40; hops++) {
        const fs::path dir = fs::weakly_canonical(p.parent_path(), ec);
        if (!ec) p = dir / p.filename();
        if (!fs::is_symlink(fs::symlink_status(p, ec))) break;
        const fs::path target = fs::read_symlink(p, ec);
        if (ec) break;
        p = target.is_absolute() ? target : p.parent_path() / target;
    }
    return p.lexically_normal();
}

}  // namespace

void CallArrays::check_distinct_outputs(const std::vector<std::pair<std::string, std::string>> &outputs) {
    std::vector<std::filesystem::path> where;
    for (const auto &o : outputs) where.push_back(resolved_output_path(o.second));
    for (size_t i = 0; i < outputs.size(); i++)
        for (size_t j = i + 1; j < outputs.size(); j++) {
            std::error_code ec;
            const bool same = where[i] == where[j] ||
                              std::filesystem::equivalent(outputs[i].second, outputs[j].second, ec);
            if (same)
                throw dcn_tools::UsageError("--" + outputs[i].first + " and --" + outputs[j].first +
                                            " name the same file ('" + outputs[i].second + "', '" +
                                            outputs[j].second + "'): one would overwrite the other");
        }
}

void CallArrays::write(const std::string &flag, const std::string &path) {
    const dcn_npy::Array &a = outputs_.at(flag);
    const size_t n = static_cast<size_t>(checked_numel(a.shape));
    try {
        dcn_npy::write_npy(path, a.shape, a.dtype, a.bytes.data(), n);
    } catch (const std::exception &e) {
        if (written_.empty()) throw;
        std::string done;
        for (const std::string &w : written_) done += (done.empty() ? "" : ", ") + w;
        throw std::runtime_error(std::string(e.what()) + " (already written: " + done + ")");
    }
    written_.push_back("--" + flag + " " + path);
}

}  // namespace dcn_cli
