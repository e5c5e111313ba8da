#include <limits>
#include <sstream>

#include "internal.h"

namespace dcn::detail {

std::string shape_str(const std::vector<int64_t> &shape) {
    std::ostringstream s;
    s << '[';
    for (size_t i = 0; i < shape.size(); i++) s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

HalideView::HalideView(const TensorView &t) {
    const std::vector<int64_t> strides = t.effective_strides();
    const int r = t.rank();
    if (r > kMaxRank) throw Error("dcn", "tensor", "internal error: rank " + std::to_string(r) + " view");
    for (int i = 0; i < r; i++) {
        dims[i].min = 0;
        dims[i].extent = static_cast<int32_t>(t.shape[r - 1 - i]);
        dims[i].stride = static_cast<int32_t>(strides[r - 1 - i]);
        dims[i].flags = 0;
    }
    buf.host = reinterpret_cast<uint8_t *>(t.data);
    buf.type = halide_type_t(t.dtype == DType::bfloat16 ? halide_type_bfloat : halide_type_float,
                             static_cast<uint8_t>(8 * dtype_size(t.dtype)), 1);
    buf.dimensions = r;
    buf.dim = dims;
}

HalideView::HalideView(const HalideView &other) : buf(other.buf) {
    for (int i = 0; i < kMaxRank; i++) dims[i] = other.dims[i];
    buf.dim = dims;
}

void check_tensor(const char *function, const char *argument, const TensorView &t, int rank,
                  const char *layout, Device device) {
    // Host memory always works; device memory only for a CUDA call on CUDA.
    if (t.device != Device::cpu && !(t.device == Device::cuda && device == Device::cuda)) {
        throw Error(function, argument,
                    std::string("a tensor in '") + device_name(t.device) + "' memory cannot be used by a '" +
                        device_name(device) + "' call (" +
                        (device == Device::cuda ? "use host or CUDA device memory" : "use host memory") + ")");
    }
    if (t.rank() != rank) {
        throw Error(function, argument,
                    "expected a " + std::to_string(rank) + "-D tensor " + layout + ", got a " +
                        std::to_string(t.rank()) + "-D tensor of shape " + shape_str(t.shape));
    }
    for (int64_t s : t.shape) {
        if (s < 0) throw Error(function, argument, "negative dimension in shape " + shape_str(t.shape));
    }
    if (!t.strides.empty() && t.strides.size() != t.shape.size()) {
        throw Error(function, argument,
                    "strides " + shape_str(t.strides) + " do not match the rank of shape " +
                        shape_str(t.shape));
    }
    const std::vector<int64_t> strides = t.effective_strides();
    if (rank > 0 && t.shape.back() > 1 && strides.back() != 1) {
        throw Error(function, argument,
                    "the innermost dimension must have stride 1, got strides " + shape_str(strides));
    }
    // Halide addresses elements with 32-bit offsets and extents (no
    // large_buffers): the elements, and the memory the view spans, must each
    // stay under 2^31 bytes. All size arithmetic is overflow-checked.
    constexpr int64_t kMaxBytes = std::numeric_limits<int32_t>::max();
    const int64_t size = static_cast<int64_t>(dtype_size(t.dtype));
    const std::string too_large = "tensor of shape " + shape_str(t.shape) + " with strides " + shape_str(strides) +
                                  " is over the kernels' limit of 2^31 - 1 bytes";
    int64_t span = 1, count = 1;
    for (int i = 0; i < rank; i++) {
        if (strides[i] < 0)
            throw Error(function, argument, "negative strides are not supported: " + shape_str(strides));
        if (t.shape[i] == 0) count = 0;
        int64_t reach = 0;
        if (t.shape[i] > 0 && (__builtin_mul_overflow(t.shape[i] - 1, strides[i], &reach) ||
                               __builtin_add_overflow(span, reach, &span)))
            throw Error(function, argument, too_large + " (its span overflows)");
    }
    for (int i = 0; i < rank && count > 0; i++)
        if (__builtin_mul_overflow(count, t.shape[i], &count)) count = std::numeric_limits<int64_t>::max();
    int64_t span_bytes = 0, count_bytes = 0;
    if (__builtin_mul_overflow(span, size, &span_bytes) || span_bytes > kMaxBytes)
        throw Error(function, argument, too_large + " (the memory it spans)");
    if (__builtin_mul_overflow(count, size, &count_bytes) || count_bytes > kMaxBytes)
        throw Error(function, argument, too_large + " (its elements)");
    if (t.data == nullptr && t.numel() > 0) throw Error(function, argument, "data pointer is null");
}

void check_dtype(const char *function, const char *argument, const TensorView &t, DType expected) {
    if (t.dtype == expected) return;
    throw Error(function, argument,
                std::string("expected dtype ") + dtype_name(expected) + " (the input's), got " + dtype_name(t.dtype) +
                    "; all tensors of a call must have one dtype");
}

void check_shape(const char *function, const char *argument, const TensorView &t,
                 const std::vector<int64_t> &expected, const std::string &why) {
    if (t.shape == expected) return;
    std::string msg = "expected shape " + shape_str(expected) + ", got " + shape_str(t.shape);
    if (!why.empty()) msg += " (" + why + ")";
    throw Error(function, argument, msg);
}

}  // namespace dcn::detail
