// The AOT kernels: for each variant <base>, <base>_cpu_by_isa[] (one entry
// per CPU target, cmake/DcnKernels.cmake), <base>_cuda and <base>_opencl
// (which take the user_context first).
#pragma once

#include "internal.h"

#include "dcn_deform_conv2d_f32_cpu_variants.h"
#include "dcn_deform_conv2d_f32_cuda.h"
#include "dcn_deform_conv2d_f32_opencl.h"
#include "dcn_deform_conv2d_bias_f32_cpu_variants.h"
#include "dcn_deform_conv2d_bias_f32_cuda.h"
#include "dcn_deform_conv2d_bias_f32_opencl.h"
#include "dcn_deform_conv2d_mask_f32_cpu_variants.h"
#include "dcn_deform_conv2d_mask_f32_cuda.h"
#include "dcn_deform_conv2d_mask_f32_opencl.h"
#include "dcn_deform_conv2d_mask_bias_f32_cpu_variants.h"
#include "dcn_deform_conv2d_mask_bias_f32_cuda.h"
#include "dcn_deform_conv2d_mask_bias_f32_opencl.h"
#include "dcn_deform_psroi_pool_f32_cpu_variants.h"
#include "dcn_deform_psroi_pool_f32_cuda.h"
#include "dcn_deform_psroi_pool_f32_opencl.h"
#include "dcn_deform_psroi_pool_trans_f32_cpu_variants.h"
#include "dcn_deform_psroi_pool_trans_f32_cuda.h"
#include "dcn_deform_psroi_pool_trans_f32_opencl.h"
#include "dcn_deform_roi_pool_f32_cpu_variants.h"
#include "dcn_deform_roi_pool_f32_cuda.h"
#include "dcn_deform_roi_pool_f32_opencl.h"
#include "dcn_deform_roi_pool_mask_f32_cpu_variants.h"
#include "dcn_deform_roi_pool_mask_f32_cuda.h"
#include "dcn_deform_roi_pool_mask_f32_opencl.h"
#include "dcn_deform_roi_pool_offset_f32_cpu_variants.h"
#include "dcn_deform_roi_pool_offset_f32_cuda.h"
#include "dcn_deform_roi_pool_offset_f32_opencl.h"
#include "dcn_deform_roi_pool_offset_mask_f32_cpu_variants.h"
#include "dcn_deform_roi_pool_offset_mask_f32_cuda.h"
#include "dcn_deform_roi_pool_offset_mask_f32_opencl.h"

namespace dcn::detail {

// Runs the variant of a kernel for the call's device.
template <typename CpuTable, typename CudaFn, typename OpenclFn, typename... Args>
int run_kernel(KernelCall &call, Device device, const CpuTable &cpu, CudaFn cuda, OpenclFn opencl, Args... args) {
    switch (device) {
    case Device::cuda: return cuda(call.user_context(), args...);
    case Device::opencl: return opencl(call.user_context(), args...);
    case Device::cpu: break;
    }
    return cpu[call.cpu_variant()](args...);
}

}  // namespace dcn::detail

#define DCN_RUN_KERNEL(call, base, ...) \
    ::dcn::detail::run_kernel(call, (call).device(), base##_cpu_by_isa, base##_cuda, base##_opencl, __VA_ARGS__)
