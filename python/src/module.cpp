// dcn._dcn: the Python extension module. Thin: every operator of dcn.h on
// arrays that arrive through DLPack (nanobind's ndarray: numpy, torch, any
// DLPack producer), CPU memory or CUDA device memory, C-contiguous, float32,
// float64, bfloat16 or float16 (16-bit storage, float32 arithmetic). The outputs are allocated by the caller (python/dcn/: numpy
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
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <dcn/dcn.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace nb = nanobind;

namespace {

// Inputs: C-contiguous, read-only allowed (the library never writes an
// input). Outputs: any array, checked here to be C-contiguous, so that a
// kernel never writes into a hidden converted copy.
using Array = nb::ndarray<nb::ro, nb::c_contig>;
using OptArray = std::optional<Array>;
using OutArray = nb::ndarray<>;
using OptOutArray = std::optional<OutArray>;

// A placeholder tensor for the *_validate functions: a shape, a dtype and a
// device, no memory (validation reads no tensor data but the RoI table's).
// Given from Python as (shape, dtype name, device name), or None.
using Spec = std::optional<std::tuple<std::vector<int64_t>, std::string, std::string>>;

// Where a call runs: "cpu", "cuda" (or "cuda+tf32": float32 GEMMs may use
// TF32, dcn::CudaContext::allow_tf32) or "opencl", and for CUDA the
// caller's context and stream (CUcontext, CUstream as integers; 0 = none).
struct Where {
    dcn::Device device = dcn::Device::cpu;
    dcn::CudaContext cuda;
};

Where where_of(const std::string &device, uintptr_t context, uintptr_t stream) {
    Where w;
    if (device == "cpu") w.device = dcn::Device::cpu;
    else if (device == "cuda") w.device = dcn::Device::cuda;
    else if (device == "cuda+tf32") w.device = dcn::Device::cuda, w.cuda.allow_tf32 = true;
    else if (device == "opencl") w.device = dcn::Device::opencl;
    else throw dcn::Error("dcn", "device", "expected 'cpu', 'cuda' or 'opencl', got '" + device + "'");
    w.cuda.context = reinterpret_cast<void *>(context);
    w.cuda.stream = reinterpret_cast<void *>(stream);
    return w;
}

dcn::DType dtype_named(const char *fn, const char *name, const std::string &dtype) {
    if (dtype == "float32") return dcn::DType::float32;
    if (dtype == "float64") return dcn::DType::float64;
    if (dtype == "bfloat16") return dcn::DType::bfloat16;
    if (dtype == "float16") return dcn::DType::float16;
    throw dcn::Error(fn, name, "expected float32, float64, bfloat16 or float16 elements, got " + dtype);
}

dcn::Device device_named(const char *fn, const char *name, const std::string &device) {
    if (device == "cpu") return dcn::Device::cpu;
    if (device == "cuda") return dcn::Device::cuda;
    throw dcn::Error(fn, name, "expected CPU or CUDA memory, got '" + device + "'");
}

// Non-null and never dereferenced: a placeholder's data.
unsigned char placeholder_byte;

std::optional<dcn::TensorView> view(const char *fn, const char *name, const Spec &spec) {
    if (!spec) return std::nullopt;
    dcn::TensorView v;
    v.data = &placeholder_byte;
    v.shape = std::get<0>(*spec);
    v.dtype = dtype_named(fn, name, std::get<1>(*spec));
    v.device = device_named(fn, name, std::get<2>(*spec));
    return v;
}

dcn::TensorView required(const char *fn, const char *name, const Spec &spec) {
    if (!spec) throw dcn::Error(fn, name, "required, got None");
    return *view(fn, name, spec);
}

// A view of an array (named for errors): float32 / float64, CPU or CUDA.
template <typename A>
dcn::TensorView view(const char *fn, const char *name, const A &a) {
    dcn::TensorView v;
    v.data = const_cast<void *>(static_cast<const void *>(a.data()));
    for (size_t i = 0; i < a.ndim(); i++) v.shape.push_back(static_cast<int64_t>(a.shape(i)));
    const nb::dlpack::dtype t = a.dtype();
    const bool scalar = t.lanes == 1;
    const auto code = static_cast<nb::dlpack::dtype_code>(t.code);
    if (t == nb::dtype<float>()) v.dtype = dcn::DType::float32;
    else if (t == nb::dtype<double>()) v.dtype = dcn::DType::float64;
    else if (scalar && t.bits == 16 && code == nb::dlpack::dtype_code::Float) v.dtype = dcn::DType::float16;
    else if (scalar && t.bits == 16 && code == nb::dlpack::dtype_code::Bfloat) v.dtype = dcn::DType::bfloat16;
    else
        throw dcn::Error(fn, name, "expected float32, float64, bfloat16 or float16 elements, got DLPack type code " +
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

// An output: written in place, so it must be C-contiguous (no hidden copy).
dcn::TensorView out_view(const char *fn, const char *name, const OutArray &a) {
    if (a.size() == 0) return view(fn, name, a);  // nothing is written
    int64_t expected = 1;
    for (size_t i = a.ndim(); i-- > 0;) {
        if (a.shape(i) > 1 && a.stride(i) != expected)
            throw dcn::Error(fn, name, "expected a C-contiguous array to write into, got one with strides not "
                                       "those of its shape (an output is written in place, never copied)");
        expected *= static_cast<int64_t>(a.shape(i));
    }
    return view(fn, name, a);
}

std::optional<dcn::TensorView> out_view(const char *fn, const char *name, const OptOutArray &a) {
    if (!a) return std::nullopt;
    return out_view(fn, name, *a);
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
        [](Array input, Array offset, Array weight, OptArray mask, OptArray bias, OutArray output,
           std::array<int, 2> stride, std::array<int, 4> padding, std::array<int, 2> dilation, int groups,
           int offset_groups, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_conv2d";
            const dcn::DeformConv2dOptions o =
                conv_options(stride, padding, dilation, groups, offset_groups, where_of(device, context, stream));
            const dcn::TensorView x = view(fn, "input", input), off = view(fn, "offset", offset),
                                  w = view(fn, "weight", weight), y = out_view(fn, "output", output);
            const auto m_ = view(fn, "mask", mask), b = view(fn, "bias", bias);
            nb::gil_scoped_release release;
            dcn::deform_conv2d(x, off, w, m_, b, y, o);
        },
        nb::arg("input"), nb::arg("offset"), nb::arg("weight"), nb::arg("mask").none(), nb::arg("bias").none(),
        nb::arg("output"), nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"),
        nb::arg("offset_groups"), nb::arg("device"), nb::arg("context"), nb::arg("stream"));
    m.def(
        "deform_conv2d_backward",
        [](Array grad_output, Array input, Array offset, Array weight, OptArray mask, OptOutArray grad_input,
           OptOutArray grad_offset, OptOutArray grad_mask, OptOutArray grad_weight, OptOutArray grad_bias,
           std::array<int, 2> stride, std::array<int, 4> padding, std::array<int, 2> dilation, int groups,
           int offset_groups, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_conv2d_backward";
            const dcn::DeformConv2dOptions o =
                conv_options(stride, padding, dilation, groups, offset_groups, where_of(device, context, stream));
            dcn::DeformConv2dGradients g;
            g.input = out_view(fn, "grad_input", grad_input);
            g.offset = out_view(fn, "grad_offset", grad_offset);
            g.mask = out_view(fn, "grad_mask", grad_mask);
            g.weight = out_view(fn, "grad_weight", grad_weight);
            g.bias = out_view(fn, "grad_bias", grad_bias);
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
        [](Array input, Array rois, OptArray offset, OptArray mask, OutArray output, std::array<int, 2> output_size,
           float spatial_scale, int sampling_ratio, float gamma, std::string device, uintptr_t context,
           uintptr_t stream) {
            const char *fn = "deform_roi_pool";
            const dcn::DeformRoiPoolOptions o =
                roi_options(output_size, spatial_scale, sampling_ratio, gamma, where_of(device, context, stream));
            const dcn::TensorView x = view(fn, "input", input), r = view(fn, "rois", rois),
                                  y = out_view(fn, "output", output);
            const auto off = view(fn, "offset", offset), m_ = view(fn, "mask", mask);
            nb::gil_scoped_release release;
            dcn::deform_roi_pool(x, r, off, m_, y, o);
        },
        nb::arg("input"), nb::arg("rois"), nb::arg("offset").none(), nb::arg("mask").none(), nb::arg("output"),
        nb::arg("output_size"), nb::arg("spatial_scale"), nb::arg("sampling_ratio"), nb::arg("gamma"),
        nb::arg("device"), nb::arg("context"), nb::arg("stream"));
    m.def(
        "deform_roi_pool_backward",
        [](Array grad_output, Array input, Array rois, OptArray offset, OptArray mask, OptOutArray grad_input,
           OptOutArray grad_offset, OptOutArray grad_mask, std::array<int, 2> output_size, float spatial_scale,
           int sampling_ratio, float gamma, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_roi_pool_backward";
            const dcn::DeformRoiPoolOptions o =
                roi_options(output_size, spatial_scale, sampling_ratio, gamma, where_of(device, context, stream));
            dcn::DeformRoiPoolGradients g;
            g.input = out_view(fn, "grad_input", grad_input);
            g.offset = out_view(fn, "grad_offset", grad_offset);
            g.mask = out_view(fn, "grad_mask", grad_mask);
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
        [](Array input, Array rois, OptArray trans, OutArray output, OptOutArray count, float spatial_scale, int output_dim,
           int group_size, int pooled_size, int part_size, int sample_per_part, float trans_std, std::string device,
           uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_psroi_pool";
            const dcn::DeformPsroiPoolOptions o =
                psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                              trans_std, where_of(device, context, stream));
            const dcn::TensorView x = view(fn, "input", input), r = view(fn, "rois", rois),
                                  y = out_view(fn, "output", output);
            const auto t = view(fn, "trans", trans), c = out_view(fn, "count", count);
            nb::gil_scoped_release release;
            dcn::deform_psroi_pool(x, r, t, y, c, o);
        },
        nb::arg("input"), nb::arg("rois"), nb::arg("trans").none(), nb::arg("output"), nb::arg("count").none(),
        nb::arg("spatial_scale"), nb::arg("output_dim"), nb::arg("group_size"), nb::arg("pooled_size"),
        nb::arg("part_size"), nb::arg("sample_per_part"), nb::arg("trans_std"), nb::arg("device"),
        nb::arg("context"), nb::arg("stream"));
    m.def(
        "deform_psroi_pool_backward",
        [](Array grad_output, Array input, Array rois, OptArray trans, OptOutArray grad_input, OptOutArray grad_trans,
           float spatial_scale, int output_dim, int group_size, int pooled_size, int part_size, int sample_per_part,
           float trans_std, std::string device, uintptr_t context, uintptr_t stream) {
            const char *fn = "deform_psroi_pool_backward";
            const dcn::DeformPsroiPoolOptions o =
                psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                              trans_std, where_of(device, context, stream));
            dcn::DeformPsroiPoolGradients g;
            g.input = out_view(fn, "grad_input", grad_input);
            g.trans = out_view(fn, "grad_trans", grad_trans);
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

    m.def("deform_roi_pool_output_shape",
          [](std::vector<int64_t> input_shape, std::vector<int64_t> rois_shape, std::array<int, 2> output_size,
             float spatial_scale, int sampling_ratio, float gamma) {
              return dcn::deform_roi_pool_output_shape(
                  input_shape, rois_shape, roi_options(output_size, spatial_scale, sampling_ratio, gamma, Where{}));
          });
    m.def("deform_psroi_pool_output_shape",
          [](std::vector<int64_t> input_shape, std::vector<int64_t> rois_shape, float spatial_scale, int output_dim,
             int group_size, int pooled_size, int part_size, int sample_per_part, float trans_std) {
              return dcn::deform_psroi_pool_output_shape(
                  input_shape, rois_shape,
                  psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                                trans_std, Where{}));
          });

    // ---- checks from shapes alone (before Python copies or allocates) -----------
    // Each takes its tensors as Specs (shape, dtype, device) and the RoI table
    // itself (validation reads it), runs every check of the operator, and
    // returns the output shape (the forward ones).
    m.def(
        "deform_conv2d_validate",
        [](Spec input, Spec offset, Spec weight, Spec mask, Spec bias, std::array<int, 2> stride,
           std::array<int, 4> padding, std::array<int, 2> dilation, int groups, int offset_groups,
           std::string device) {
            const char *fn = "deform_conv2d";
            const dcn::DeformConv2dOptions o =
                conv_options(stride, padding, dilation, groups, offset_groups, where_of(device, 0, 0));
            dcn::TensorView x = required(fn, "input", input), w = required(fn, "weight", weight);
            const std::vector<int64_t> shape = dcn::deform_conv2d_output_shape(x.shape, w.shape, o);
            dcn::TensorView y = x;
            y.shape = shape;
            dcn::deform_conv2d_validate(x, required(fn, "offset", offset), w, view(fn, "mask", mask),
                                        view(fn, "bias", bias), y, o);
            return shape;
        },
        nb::arg("input").none(), nb::arg("offset").none(), nb::arg("weight").none(), nb::arg("mask").none(),
        nb::arg("bias").none(), nb::arg("stride"), nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"),
        nb::arg("offset_groups"), nb::arg("device"));
    m.def(
        "deform_conv2d_backward_validate",
        [](Spec grad_output, Spec input, Spec offset, Spec weight, Spec mask, Spec grad_input, Spec grad_offset,
           Spec grad_mask, Spec grad_weight, Spec grad_bias, std::array<int, 2> stride, std::array<int, 4> padding,
           std::array<int, 2> dilation, int groups, int offset_groups, std::string device) {
            const char *fn = "deform_conv2d_backward";
            const dcn::DeformConv2dOptions o =
                conv_options(stride, padding, dilation, groups, offset_groups, where_of(device, 0, 0));
            dcn::DeformConv2dGradients g;
            g.input = view(fn, "grad_input", grad_input);
            g.offset = view(fn, "grad_offset", grad_offset);
            g.mask = view(fn, "grad_mask", grad_mask);
            g.weight = view(fn, "grad_weight", grad_weight);
            g.bias = view(fn, "grad_bias", grad_bias);
            dcn::deform_conv2d_backward_validate(required(fn, "grad_output", grad_output), required(fn, "input", input),
                                                 required(fn, "offset", offset), required(fn, "weight", weight),
                                                 view(fn, "mask", mask), g, o);
        },
        nb::arg("grad_output").none(), nb::arg("input").none(), nb::arg("offset").none(), nb::arg("weight").none(),
        nb::arg("mask").none(), nb::arg("grad_input").none(), nb::arg("grad_offset").none(),
        nb::arg("grad_mask").none(), nb::arg("grad_weight").none(), nb::arg("grad_bias").none(), nb::arg("stride"),
        nb::arg("padding"), nb::arg("dilation"), nb::arg("groups"), nb::arg("offset_groups"), nb::arg("device"));
    m.def(
        "deform_roi_pool_validate",
        [](Spec input, Array rois, Spec offset, Spec mask, std::array<int, 2> output_size, float spatial_scale,
           int sampling_ratio, float gamma, std::string device) {
            const char *fn = "deform_roi_pool";
            const dcn::DeformRoiPoolOptions o =
                roi_options(output_size, spatial_scale, sampling_ratio, gamma, where_of(device, 0, 0));
            dcn::TensorView x = required(fn, "input", input), r = view(fn, "rois", rois);
            const std::vector<int64_t> shape = dcn::deform_roi_pool_output_shape(x.shape, r.shape, o);
            dcn::TensorView y = x;
            y.shape = shape;
            dcn::deform_roi_pool_validate(x, r, view(fn, "offset", offset), view(fn, "mask", mask), y, o);
            return shape;
        },
        nb::arg("input").none(), nb::arg("rois"), nb::arg("offset").none(), nb::arg("mask").none(),
        nb::arg("output_size"), nb::arg("spatial_scale"), nb::arg("sampling_ratio"), nb::arg("gamma"),
        nb::arg("device"));
    m.def(
        "deform_roi_pool_backward_validate",
        [](Spec grad_output, Spec input, Array rois, Spec offset, Spec mask, Spec grad_input, Spec grad_offset,
           Spec grad_mask, std::array<int, 2> output_size, float spatial_scale, int sampling_ratio, float gamma,
           std::string device) {
            const char *fn = "deform_roi_pool_backward";
            const dcn::DeformRoiPoolOptions o =
                roi_options(output_size, spatial_scale, sampling_ratio, gamma, where_of(device, 0, 0));
            dcn::DeformRoiPoolGradients g;
            g.input = view(fn, "grad_input", grad_input);
            g.offset = view(fn, "grad_offset", grad_offset);
            g.mask = view(fn, "grad_mask", grad_mask);
            dcn::deform_roi_pool_backward_validate(required(fn, "grad_output", grad_output),
                                                   required(fn, "input", input), view(fn, "rois", rois),
                                                   view(fn, "offset", offset), view(fn, "mask", mask), g, o);
        },
        nb::arg("grad_output").none(), nb::arg("input").none(), nb::arg("rois"), nb::arg("offset").none(),
        nb::arg("mask").none(), nb::arg("grad_input").none(), nb::arg("grad_offset").none(),
        nb::arg("grad_mask").none(), nb::arg("output_size"), nb::arg("spatial_scale"), nb::arg("sampling_ratio"),
        nb::arg("gamma"), nb::arg("device"));
    m.def(
        "deform_psroi_pool_validate",
        [](Spec input, Array rois, Spec trans, float spatial_scale, int output_dim, int group_size, int pooled_size,
           int part_size, int sample_per_part, float trans_std, std::string device) {
            const char *fn = "deform_psroi_pool";
            const dcn::DeformPsroiPoolOptions o =
                psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                              trans_std, where_of(device, 0, 0));
            dcn::TensorView x = required(fn, "input", input), r = view(fn, "rois", rois);
            const std::vector<int64_t> shape = dcn::deform_psroi_pool_output_shape(x.shape, r.shape, o);
            dcn::TensorView y = x;
            y.shape = shape;
            dcn::deform_psroi_pool_validate(x, r, view(fn, "trans", trans), y, y, o);
            return shape;
        },
        nb::arg("input").none(), nb::arg("rois"), nb::arg("trans").none(), nb::arg("spatial_scale"),
        nb::arg("output_dim"), nb::arg("group_size"), nb::arg("pooled_size"), nb::arg("part_size"),
        nb::arg("sample_per_part"), nb::arg("trans_std"), nb::arg("device"));
    m.def(
        "deform_psroi_pool_backward_validate",
        [](Spec grad_output, Spec input, Array rois, Spec trans, Spec grad_input, Spec grad_trans, float spatial_scale,
           int output_dim, int group_size, int pooled_size, int part_size, int sample_per_part, float trans_std,
           std::string device) {
            const char *fn = "deform_psroi_pool_backward";
            const dcn::DeformPsroiPoolOptions o =
                psroi_options(spatial_scale, output_dim, group_size, pooled_size, part_size, sample_per_part,
                              trans_std, where_of(device, 0, 0));
            dcn::DeformPsroiPoolGradients g;
            g.input = view(fn, "grad_input", grad_input);
            g.trans = view(fn, "grad_trans", grad_trans);
            dcn::deform_psroi_pool_backward_validate(required(fn, "grad_output", grad_output),
                                                     required(fn, "input", input), view(fn, "rois", rois),
                                                     view(fn, "trans", trans), g, o);
        },
        nb::arg("grad_output").none(), nb::arg("input").none(), nb::arg("rois"), nb::arg("trans").none(),
        nb::arg("grad_input").none(), nb::arg("grad_trans").none(), nb::arg("spatial_scale"), nb::arg("output_dim"),
        nb::arg("group_size"), nb::arg("pooled_size"), nb::arg("part_size"), nb::arg("sample_per_part"),
        nb::arg("trans_std"), nb::arg("device"));

    // ---- settings -----------------------------------------------------------------
    m.def("set_num_threads", &dcn::set_num_threads, nb::arg("n"));
    m.def("num_threads", &dcn::num_threads);
    m.def("cached_memory_bytes", &dcn::cached_memory_bytes);
    m.def("release_cached_memory", &dcn::release_cached_memory);
    m.def("last_cpu_isa", [] { return std::string(dcn::cpu_isa_name(dcn::last_cpu_isa())); });
    m.def("device_usable", [](const std::string &device) {
        std::string why;
        const bool ok = dcn::device_usable(where_of(device, 0, 0).device, &why);
        return std::make_pair(ok, why);
    });
}
