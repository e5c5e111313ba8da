#include "dcn/dcn.h"

#include <utility>

namespace dcn {

const char *device_name(Device d) {
    switch (d) {
    case Device::cpu: return "cpu";
    case Device::cuda: return "cuda";
    case Device::opencl: return "opencl";
    }
    return "unknown";
}

TensorView::TensorView(float *data_, std::vector<int64_t> shape_, Device device_)
    : data(data_), shape(std::move(shape_)), device(device_) {}

TensorView::TensorView(const float *data_, std::vector<int64_t> shape_, Device device_)
    : data(const_cast<float *>(data_)), shape(std::move(shape_)), device(device_) {}

TensorView::TensorView(float *data_, std::vector<int64_t> shape_, std::vector<int64_t> strides_,
                       Device device_)
    : data(data_), shape(std::move(shape_)), strides(std::move(strides_)), device(device_) {}

TensorView::TensorView(const float *data_, std::vector<int64_t> shape_, std::vector<int64_t> strides_,
                       Device device_)
    : TensorView(const_cast<float *>(data_), std::move(shape_), std::move(strides_), device_) {}

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

std::vector<int64_t> TensorView::effective_strides() const {
    if (!strides.empty()) return strides;
    std::vector<int64_t> s(shape.size());
    int64_t step = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        s[i] = step;
        step *= shape[i];
    }
    return s;
}

}  // namespace dcn
