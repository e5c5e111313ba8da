# The statements the one list is written in (cmake/DcnRegistry.cmake,
# schedules/cpu/tunables.cmake). Each records what it states in variables
# of the caller's scope (they are macros), nothing else, so that the lists
# can be read in script mode (cmake -P, the tests) as well as at configure
# time. cmake/DcnKernels.cmake derives the libraries and the generated C++
# tables from these variables.
#
# Recorded:
#   DCN_CPU_PATHS                 CPU path names, best first
#   DCN_CPU_PATH_<p>_TARGET       its Halide target
#   DCN_CPU_PATH_<p>_OPERATORS / _DTYPES   what it exists for (empty: all)
#   DCN_CPU_PATH_<p>_VECTOR_REGISTERS      its vector register count
#   DCN_CPU_PATH_<p>_CPUINFO      the /proc/cpuinfo flags it needs
#   DCN_GPU_DEVICES               GPU devices (dcn::Device names)
#   DCN_GPU_<d>_TARGET            their Halide targets
#   DCN_DTYPES                    short names (f32 ...)
#   DCN_DTYPE_<t>_NAME / _CTYPE   dcn::DType enumerator, C++ type
#   DCN_DIRECTIONS                short names (fwd ...)
#   DCN_DIRECTION_<d>_NAME        the direction's enumerator
#   DCN_OPERATORS                 operator = generator names
#   DCN_OPERATOR_<op>_FLAGS       variant flags (GeneratorParams<bool>)
#   DCN_OPERATOR_<op>_STAGE_OF    for a GPU stage: the operator it is part of
#   DCN_KERNEL_SETS               <op>|<dir>|<dtype> entries
#   DCN_KERNEL_SET_<op>_<dir>_<dtype>_CPU / _GPU   where they are compiled
#   DCN_KERNEL_SET_<op>_<dir>_<dtype>_FLAGS        the flags its variants vary
#   DCN_GENERATOR_<op>_<dir>      the generator of an (operator, direction)
#   DCN_TUNABLE_OPERATORS, DCN_TUNABLES_<op>, DCN_TUNABLE_<op>_<name>_{DEFAULT,MIN,MAX,CANDIDATES,DOC},
#   DCN_SHAPE_FEATURES_<op>, DCN_SHAPE_FEATURE_<op>_<name>_DOC

# dcn_cpu_path(<name> <halide target> VECTOR_REGISTERS <n> [CPUINFO <flag>...]
#              [OPERATORS <op>...] [DTYPES <dtype>...]):
# one CPU code path; in order, best first. VECTOR_REGISTERS: how many
# vector registers its code has (the schedules size their register tiles
# by it). CPUINFO: the Linux /proc/cpuinfo flags a machine shows when it
# runs the path (none for the baseline). OPERATORS / DTYPES: the path
# exists only for these (what its features change: a path for one
# instruction compiles only the kernels that use it); `CPU all` in
# dcn_kernels expands to the paths that exist for the set, and the others
# run the next path down (the runtime's fallback).
macro(dcn_cpu_path name target)
    cmake_parse_arguments(_dcn_cp "" "VECTOR_REGISTERS" "OPERATORS;DTYPES;CPUINFO" ${ARGN})
    if (NOT _dcn_cp_VECTOR_REGISTERS MATCHES "^[1-9][0-9]*$")
        message(FATAL_ERROR "dcn_cpu_path(${name}): VECTOR_REGISTERS <count> is required")
    endif ()
    list(APPEND DCN_CPU_PATHS ${name})
    set(DCN_CPU_PATH_${name}_TARGET ${target})
    set(DCN_CPU_PATH_${name}_OPERATORS ${_dcn_cp_OPERATORS})
    set(DCN_CPU_PATH_${name}_DTYPES ${_dcn_cp_DTYPES})
    set(DCN_CPU_PATH_${name}_VECTOR_REGISTERS ${_dcn_cp_VECTOR_REGISTERS})
    set(DCN_CPU_PATH_${name}_CPUINFO ${_dcn_cp_CPUINFO})
endmacro()

# dcn_gpu_device(<dcn::Device name> <halide target>)
macro(dcn_gpu_device name target)
    list(APPEND DCN_GPU_DEVICES ${name})
    set(DCN_GPU_${name}_TARGET ${target})
endmacro()

# dcn_dtype(<short name> <dcn::DType enumerator = Halide GeneratorParam value> <C++ type>
#           [ACCUM <enumerator>] [GPU_FEATURES <device>:<halide target feature>...])
#   ACCUM: the type the kernels compute and accumulate in (the generators'
#   `accum` GeneratorParam); default: the type itself. Storage-only types
#   (16-bit) name float32.
#   GPU_FEATURES: target features a GPU device needs for this type (OpenCL
#   needs cl_doubles for float64).
macro(dcn_dtype short name ctype)
    cmake_parse_arguments(_dcn_dt "" "ACCUM" "GPU_FEATURES" ${ARGN})
    list(APPEND DCN_DTYPES ${short})
    set(DCN_DTYPE_${short}_NAME ${name})
    set(DCN_DTYPE_${short}_CTYPE ${ctype})
    if (_dcn_dt_ACCUM)
        set(DCN_DTYPE_${short}_ACCUM ${_dcn_dt_ACCUM})
    else ()
        set(DCN_DTYPE_${short}_ACCUM ${name})
    endif ()
    set(DCN_DTYPE_${short}_GPU_FEATURES ${_dcn_dt_GPU_FEATURES})
endmacro()

# dcn_direction(<short name> <enumerator>): the generator of (operator,
# direction) is named <op> for the forward direction `fwd`, <op>_<enumerator>
# for the others (deform_conv2d_backward_data); a GPU stage's is <op> in every
# direction.
macro(dcn_direction short name)
    list(APPEND DCN_DIRECTIONS ${short})
    set(DCN_DIRECTION_${short}_NAME ${name})
endmacro()

# dcn_operator(<generator name> FLAGS <flag>... [STAGE_OF <operator>]
#              [GPU_FEATURES <device>:<halide target feature>...]): an
# operator and its variant flags (boolean GeneratorParams; one kernel per
# combination). GPU_FEATURES: target features a GPU device needs for its
# kernels in every dtype (as dcn_dtype's, for one dtype). STAGE_OF: not an operator of the API but one kernel of
# another operator's GPU path (deform_conv2d on a GPU is a columns kernel
# and a GEMM): compiled for GPU devices only, called by that operator's
# runtime wrapper, and what dcn::has_kernels asks for that operator on a
# GPU (the stages of its direction, every one compiled for the device).
macro(dcn_operator op)
    cmake_parse_arguments(_dcn_op "" "STAGE_OF" "FLAGS;GPU_FEATURES" ${ARGN})
    if (_dcn_op_STAGE_OF AND NOT "${_dcn_op_STAGE_OF}" IN_LIST DCN_OPERATORS)
        message(FATAL_ERROR "dcn_operator(${op}): STAGE_OF names an unknown operator '${_dcn_op_STAGE_OF}'")
    endif ()
    list(APPEND DCN_OPERATORS ${op})
    set(DCN_OPERATOR_${op}_FLAGS ${_dcn_op_FLAGS})
    set(DCN_OPERATOR_${op}_STAGE_OF "${_dcn_op_STAGE_OF}")
    set(DCN_OPERATOR_${op}_GPU_FEATURES ${_dcn_op_GPU_FEATURES})
endmacro()

# dcn_kernels(<op> <direction> <dtype> [FLAGS <flag>...] CPU <path>...|all
#             GPU <device>...):
# the kernels of one (operator, direction, dtype), one per combination of
# the FLAGS (default: all the operator's flags; a flag that does not change
# a direction's computation is left out, e.g. with_bias for the data
# gradients, and its bit of the variant is 0), compiled for these CPU paths
# and GPU devices. A GPU stage (dcn_operator STAGE_OF) has no CPU paths.
macro(dcn_kernels op dir dtype)
    cmake_parse_arguments(_dcn_k "" "" "CPU;GPU;FLAGS" ${ARGN})
    if (NOT "${op}" IN_LIST DCN_OPERATORS)
        message(FATAL_ERROR "dcn_kernels: unknown operator '${op}'")
    endif ()
    if (NOT "${dir}" IN_LIST DCN_DIRECTIONS)
        message(FATAL_ERROR "dcn_kernels: unknown direction '${dir}'")
    endif ()
    if (NOT "${dtype}" IN_LIST DCN_DTYPES)
        message(FATAL_ERROR "dcn_kernels: unknown dtype '${dtype}'")
    endif ()
    if ("${_dcn_k_CPU}" STREQUAL "all")
        set(_dcn_k_CPU "")
        foreach (_p IN LISTS DCN_CPU_PATHS)
            if ((NOT DCN_CPU_PATH_${_p}_OPERATORS OR "${op}" IN_LIST DCN_CPU_PATH_${_p}_OPERATORS) AND
                (NOT DCN_CPU_PATH_${_p}_DTYPES OR "${dtype}" IN_LIST DCN_CPU_PATH_${_p}_DTYPES))
                list(APPEND _dcn_k_CPU ${_p})
            endif ()
        endforeach ()
    endif ()
    foreach (_p IN LISTS _dcn_k_CPU)
        if (NOT _p IN_LIST DCN_CPU_PATHS)
            message(FATAL_ERROR "dcn_kernels(${op} ${dir} ${dtype}): unknown CPU path '${_p}'")
        endif ()
    endforeach ()
    list(GET DCN_CPU_PATHS -1 _dcn_baseline)
    if (DCN_OPERATOR_${op}_STAGE_OF)
        if (_dcn_k_CPU)
            message(FATAL_ERROR "dcn_kernels(${op} ${dir} ${dtype}): a GPU stage has no CPU paths")
        endif ()
    elseif (NOT _dcn_baseline IN_LIST _dcn_k_CPU)
        message(FATAL_ERROR "dcn_kernels(${op} ${dir} ${dtype}): the baseline path '${_dcn_baseline}' is required "
                            "(every x86-64 CPU must find a kernel)")
    endif ()
    foreach (_d IN LISTS _dcn_k_GPU)
        if (NOT _d IN_LIST DCN_GPU_DEVICES)
            message(FATAL_ERROR "dcn_kernels(${op} ${dir} ${dtype}): unknown GPU device '${_d}'")
        endif ()
    endforeach ()
    if (NOT DEFINED _dcn_k_FLAGS)
        set(_dcn_k_FLAGS ${DCN_OPERATOR_${op}_FLAGS})
    endif ()
    foreach (_f IN LISTS _dcn_k_FLAGS)
        if (NOT _f IN_LIST DCN_OPERATOR_${op}_FLAGS)
            message(FATAL_ERROR "dcn_kernels(${op} ${dir} ${dtype}): '${_f}' is not a flag of ${op}")
        endif ()
    endforeach ()
    list(APPEND DCN_KERNEL_SETS "${op}|${dir}|${dtype}")
    set(DCN_KERNEL_SET_${op}_${dir}_${dtype}_FLAGS ${_dcn_k_FLAGS})
    if ("${dir}" STREQUAL "fwd" OR DCN_OPERATOR_${op}_STAGE_OF)  # a stage's generator is its name
        set(DCN_GENERATOR_${op}_${dir} ${op})
    else ()
        set(DCN_GENERATOR_${op}_${dir} ${op}_${DCN_DIRECTION_${dir}_NAME})
    endif ()
    set(DCN_KERNEL_SET_${op}_${dir}_${dtype}_CPU ${_dcn_k_CPU})
    set(DCN_KERNEL_SET_${op}_${dir}_${dtype}_GPU ${_dcn_k_GPU})
endmacro()

# dcn_tunable(<op> <name> DEFAULT d MIN lo MAX hi CANDIDATES v... DOC "why")
#   a GeneratorParam<int> of the operator's CPU schedule: its default (the
#   generator reads it from here), the range a tuned file may use, and the
#   values the tuner tries (ascending, within [lo, hi], including d).
macro(dcn_tunable op name)
    cmake_parse_arguments(_dcn_t "" "DEFAULT;MIN;MAX;DOC" "CANDIDATES" ${ARGN})
    if (NOT op IN_LIST DCN_TUNABLE_OPERATORS)
        list(APPEND DCN_TUNABLE_OPERATORS ${op})
    endif ()
    list(APPEND DCN_TUNABLES_${op} ${name})
    foreach (_w IN ITEMS DEFAULT MIN MAX CANDIDATES DOC)
        set(DCN_TUNABLE_${op}_${name}_${_w} "${_dcn_t_${_w}}")
    endforeach ()
    if (NOT _dcn_t_DEFAULT IN_LIST _dcn_t_CANDIDATES)
        message(FATAL_ERROR "dcn_tunable(${op} ${name}): the default ${_dcn_t_DEFAULT} is not among the candidates")
    endif ()
endmacro()

# dcn_shape_feature(<op> <name> "definition"): the quantities a tuned shape
# class is matched on at run time, in this order.
macro(dcn_shape_feature op name doc)
    if (NOT op IN_LIST DCN_TUNABLE_OPERATORS)
        list(APPEND DCN_TUNABLE_OPERATORS ${op})
    endif ()
    list(APPEND DCN_SHAPE_FEATURES_${op} ${name})
    set(DCN_SHAPE_FEATURE_${op}_${name}_DOC "${doc}")
endmacro()

# Reads the registry and the schedules' tunables into the caller's scope.
macro(dcn_load_lists source_dir)
    foreach (_v IN ITEMS DCN_CPU_PATHS DCN_GPU_DEVICES DCN_DTYPES DCN_DIRECTIONS DCN_OPERATORS DCN_KERNEL_SETS
                         DCN_TUNABLE_OPERATORS)
        set(${_v} "")
    endforeach ()
    include("${source_dir}/cmake/DcnRegistry.cmake")
    include("${source_dir}/schedules/cpu/tunables.cmake")
    # Every operator with tunables is a registered operator.
    foreach (_op IN LISTS DCN_TUNABLE_OPERATORS)
        if (NOT _op IN_LIST DCN_OPERATORS)
            message(FATAL_ERROR "schedules/cpu/tunables.cmake: unknown operator '${_op}'")
        endif ()
    endforeach ()
    # Every operator with a CPU schedule (not the GPU stages).
    set(DCN_TUNABLE_OPERATORS "")
    foreach (_op IN LISTS DCN_OPERATORS)
        if (NOT DCN_OPERATOR_${_op}_STAGE_OF)
            list(APPEND DCN_TUNABLE_OPERATORS ${_op})
        endif ()
    endforeach ()
    # Derived lists kept for the tools and tests: targets and names by path.
    set(DCN_CPU_ISA_NAMES ${DCN_CPU_PATHS})
    set(DCN_CPU_TARGETS "")
    foreach (_p IN LISTS DCN_CPU_PATHS)
        list(APPEND DCN_CPU_TARGETS ${DCN_CPU_PATH_${_p}_TARGET})
    endforeach ()
endmacro()
