# The one list of what dcn compiles: CPU paths, GPU devices, dtypes,
# directions, operators with their variant flags, and which (operator,
# direction, dtype) exist where. Everything else derives from it
# (cmake/DcnKernels.cmake): the kernel libraries, the runtime's dispatch
# table and the public enums dcn::CpuIsa and dcn::DType
# (build/generated/include/dcn/lists.inc), `dcn info`, the tests' path and
# variant loops, the tuner's paths. The statements are defined in
# cmake/DcnLists.cmake; the CPU schedules' tunables are stated with the
# schedules (schedules/cpu/tunables.cmake).
#
# Adding an ISA, a dtype or a variant flag is one line here, plus the code
# that really differs (a schedule's choice for the ISA, the generator
# parameter for the flag).

# CPU code paths, best first; the last is the baseline every x86-64 CPU runs.
# Each call runs the best one the CPU supports (dcn::set_max_cpu_isa caps it)
# that has the kernel, else the next one down. Each states its facts once:
# its Halide target (whose natural vector width the schedules use), its
# vector register count (the schedules' register tiles), and the Linux
# /proc/cpuinfo flags a machine must show to run it (Linux lists a flag only
# when the OS enables its registers: the benchmark configuration and
# dcn-autotune read them; the runtime asks the CPU and the OS itself).
# avx512_bf16: AVX512-BF16 (Halide's avx512_zen4 features: AMD Zen 4 / Zen 5,
# Intel Sapphire Rapids and later), the convolution's bfloat16 GEMMs on
# vdpbf16ps (dcn::gemm_operand_type); nothing else changes there, so it is
# compiled for those kernels only.
dcn_cpu_path(avx512_bf16 x86-64-linux-avx512_zen4-avx512_skylake-avx2-fma-f16c-sse41
             OPERATORS deform_conv2d DTYPES bf16 VECTOR_REGISTERS 32
             CPUINFO avx512f avx512cd avx512bw avx512dq avx512vl avx512ifma avx512vbmi avx512_vbmi2 avx512_vnni
                     avx512_bitalg avx512_vpopcntdq avx512_bf16 avx2 fma f16c sse4_1)
dcn_cpu_path(avx512_skylake x86-64-linux-avx512_skylake-avx2-fma-f16c-sse41 VECTOR_REGISTERS 32
             CPUINFO avx512f avx512cd avx512bw avx512dq avx512vl avx2 fma f16c sse4_1)
dcn_cpu_path(avx2_fma x86-64-linux-avx2-fma-f16c-sse41 VECTOR_REGISTERS 16 CPUINFO avx2 fma f16c sse4_1)
dcn_cpu_path(sse41 x86-64-linux-sse41 VECTOR_REGISTERS 16 CPUINFO sse4_1)
dcn_cpu_path(baseline x86-64-linux VECTOR_REGISTERS 16)

# GPU devices: the same GPU schedule compiled for each. The libraries take a
# user_context (the caller's CUDA context and stream). Capability 8.0
# (A100); the driver JITs the PTX forward to sm_90 (H100).
dcn_gpu_device(cuda x86-64-linux-sse41-cuda-cuda_capability_80-user_context)
dcn_gpu_device(opencl x86-64-linux-sse41-opencl-user_context)

# Element types: short name (in kernel names), dcn::DType enumerator (also
# the generators' `dtype` GeneratorParam value), C++ type, target features a
# GPU device needs for it.
dcn_dtype(f32 float32 float)
dcn_dtype(f64 float64 double GPU_FEATURES opencl:cl_doubles)
# 16-bit storage, float32 arithmetic (dcn::bfloat16_t / dcn::float16_t: the
# bits, dcn/dcn.h). Paths without native conversions convert in software.
dcn_dtype(bf16 bfloat16 ::dcn::bfloat16_t ACCUM float32)
dcn_dtype(f16 float16 ::dcn::float16_t ACCUM float32)

# Directions: short name (in kernel names), enumerator. The backward pass is
# two directions (as oneDNN's): the data gradients (input, offset / trans,
# mask) and the weight gradients (weight, bias), so that a call computes
# only the gradients asked for, and the data gradients share their one
# GEMM (grad_columns).
dcn_direction(fwd forward)
dcn_direction(bwd_data backward_data)
dcn_direction(bwd_weight backward_weight)

# Operators (= generator names) and their variant flags: one kernel per
# combination of flags, bit i of the variant = flag i.
dcn_operator(deform_conv2d FLAGS with_mask with_bias)
dcn_operator(deform_psroi_pool FLAGS with_trans)
dcn_operator(deform_roi_pool FLAGS with_offset with_mask)
# deform_conv2d's GPU forward, as every production DCN GPU path: the
# deformable columns (im2col with bilinear samples, the mask applied), then
# a GEMM with the weights (bias added in it): cuBLASLt on CUDA where it
# loads, else, and on OpenCL, this Halide GEMM (runtime/src/deform_conv2d.cpp).
dcn_operator(deform_conv2d_columns FLAGS with_mask STAGE_OF deform_conv2d)
dcn_operator(deform_conv2d_gemm FLAGS with_bias STAGE_OF deform_conv2d)
# Its GPU weight gradients: the same columns, then grad_weight as a GEMM of
# grad_output with them (cuBLASLt on CUDA where it loads, else this Halide
# GEMM) summed over chunks of images in float32, then rounded once (and
# grad_bias summed) by the finish stage.
dcn_operator(deform_conv2d_grad_weight STAGE_OF deform_conv2d)
dcn_operator(deform_conv2d_grad_weight_finish FLAGS with_bias STAGE_OF deform_conv2d)
# Its GPU data gradients: grad_columns = weight^T x grad_output (cuBLASLt on
# CUDA where it loads, else this Halide GEMM), then col2im: the scatter into
# grad_input and the offset / mask sums (the CPU kernel's statement).
dcn_operator(deform_conv2d_grad_columns STAGE_OF deform_conv2d)
dcn_operator(deform_conv2d_col2im FLAGS with_mask STAGE_OF deform_conv2d
             GPU_FEATURES opencl:cl_doubles opencl:cl_atomics64)

# (operator, direction, dtype): where the kernels are compiled.
dcn_kernels(deform_conv2d fwd f32 CPU all)
dcn_kernels(deform_psroi_pool fwd f32 CPU all GPU cuda opencl)
dcn_kernels(deform_roi_pool fwd f32 CPU all GPU cuda opencl)
# float64: for gradient checks (torch.autograd.gradcheck) and references,
# every CPU path (the same schedules; vectors half as wide). Not CUDA: the
# GPU register tiles are sized for 32-bit values, and in float64 every
# kernel spills under the 64-register cap of Halide's CUDA JIT (ptxas:
# 4-64 bytes of spill stores), which the PTX check refuses; OpenCL (tested
# on PoCL) has no such cap.
dcn_kernels(deform_conv2d fwd f64 CPU all)
dcn_kernels(deform_psroi_pool fwd f64 CPU all GPU opencl)
dcn_kernels(deform_roi_pool fwd f64 CPU all GPU opencl)
# bfloat16 / float16: every operator and direction on every CPU path and
# both GPU devices. The GPU kernels hold 16-bit values as bits and convert
# them with integer operations (generators/storage16.h), the same code on
# OpenCL and CUDA: no cl_khr_fp16 needed (PoCL has none), and PoCL tests the
# conversions the CUDA kernels run. Arithmetic is float32, as on the CPU.
foreach (_t IN ITEMS bf16 f16)
    dcn_kernels(deform_conv2d fwd ${_t} CPU all)
    dcn_kernels(deform_psroi_pool fwd ${_t} CPU all GPU cuda opencl)
    dcn_kernels(deform_roi_pool fwd ${_t} CPU all GPU cuda opencl)
    dcn_kernels(deform_conv2d bwd_data ${_t} FLAGS with_mask CPU all)
    dcn_kernels(deform_conv2d bwd_weight ${_t} CPU all)
    dcn_kernels(deform_psroi_pool bwd_data ${_t} CPU all GPU cuda opencl)
    dcn_kernels(deform_roi_pool bwd_data ${_t} CPU all GPU cuda opencl)
endforeach ()
# Backward (generators/<op>_backward_<direction>_generator.cpp). The RoI
# poolings have no weights: their backward is the data direction only.
# The data gradients do not depend on the bias.
dcn_kernels(deform_conv2d bwd_data f32 FLAGS with_mask CPU all)
dcn_kernels(deform_conv2d bwd_weight f32 CPU all)
dcn_kernels(deform_conv2d bwd_data f64 FLAGS with_mask CPU all)
dcn_kernels(deform_conv2d bwd_weight f64 CPU all)
dcn_kernels(deform_psroi_pool bwd_data f32 CPU all GPU cuda opencl)
dcn_kernels(deform_psroi_pool bwd_data f64 CPU all GPU opencl)
dcn_kernels(deform_roi_pool bwd_data f32 CPU all GPU cuda opencl)
dcn_kernels(deform_roi_pool bwd_data f64 CPU all GPU opencl)
# deform_conv2d's GPU stages (its forward and gradients on a GPU; the
# weight gradients also run the forward's columns stage), in every
# dtype where the other GPU kernels are: float64 on OpenCL only, as above.
foreach (_stage IN ITEMS deform_conv2d_columns|fwd deform_conv2d_gemm|fwd deform_conv2d_grad_weight|bwd_weight
                         deform_conv2d_grad_weight_finish|bwd_weight deform_conv2d_grad_columns|bwd_data
                         deform_conv2d_col2im|bwd_data)
    string(REPLACE "|" ";" _stage "${_stage}")
    list(GET _stage 0 _op)
    list(GET _stage 1 _dir)
    dcn_kernels(${_op} ${_dir} f32 GPU cuda opencl)
    dcn_kernels(${_op} ${_dir} f64 GPU opencl)
    dcn_kernels(${_op} ${_dir} bf16 GPU cuda opencl)
    dcn_kernels(${_op} ${_dir} f16 GPU cuda opencl)
endforeach ()
