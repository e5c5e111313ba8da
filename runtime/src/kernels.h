// The AOT kernels: for each variant <base>, <base>_cpu_by_isa[] (one entry
// per CPU target, cmake/DcnKernels.cmake), <base>_cpu_tuned[] (tuned shape
// classes, cmake/DcnTuned.cmake), <base>_cuda and <base>_opencl (which take
// the user_context first).
#pragma once

#include "internal.h"
#include "tunables.h"
#include "tuned_kernel.h"

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

static_assert(tunables::kMaxShapeFeatures == 4, "TunedKernel::ranges holds 4 shape features");

// The first tuned class compiled for the call's CPU path whose ranges hold
// the call's shape features, or nullptr (the default schedule).
template <typename Fn>
const TunedKernel<Fn> *find_tuned_kernel(const TunedKernel<Fn> *table, const KernelCall &call) {
    if (!tuned_schedules_enabled()) return nullptr;
    for (; table->name; ++table)
        if (table->isa == call.cpu_variant() && call.shape_within(table->ranges)) return table;
    return nullptr;
}

// Runs the variant of a kernel for the call's device: on the CPU, a tuned
// shape class when one matches, else the default schedule for the path.
template <typename CpuTable, typename TunedTable, typename CudaFn, typename OpenclFn, typename... Args>
int run_kernel(KernelCall &call, Device device, const CpuTable &cpu, const TunedTable &tuned, CudaFn cuda,
               OpenclFn opencl, Args... args) {
    switch (device) {
    case Device::cuda: return cuda(call.user_context(), args...);
    case Device::opencl: return opencl(call.user_context(), args...);
    case Device::cpu: break;
    }
    if (const auto *k = find_tuned_kernel(tuned, call)) {
        note_cpu_schedule(k->name);
        return k->fn(args...);
    }
    note_cpu_schedule(nullptr);
    return cpu[call.cpu_variant()](args...);
}

}  // namespace dcn::detail

#define DCN_RUN_KERNEL(call, base, ...)                                                                     \
    ::dcn::detail::run_kernel(call, (call).device(), base##_cpu_by_isa, base##_cpu_tuned, base##_cuda, \
                              base##_opencl, __VA_ARGS__)
