// dcn._dcn: the Python extension module. Thin: every operator of dcn.h on
// arrays that arrive through DLPack (nanobind's ndarray: numpy, torch, any
// DLPack producer), CPU memory or CUDA device memory, C-contiguous, float32
// or float64. The outputs are allocated by the caller (python/dcn/: numpy
// or torch, in the inputs' dtype and device) and written here. No libtorch:
// one build serves numpy and every torch version.
//
// Errors: dcn::Error becomes ValueError (a bad argument) or RuntimeError
// (argument "device" or "kernel": a device that cannot run, a kernel
// failure), with the library's one-line message.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <dcn/dcn.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

using Array = nb::ndarray<nb::c_contig>;
using OptArray = std::optional<Array>;

// Where a call runs: "cpu", "cuda" or "opencl", and for CUDA the caller's
// context and stream (CUcontext, CUstream as integers; 0 = none).
struct Where {
    dcn::Device device = dcn::Device::cpu;
    dcn::CudaContext cuda;
};

Where where_of(const std::string &device, uintptr_t context, uintptr_t stream) {
    Where w;
    if (device == "cpu") w.device = dcn::Device::cpu;
    else if (device == "cuda") w.device = dcn::Device::cuda;
    else if (device == "opencl") w.device = dcn::Device::opencl;
    else throw dcn::Error("dcn", "device", "expected 'cpu', 'cuda' or 'opencl', got '" + device + "'");
    w.cuda.context = reinterpret_cast<void *>(context);
    w.cuda.stream = reinterpret_cast<void *>(stream);
    return w;
}

// A view of an array (named for errors): float32 / float64, CPU or CUDA.
dcn::TensorView view(const char *fn, const char *name, const Array &a) {
    dcn::TensorView v;
    v.data = a.data();
    for (size_t i = 0; i < a.ndim(); i++) v.shape.push_back(static_cast<int64_t>(a.shape(i)));
    const nb::dlpack::dtype t = a.dtype();
    if (t == nb::dtype<float>()) v.dtype = dcn::DType::float32;
    else if (t == nb::dtype<double>()) v.dtype = dcn::DType::float64;
    else
        throw dcn::Error(fn, name, "expected float32 or float64 elements, got DLPack type code " +
                                       std::to_string(t.code) + " with " + std::to_string(t.bits) + " bits");
    if (a.device_type() == nb::device::cpu::value) v.device = dcn::Device::cpu;
    else if (a.device_type() == nb::device::cuda::value) v.device = dcn::Device::cuda;
    else throw dcn::Error(fn, name, "expected CPU or CUDA memory, got DLPack device type " +
                                        std::to_string(a.device_type()));
    return v;
}

std::optional<dcn::TensorView> view(const char *fn, const char *name, const OptArray &a) {
    if (!a) return std::nullopt;
    return view(fn, name, *a);
}

dcn::DeformConv2dOptions conv_options(const std::array<int, 2> &stride, const std::array<int, 4> &padding,
                                      const std::array<int, 2> &dilation, int groups, int offset_groups,
                                      const Where &w) {
    dcn::DeformConv2dOptions o;
    o.stride = stride;
    o.padding = dcn::Padding(padding[0], padding[1], padding[2], padding[3]);
    o.dilation = dilation;
    o.groups = groups;
    o.offset_groups = offset_groups;
    o.device = w.device;
    o.cuda = w.cuda;
    return o;
}

dcn::DeformRoiPoolOptions roi_options(const std::array<int, 2> &output_size, float spatial_scale, int sampling_ratio,
                                      float gamma, const Where &w) {
    dcn::DeformRoiPoolOptions o;
    o.output_size = output_size;
    o.spatial_scale = spatial_scale;
    o.sampling_ratio = sampling_ratio;
    o.gamma = gamma;
    o.device = w.device;
    o.cuda = w.cuda;
    return o;
}

dcn::DeformPsroiPoolOptions psroi_options(float spatial_scale, int output_dim, int group_size, int pooled_size,
                                          int part_size, int sample_per_part, float trans_std, const Where &w) {
    dcn::DeformPsroiPoolOptions o;
    o.spatial_scale = spatial_scale;
    o.output_dim = output_dim;
    o.group_size = group_size;
    o.pooled_size = pooled_size;
    o.part_size = part_size;
    o.sample_per_part = sample_per_part;
    o.trans_std = trans_std;
    o.device = w.device;
    o.cuda = w.cuda;
    return o;
}

}  // namespace

NB_MODULE(_dcn, m) {
    m.doc() = "dcn's kernels on DLPack arrays (use the dcn package, not this module)";

    nb::register_exception_translator([](const std::exception_ptr &p, void *) {
        try {
            std::rethrow_exception(p);
        } catch (const dcn::Error &e) {
            const bool runtime = e.argument() == "device" || e.argument() == "kernel";
            PyErr_SetString(runtime ? PyExc_RuntimeError : PyExc_ValueError, e.what());
        }
    });

    // ---- deform_conv2d ----------------------------------------------------------
    m.def("deform_conv2d_output_shape",
          [](std::vector<int64_t> input_shape, std::vector<int64_t> weight_shape, std::array<int, 2> stride,
             std::array<int, 4> padding, std::array<int, 2> dilation) {
              return dcn::deform_conv2d_output_shape(input_shape, weight_shape,
                                                     conv_options(stride, padding, dilation, 0, 0, Where{}));
          });
    m.def(
        "deform_conv2d",
        [](Array input, Array offset, Array weight, OptArray mask, OptArray bias, Array output,
           std::array<int, 2> stride, std::array<int, 4> padding, std::array<int, 2> dilation, int groups,
           int offset_groups, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_conv2d";
            const dcn::DeformConv2dOptions o =
                conv_options(stride, padding, dilation, groups, offset_groups, where_of(device, context, stream));
            const dcn::TensorView x = view(fn, "input", input), off = view(fn, "offset", offset),
                                  w = view(fn, "weight", weight), y = view(fn, "output", output);
            const auto m_ = view(fn, "mask", mask), b = view(fn, "bias", bias);
            nb::gil_scoped_release release;
            dcn::deform_conv2d(x, off, w, m_, b, y, o);
        },
        nb::arg("input"), nb::arg("offset"), nb::arg("weight"), nb::arg("mask").none(), nb::arg("bias").none(),
        nb::arg("output"), nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"),
        nb::arg("offset_groups"), nb::arg("device"), nb::arg("context"), nb::arg("stream"));
    m.def(
        "deform_conv2d_backward",
        [](Array grad_output, Array input, Array offset, Array weight, OptArray mask, OptArray grad_input,
           OptArray grad_offset, OptArray grad_mask, OptArray grad_weight, OptArray grad_bias,
           std::array<int, 2> stride, std::array<int, 4> padding, std::array<int, 2> dilation, int groups,
           int offset_groups, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_conv2d_backward";
            const dcn::DeformConv2dOptions o =
                conv_options(stride, padding, dilation, groups, offset_groups, where_of(device, context, stream));
            dcn::DeformConv2dGradients g;
            g.input = view(fn, "grad_input", grad_input);
            g.offset = view(fn, "grad_offset", grad_offset);
            g.mask = view(fn, "grad_mask", grad_mask);
            g.weight = view(fn, "grad_weight", grad_weight);
            g.bias = view(fn, "grad_bias", grad_bias);
            const dcn::TensorView gy = view(fn, "grad_output", grad_output), x = view(fn, "input", input),
                                  off = view(fn, "offset", offset), w = view(fn, "weight", weight);
            const auto m_ = view(fn, "mask", mask);
            nb::gil_scoped_release release;
            dcn::deform_conv2d_backward(gy, x, off, w, m_, g, o);
        },
        nb::arg("grad_output"), nb::arg("input"), nb::arg("offset"), nb::arg("weight"), nb::arg("mask").none(),
        nb::arg("grad_input").none(), nb::arg("grad_offset").none(), nb::arg("grad_mask").none(),
        nb::arg("grad_weight").none(), nb::arg("grad_bias").none(), nb::arg("stride"), nb::arg("padding"),
        nb::arg("dilation"), nb::arg("groups"), nb::arg("offset_groups"), nb::arg("device"), nb::arg("context"),
        nb::arg("stream"));

    // ---- deform_roi_pool (mmcv) -------------------------------------------------
    m.def(
        "deform_roi_pool",
        [](Array input, Array rois, OptArray offset, OptArray mask, Array output, std::array<int, 2> output_size,
           float spatial_scale, int sampling_ratio, float gamma, std::string device, uintptr_t context,
           uintptr_t stream) {
            const char *fn = "deform_roi_pool";
            const dcn::DeformRoiPoolOptions o =
                roi_options(output_size, spatial_scale, sampling_ratio, gamma, where_of(device, context, stream));
            const dcn::TensorView x = view(fn, "input", input), r = view(fn, "rois", rois),
                                  y = view(fn, "output", output);
            const auto off = view(fn, "offset", offset), m_ = view(fn, "mask", mask);
            nb::gil_scoped_release release;
            dcn::deform_roi_pool(x, r, off, m_, y, o);
        },
        nb::arg("input"), nb::arg("rois"), nb::arg("offset").none(), nb::arg("mask").none(), nb::arg("output"),
        nb::arg("output_size"), nb::arg("spatial_scale"), nb::arg("sampling_ratio"), nb::arg("gamma"),
        nb::arg("device"), nb::arg("context"), nb::arg("stream"));
    m.def(
        "deform_roi_pool_backward",
        [](Array grad_output, Array input, Array rois, OptArray offset, OptArray mask, OptArray grad_input,
           OptArray grad_offset, OptArray grad_mask, std::array<int, 2> output_size, float spatial_scale,
           int sampling_ratio, float gamma, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_roi_pool_backward";
            const dcn::DeformRoiPoolOptions o =
                roi_options(output_size, spatial_scale, sampling_ratio, gamma, where_of(device, context, stream));
            dcn::DeformRoiPoolGradients g;
            g.input = view(fn, "grad_input", grad_input);
            g.offset = view(fn, "grad_offset", grad_offset);
            g.mask = view(fn, "grad_mask", grad_mask);
            const dcn::TensorView gy = view(fn, "grad_output", grad_output), x = view(fn, "input", input),
                                  r = view(fn, "rois", rois);
            const auto off = view(fn, "offset", offset), m_ = view(fn, "mask", mask);
            nb::gil_scoped_release release;
            dcn::deform_roi_pool_backward(gy, x, r, off, m_, g, o);
        },
        nb::arg("grad_output"), nb::arg("input"), nb::arg("rois"), nb::arg("offset").none(), nb::arg("mask").none(),
        nb::arg("grad_input").none(), nb::arg("grad_offset").none(), nb::arg("grad_mask").none(),
        nb::arg("output_size"), nb::arg("spatial_scale"), nb::arg("sampling_ratio"), nb::arg("gamma"),
        nb::arg("device"), nb::arg("context"), nb::arg("stream"));

    // ---- deform_psroi_pool (MSRA) -------------------------------------------------
    m.def(
        "deform_psroi_pool",
        [](Array input, Array rois, OptArray trans, Array output, OptArray count, float spatial_scale, int output_dim,
           int group_size, int pooled_size, int part_size, int sample_per_part, float trans_std, std::string device,
           uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_psroi_pool";
            const dcn::DeformPsroiPoolOptions o =
                psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                              trans_std, where_of(device, context, stream));
            const dcn::TensorView x = view(fn, "input", input), r = view(fn, "rois", rois),
                                  y = view(fn, "output", output);
            const auto t = view(fn, "trans", trans), c = view(fn, "count", count);
            nb::gil_scoped_release release;
            dcn::deform_psroi_pool(x, r, t, y, c, o);
        },
        nb::arg("input"), nb::arg("rois"), nb::arg("trans").none(), nb::arg("output"), nb::arg("count").none(),
        nb::arg("spatial_scale"), nb::arg("output_dim"), nb::arg("group_size"), nb::arg("pooled_size"),
        nb::arg("part_size"), nb::arg("sample_per_part"), nb::arg("trans_std"), nb::arg("device"),
        nb::arg("context"), nb::arg("stream"));
    m.def(
        "deform_psroi_pool_backward",
        [](Array grad_output, Array input, Array rois, OptArray trans, OptArray grad_input, OptArray grad_trans,
           float spatial_scale, int output_dim, int group_size, int pooled_size, int part_size, int sample_per_part,
           float trans_std, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_psroi_pool_backward";
            const dcn::DeformPsroiPoolOptions o =
                psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                              trans_std, where_of(device, context, stream));
            dcn::DeformPsroiPoolGradients g;
            g.input = view(fn, "grad_input", grad_input);
            g.trans = view(fn, "grad_trans", grad_trans);
            const dcn::TensorView gy = view(fn, "grad_output", grad_output), x = view(fn, "input", input),
                                  r = view(fn, "rois", rois);
            const auto t = view(fn, "trans", trans);
            nb::gil_scoped_release release;
            dcn::deform_psroi_pool_backward(gy, x, r, t, g, o);
        },
        nb::arg("grad_output"), nb::arg("input"), nb::arg("rois"), nb::arg("trans").none(),
        nb::arg("grad_input").none(), nb::arg("grad_trans").none(), nb::arg("spatial_scale"), nb::arg("output_dim"),
        nb::arg("group_size"), nb::arg("pooled_size"), nb::arg("part_size"), nb::arg("sample_per_part"),
        nb::arg("trans_std"), nb::arg("device"), nb::arg("context"), nb::arg("stream"));

    // ---- settings -----------------------------------------------------------------
    m.def("set_num_threads", &dcn::set_num_threads, nb::arg("n"));
    m.def("num_threads", &dcn::num_threads);
    m.def("device_usable", [](const std::string &device) {
        std::string why;
        const bool ok = dcn::device_usable(where_of(device, 0, 0).device, &why);
        return std::make_pair(ok, why);
    });
}
