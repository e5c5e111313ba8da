// libFuzzer harness: the API's validation of every operator and of their
// backward passes. The bytes
// choose an operator, a dtype, small shapes (each dimension 0-11, so that
// the buffers can be allocated as claimed), options and which optional
// tensors are given; the call must return or throw dcn::Error, never crash
// or touch memory outside the buffers (ASan). The *_output_shape helpers
// also get arbitrary 64-bit shapes (pure validation).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include <dcn/dcn.h>

namespace {

struct Bytes {
    const uint8_t *p;
    size_t n;
    uint8_t u8() { return n ? (--n, *p++) : 0; }
    int small(int hi) { return u8() % (hi + 1); }
    int64_t i64() {
        int64_t v = 0;
        for (int i = 0; i < 8; i++) v = (v << 8) | u8();
        return v;
    }
    float f32() {
        uint32_t b = 0;
        for (int i = 0; i < 4; i++) b = (b << 8) | u8();
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }
};

template <typename T>
struct Tensor {
    std::vector<int64_t> shape;
    std::vector<T> data;
    Tensor(Bytes &b, int rank) {
        int64_t n = 1;
        for (int i = 0; i < rank; i++) {
            shape.push_back(b.small(11));
            n *= shape.back();
        }
        data.assign(static_cast<size_t>(n) + 1, T(b.small(8)) / T(4) - T(1));  // + 1: never an empty vector
    }
    dcn::TensorView view() { return dcn::TensorView(data.data(), shape); }
};

dcn::DeformPsroiPoolOptions psroi_options(Bytes &b) {
    dcn::DeformPsroiPoolOptions o;
    o.spatial_scale = b.small(1) ? 1.0f : b.f32();
    o.output_dim = b.small(4);
    o.group_size = b.small(3);
    o.pooled_size = b.small(4);
    o.part_size = b.small(4);
    o.sample_per_part = b.small(3);
    o.trans_std = b.small(1) ? 0.1f : b.f32();
    return o;
}

dcn::DeformRoiPoolOptions roi_options(Bytes &b) {
    dcn::DeformRoiPoolOptions o;
    o.output_size = {b.small(4), b.small(4)};
    o.spatial_scale = b.small(1) ? 1.0f : b.f32();
    o.sampling_ratio = b.small(4) - 1;
    o.gamma = b.small(1) ? 0.1f : b.f32();
    return o;
}

template <typename T>
void run(Bytes &b) {
    switch (b.small(5)) {
    case 4: {  // deform_psroi_pool_backward
        Tensor<T> gy(b, 4), in(b, 4), rois(b, 2), trans(b, 4), gi(b, 4), gt(b, 4);
        for (T &v : rois.data) v = T(b.small(12)) - T(1);
        const dcn::DeformPsroiPoolOptions o = psroi_options(b);
        const uint8_t opt = b.u8();
        dcn::DeformPsroiPoolGradients g;
        if (opt & 2) g.input = gi.view();
        if (opt & 4) g.trans = gt.view();
        dcn::deform_psroi_pool_backward(gy.view(), in.view(), rois.view(),
                                        opt & 1 ? std::optional(trans.view()) : std::nullopt, g, o);
        break;
    }
    case 5: {  // deform_roi_pool_backward
        Tensor<T> gy(b, 4), in(b, 4), rois(b, 2), off(b, 4), m(b, 4), gi(b, 4), goff(b, 4), gm(b, 4);
        for (T &v : rois.data) v = T(b.small(12)) - T(1);
        const dcn::DeformRoiPoolOptions o = roi_options(b);
        const uint8_t opt = b.u8();
        dcn::DeformRoiPoolGradients g;
        if (opt & 4) g.input = gi.view();
        if (opt & 8) g.offset = goff.view();
        if (opt & 16) g.mask = gm.view();
        dcn::deform_roi_pool_backward(gy.view(), in.view(), rois.view(),
                                      opt & 1 ? std::optional(off.view()) : std::nullopt,
                                      opt & 2 ? std::optional(m.view()) : std::nullopt, g, o);
        break;
    }
    case 3: {  // deform_conv2d_backward: any subset of the gradients
        Tensor<T> gy(b, 4), in(b, 4), off(b, 4), w(b, 4), m(b, 4), gi(b, 4), goff(b, 4), gm(b, 4), gw(b, 4),
            gb(b, 1);
        dcn::DeformConv2dOptions o;
        o.stride = {b.small(3), b.small(3)};
        o.padding = {b.small(3) - 1, b.small(3), b.small(3), b.small(3)};
        o.dilation = {b.small(3), b.small(3)};
        o.groups = b.small(4);
        o.offset_groups = b.small(4);
        const uint8_t opt = b.u8();
        dcn::DeformConv2dGradients g;
        if (opt & 2) g.input = gi.view();
        if (opt & 4) g.offset = goff.view();
        if (opt & 8) g.mask = gm.view();
        if (opt & 16) g.weight = gw.view();
        if (opt & 32) g.bias = gb.view();
        dcn::deform_conv2d_backward(gy.view(), in.view(), off.view(), w.view(),
                                    opt & 1 ? std::optional(m.view()) : std::nullopt, g, o);
        break;
    }
    case 0: {
        Tensor<T> in(b, 4), off(b, 4), w(b, 4), m(b, 4), bias(b, 1), out(b, 4);
        dcn::DeformConv2dOptions o;
        o.stride = {b.small(3) , b.small(3)};
        o.padding = {b.small(3) - 1, b.small(3), b.small(3), b.small(3)};
        o.dilation = {b.small(3), b.small(3)};
        o.groups = b.small(4);
        o.offset_groups = b.small(4);
        const uint8_t opt = b.u8();
        dcn::deform_conv2d(in.view(), off.view(), w.view(), opt & 1 ? std::optional(m.view()) : std::nullopt,
                           opt & 2 ? std::optional(bias.view()) : std::nullopt, out.view(), o);
        break;
    }
    case 1: {
        Tensor<T> in(b, 4), rois(b, 2), trans(b, 4), out(b, 4), count(b, 4);
        for (T &v : rois.data) v = T(b.small(12)) - T(1);  // batch indices and corners near the image
        const dcn::DeformPsroiPoolOptions o = psroi_options(b);
        const uint8_t opt = b.u8();
        dcn::deform_psroi_pool(in.view(), rois.view(), opt & 1 ? std::optional(trans.view()) : std::nullopt,
                               out.view(), opt & 2 ? std::optional(count.view()) : std::nullopt, o);
        break;
    }
    default: {
        Tensor<T> in(b, 4), rois(b, 2), off(b, 4), m(b, 4), out(b, 4);
        for (T &v : rois.data) v = T(b.small(12)) - T(1);
        const dcn::DeformRoiPoolOptions o = roi_options(b);
        const uint8_t opt = b.u8();
        dcn::deform_roi_pool(in.view(), rois.view(), opt & 1 ? std::optional(off.view()) : std::nullopt,
                             opt & 2 ? std::optional(m.view()) : std::nullopt, out.view(), o);
        break;
    }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Bytes b{data, size};
    try {
        if (b.small(3) == 0) {  // shape helpers on arbitrary 64-bit shapes
            std::vector<int64_t> in(4), w(4), r(2);
            for (int64_t &v : in) v = b.i64();
            for (int64_t &v : w) v = b.i64();
            for (int64_t &v : r) v = b.i64();
            dcn::DeformConv2dOptions o;
            o.stride = {int(b.i64()), int(b.i64())};
            o.dilation = {int(b.i64()), int(b.i64())};
            o.padding = {int(b.i64()), int(b.i64()), int(b.i64()), int(b.i64())};
            try {
                dcn::deform_conv2d_output_shape(in, w, o);
            } catch (const dcn::Error &) {
            }
            dcn::DeformPsroiPoolOptions ps;
            ps.output_dim = int(b.i64());
            ps.pooled_size = int(b.i64());
            try {
                dcn::deform_psroi_pool_output_shape(in, r, ps);
            } catch (const dcn::Error &) {
            }
            dcn::DeformRoiPoolOptions rp;
            rp.output_size = {int(b.i64()), int(b.i64())};
            dcn::deform_roi_pool_output_shape(in, r, rp);
        } else if (b.small(1)) {
            run<float>(b);
        } else {
            run<double>(b);
        }
    } catch (const dcn::Error &) {
    }
    return 0;
}
