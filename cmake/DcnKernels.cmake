# Derives everything from the one list (cmake/DcnRegistry.cmake and
# schedules/cpu/tunables.cmake, read by dcn_load_lists before this file):
#
#   - one kernel library per (operator, variant, direction, dtype) and CPU
#     path or GPU device: dcn_<op>[_<flags>]_<dtype>_<dir>_cpu_<path>,
#     ..._cuda (its PTX copied to build/ptx/), ..._opencl, and
#     ..._tuned_<class> per tuned shape class (cmake/DcnTuned.cmake);
#     all share one Halide runtime;
#   - build/generated/include/dcn/lists.inc: the CPU paths and dtypes, for
#     the public enums of dcn/dcn.h;
#   - build/generated/dcn_registry.h: operators, directions, variant flags
#     and the CPU paths' Halide features, for the runtime;
#   - build/generated/dcn_kernel_table.cpp: the table the runtime dispatches
#     from, one row per kernel (its argv entry points per CPU path and
#     device, its tuned classes);
#   - build/generated/dcn_tunables.h: the tunables, for the generators, the
#     tuner and the runtime.
#
# Sets DCN_KERNEL_LIBRARIES (every kernel library) and DCN_KERNEL_TABLE_SOURCE.

set(_dcn_gen "${CMAKE_BINARY_DIR}/generated")
file(MAKE_DIRECTORY "${_dcn_gen}/include/dcn" "${CMAKE_BINARY_DIR}/ptx")

# Writes a generated file only when its content changes (no needless rebuilds).
function(dcn_write_generated path content)
    file(WRITE "${path}.tmp" "${content}")
    file(COPY_FILE "${path}.tmp" "${path}" ONLY_IF_DIFFERENT)
    file(REMOVE "${path}.tmp")
endfunction()

set(_dcn_banner "// Generated from cmake/DcnRegistry.cmake by cmake/DcnKernels.cmake; do not edit.\n")

# ---- the Halide runtime shared by every kernel library ----------------------
# (the GPU drivers are dlopen'ed at run time; nothing of CUDA is needed to build)
list(GET DCN_CPU_PATHS -1 _dcn_baseline_path)
set(_dcn_rt_targets ${DCN_CPU_PATH_${_dcn_baseline_path}_TARGET})
foreach (_d IN LISTS DCN_GPU_DEVICES)
    string(REGEX REPLACE "-user_context" "" _t "${DCN_GPU_${_d}_TARGET}")
    list(APPEND _dcn_rt_targets ${_t})
endforeach ()
if (DCN_PREBUILT_KERNELS)
    add_library(dcn_halide_runtime STATIC IMPORTED GLOBAL)
    set_target_properties(dcn_halide_runtime PROPERTIES
        IMPORTED_LOCATION "${DCN_PREBUILT_KERNELS}/libdcn_halide_runtime.a")
    target_link_libraries(dcn_halide_runtime INTERFACE Halide::Runtime Threads::Threads ${CMAKE_DL_LIBS})
else ()
    add_halide_runtime(dcn_halide_runtime TARGETS ${_dcn_rt_targets})
endif ()

# ---- public lists ----------------------------------------------------------------
set(_inc "${_dcn_banner}// The CPU paths (best first) and the element types this build has.\n")
string(APPEND _inc "#ifdef DCN_CPU_PATH\n")
foreach (_p IN LISTS DCN_CPU_PATHS)
    string(APPEND _inc "DCN_CPU_PATH(${_p})\n")
endforeach ()
string(APPEND _inc "#endif\n#ifdef DCN_DTYPE\n")
foreach (_t IN LISTS DCN_DTYPES)
    string(APPEND _inc "DCN_DTYPE(${DCN_DTYPE_${_t}_NAME}, ${DCN_DTYPE_${_t}_CTYPE})\n")
endforeach ()
string(APPEND _inc "#endif\n")
dcn_write_generated("${_dcn_gen}/include/dcn/lists.inc" "${_inc}")

# ---- private registry header -----------------------------------------------------
set(_h "${_dcn_banner}#pragma once\n#include <HalideRuntime.h>\n\nnamespace dcn::detail {\n\n")
string(APPEND _h "enum class Op {")
foreach (_op IN LISTS DCN_OPERATORS)
    string(APPEND _h " ${_op},")
endforeach ()
string(APPEND _h " };\nenum class Direction {")
foreach (_d IN LISTS DCN_DIRECTIONS)
    string(APPEND _h " ${DCN_DIRECTION_${_d}_NAME},")
endforeach ()
string(APPEND _h " };\n// Their names (dcn::cpu_path_for).\ninline constexpr const char *kOpNames[] = {")
foreach (_op IN LISTS DCN_OPERATORS)
    string(APPEND _h "\"${_op}\", ")
endforeach ()
string(APPEND _h "};\n// Per operator: the operator it is a GPU stage of (dcn_operator STAGE_OF), -1 if none.\n")
string(APPEND _h "inline constexpr int kOpStageOf[] = {")
foreach (_op IN LISTS DCN_OPERATORS)
    if (DCN_OPERATOR_${_op}_STAGE_OF)
        list(FIND DCN_OPERATORS "${DCN_OPERATOR_${_op}_STAGE_OF}" _i)
        string(APPEND _h "${_i}, ")
    else ()
        string(APPEND _h "-1, ")
    endif ()
endforeach ()
string(APPEND _h "};\ninline constexpr const char *kDirectionNames[] = {")
foreach (_d IN LISTS DCN_DIRECTIONS)
    string(APPEND _h "\"${DCN_DIRECTION_${_d}_NAME}\", ")
endforeach ()
string(APPEND _h "};\n\n// Variant flags: bit i of a kernel's variant = flag i of its operator.\nnamespace flag {\n")
foreach (_op IN LISTS DCN_OPERATORS)
    set(_bit 1)
    foreach (_f IN LISTS DCN_OPERATOR_${_op}_FLAGS)
        string(APPEND _h "constexpr unsigned ${_op}_${_f} = ${_bit};\n")
        math(EXPR _bit "${_bit} * 2")
    endforeach ()
endforeach ()
string(APPEND _h "}  // namespace flag\n\n")
list(LENGTH DCN_CPU_PATHS _n)
string(APPEND _h "constexpr int kNumCpuPaths = ${_n};\n")
string(APPEND _h "// Per CPU path (dcn::CpuIsa order): its Halide target, the target features\n")
string(APPEND _h "// a CPU must have to run it, its vector register count and the\n")
string(APPEND _h "// /proc/cpuinfo flags a Linux machine that runs it shows.\nstruct CpuPathInfo {\n    const char *name, *target;\n")
string(APPEND _h "    int num_features;\n    halide_target_feature_t features[8];\n    const char *feature_names[8];\n")
string(APPEND _h "    int vector_registers;\n    int num_cpuinfo;\n    const char *cpuinfo[24];\n};\n")
string(APPEND _h "inline constexpr CpuPathInfo kCpuPaths[kNumCpuPaths] = {\n")
foreach (_p IN LISTS DCN_CPU_PATHS)
    set(_t "${DCN_CPU_PATH_${_p}_TARGET}")
    set(_feats "")  # what follows arch-bits-os
    if (_t MATCHES "^[^-]+-[^-]+-[^-]+-(.+)$")
        set(_feats "${CMAKE_MATCH_1}")
    endif ()
    set(_fl "")
    set(_fn "")
    set(_nf 0)
    if (_feats)
        string(REPLACE "-" ";" _feats "${_feats}")
        foreach (_f IN LISTS _feats)
            string(APPEND _fl "halide_target_feature_${_f}, ")
            string(APPEND _fn "\"${_f}\", ")
            math(EXPR _nf "${_nf} + 1")
        endforeach ()
    endif ()
    set(_ci "")
    list(LENGTH DCN_CPU_PATH_${_p}_CPUINFO _nci)
    foreach (_f IN LISTS DCN_CPU_PATH_${_p}_CPUINFO)
        string(APPEND _ci "\"${_f}\", ")
    endforeach ()
    string(APPEND _h "    {\"${_p}\", \"${_t}\", ${_nf}, {${_fl}}, {${_fn}}, ${DCN_CPU_PATH_${_p}_VECTOR_REGISTERS}, ${_nci}, {${_ci}}},\n")
endforeach ()
string(APPEND _h "};\n\n")
list(LENGTH DCN_GPU_DEVICES _ngpu)
string(APPEND _h "// GPU devices, in the order of KernelEntry::gpu (kernel_table.h).\n")
string(APPEND _h "constexpr int kNumGpuDevices = ${_ngpu};\n\n}  // namespace dcn::detail\n")
dcn_write_generated("${_dcn_gen}/dcn_registry.h" "${_h}")

# ---- tunables --------------------------------------------------------------------
set(_h "// Generated from schedules/cpu/tunables.cmake by cmake/DcnKernels.cmake; do not edit.\n")
string(APPEND _h [=[
// The CPU schedules' tunables and the shape features that choose a tuned
// class: read by the generators (defaults), the tuner and the runtime.
#pragma once

namespace dcn::tunables {

struct Operator {
    const char *op;
    const char *variant_params;  // space-separated variant flags
};
struct Tunable {
    const char *op, *name;
    int default_value, min, max;
    const char *candidates;  // space-separated integers, ascending
    const char *doc;
};
struct ShapeFeature {
    const char *op, *name, *definition;
};

]=])
string(APPEND _h "inline constexpr Operator kOperators[] = {\n")
foreach (_op IN LISTS DCN_OPERATORS)
    if (DCN_OPERATOR_${_op}_STAGE_OF)  # GPU stages have no CPU schedule to tune
        continue()
    endif ()
    string(REPLACE ";" " " _fl "${DCN_OPERATOR_${_op}_FLAGS}")
    string(APPEND _h "    {\"${_op}\", \"${_fl}\"},\n")
endforeach ()
string(APPEND _h "};\ninline constexpr Tunable kTunables[] = {\n")
set(_max_features 0)
foreach (_op IN LISTS DCN_OPERATORS)
    foreach (_name IN LISTS DCN_TUNABLES_${_op})
        set(_pre DCN_TUNABLE_${_op}_${_name})
        string(REPLACE ";" " " _c "${${_pre}_CANDIDATES}")
        string(REPLACE "\"" "\\\"" _doc "${${_pre}_DOC}")
        string(APPEND _h "    {\"${_op}\", \"${_name}\", ${${_pre}_DEFAULT}, ${${_pre}_MIN}, ${${_pre}_MAX}, \"${_c}\", \"${_doc}\"},\n")
    endforeach ()
    list(LENGTH DCN_SHAPE_FEATURES_${_op} _nf)
    if (_nf GREATER _max_features)
        set(_max_features ${_nf})
    endif ()
endforeach ()
string(APPEND _h "};\ninline constexpr ShapeFeature kShapeFeatures[] = {\n")
foreach (_op IN LISTS DCN_OPERATORS)
    foreach (_name IN LISTS DCN_SHAPE_FEATURES_${_op})
        string(APPEND _h "    {\"${_op}\", \"${_name}\", \"${DCN_SHAPE_FEATURE_${_op}_${_name}_DOC}\"},\n")
    endforeach ()
endforeach ()
string(APPEND _h "};\n\n// At most this many shape features per operator (the runtime's tables).\n")
string(APPEND _h "inline constexpr int kMaxShapeFeatures = 4;\n")
string(APPEND _h "static_assert(${_max_features} <= kMaxShapeFeatures, \"too many shape features\");\n")
string(APPEND _h [=[

constexpr bool same(const char *a, const char *b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}

// The default of a tunable (the generators' GeneratorParam defaults); a
// name not listed is a compile-time error where used in a constant.
constexpr int default_of(const char *op, const char *name) {
    for (const Tunable &t : kTunables)
        if (same(t.op, op) && same(t.name, name)) return t.default_value;
    throw "dcn::tunables::default_of: no such tunable";
}

// Position of a feature in its operator's list, -1 if absent (constexpr:
// the runtime static_asserts the order it computes features in).
constexpr int shape_feature_index(const char *op, const char *name) {
    int i = 0;
    for (const ShapeFeature &f : kShapeFeatures) {
        if (!same(f.op, op)) continue;
        if (same(f.name, name)) return i;
        ++i;
    }
    return -1;
}

constexpr int shape_feature_count(const char *op) {
    int n = 0;
    for (const ShapeFeature &f : kShapeFeatures) n += same(f.op, op) ? 1 : 0;
    return n;
}

}  // namespace dcn::tunables
]=])
dcn_write_generated("${_dcn_gen}/dcn_tunables.h" "${_h}")

# ---- the kernel libraries and the dispatch table ----------------------------------
set(DCN_KERNEL_LIBRARIES "")
set(_dcn_decls "")
set(_dcn_rows "")
set(_dcn_tuned_tables "")

# One Halide library: <name> from <generator> for one target.
function(_dcn_halide_library name generator target)
    cmake_parse_arguments(PARSE_ARGV 3 ARG "" "DEVICE_CODE" "PARAMS")
    if (DCN_PREBUILT_KERNELS)  # the library another build generated
        if (NOT EXISTS "${DCN_PREBUILT_KERNELS}/lib${name}.a")
            message(FATAL_ERROR "DCN_PREBUILT_KERNELS: ${DCN_PREBUILT_KERNELS}/lib${name}.a is missing (build that "
                                "folder first, from the same sources)")
        endif ()
        add_library(${name} STATIC IMPORTED GLOBAL)
        set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${DCN_PREBUILT_KERNELS}/lib${name}.a")
        target_link_libraries(${name} INTERFACE dcn_halide_runtime)
        return()
    endif ()
    set(extra "")
    if (DCN_EMIT_STMT)  # for looking at codegen quality
        list(APPEND extra STMT_HTML _stmt_html)
    endif ()
    if (ARG_DEVICE_CODE)
        list(APPEND extra DEVICE_CODE _device_code)
    endif ()
    add_halide_library(${name}
        FROM dcn_generators
        GENERATOR ${generator}
        FUNCTION_NAME ${name}
        TARGETS ${target}
        USE_RUNTIME dcn_halide_runtime
        PARAMS ${ARG_PARAMS}
        ${extra})
    if (ARG_DEVICE_CODE)
        add_custom_command(
            OUTPUT "${CMAKE_BINARY_DIR}/ptx/${name}.ptx"
            COMMAND ${CMAKE_COMMAND} -E copy "${_device_code}" "${CMAKE_BINARY_DIR}/ptx/${name}.ptx"
            DEPENDS ${name} "${_device_code}"
            VERBATIM)
        add_custom_target(${name}.ptx ALL DEPENDS "${CMAKE_BINARY_DIR}/ptx/${name}.ptx")
    endif ()
endfunction()

foreach (_set IN LISTS DCN_KERNEL_SETS)
    string(REPLACE "|" ";" _set "${_set}")
    list(GET _set 0 _op)
    list(GET _set 1 _dir)
    list(GET _set 2 _dtype)
    set(_flags ${DCN_OPERATOR_${_op}_FLAGS})
    set(_set_flags ${DCN_KERNEL_SET_${_op}_${_dir}_${_dtype}_FLAGS})
    set(_generator ${DCN_GENERATOR_${_op}_${_dir}})
    list(LENGTH _flags _nflags)
    math(EXPR _nvariants "1 << ${_nflags}")
    math(EXPR _last "${_nvariants} - 1")
    foreach (_v RANGE ${_last})
        # The variant's flags: suffix and generator parameters (a flag the
        # set does not vary is off, its variants skipped).
        set(_suffix "")
        set(_params "dtype=${DCN_DTYPE_${_dtype}_NAME}" "accum=${DCN_DTYPE_${_dtype}_ACCUM}")
        set(_bit 0)
        set(_skip FALSE)
        foreach (_f IN LISTS _flags)
            math(EXPR _on "(${_v} >> ${_bit}) & 1")
            if (NOT _f IN_LIST _set_flags)
                if (_on)
                    set(_skip TRUE)
                endif ()
            elseif (_on)
                string(REGEX REPLACE "^with_" "" _short "${_f}")
                string(APPEND _suffix "_${_short}")
                list(APPEND _params "${_f}=true")
            else ()
                list(APPEND _params "${_f}=false")
            endif ()
            math(EXPR _bit "${_bit} + 1")
        endforeach ()
        if (_skip)
            continue()
        endif ()
        set(_base "dcn_${_op}${_suffix}_${_dtype}_${_dir}")

        # CPU: one library per path of the set; nullptr where not compiled.
        set(_cpu_fns "")
        foreach (_p IN LISTS DCN_CPU_PATHS)
            if (_p IN_LIST DCN_KERNEL_SET_${_op}_${_dir}_${_dtype}_CPU)
                _dcn_halide_library(${_base}_cpu_${_p} ${_generator} ${DCN_CPU_PATH_${_p}_TARGET} PARAMS ${_params})
                list(APPEND DCN_KERNEL_LIBRARIES ${_base}_cpu_${_p})
                string(APPEND _dcn_decls "int ${_base}_cpu_${_p}_argv(void **);\n")
                string(APPEND _cpu_fns "&${_base}_cpu_${_p}_argv, ")
            else ()
                string(APPEND _cpu_fns "nullptr, ")
            endif ()
        endforeach ()
        set(_cpu_meta "nullptr")  # a GPU stage has no CPU kernel
        if (_dcn_baseline_path IN_LIST DCN_KERNEL_SET_${_op}_${_dir}_${_dtype}_CPU)
            string(APPEND _dcn_decls "const halide_filter_metadata_t *${_base}_cpu_${_dcn_baseline_path}_metadata();\n")
            set(_cpu_meta "&${_base}_cpu_${_dcn_baseline_path}_metadata")
        endif ()

        # GPU devices.
        set(_gpu_fns "")
        set(_gpu_meta "nullptr")
        foreach (_d IN LISTS DCN_GPU_DEVICES)
            if (_d IN_LIST DCN_KERNEL_SET_${_op}_${_dir}_${_dtype}_GPU)
                set(_dc "")
                if (_d STREQUAL "cuda")
                    set(_dc DEVICE_CODE ON)
                endif ()
                set(_gt ${DCN_GPU_${_d}_TARGET})
                set(_gfs ${DCN_DTYPE_${_dtype}_GPU_FEATURES} ${DCN_OPERATOR_${_op}_GPU_FEATURES})
                list(REMOVE_DUPLICATES _gfs)
                foreach (_gf IN LISTS _gfs)
                    if (_gf MATCHES "^${_d}:(.+)$")
                        string(APPEND _gt "-${CMAKE_MATCH_1}")
                    endif ()
                endforeach ()
                _dcn_halide_library(${_base}_${_d} ${_generator} ${_gt} PARAMS ${_params} ${_dc})
                list(APPEND DCN_KERNEL_LIBRARIES ${_base}_${_d})
                string(APPEND _dcn_decls "int ${_base}_${_d}_argv(void **);\n")
                string(APPEND _dcn_decls "const halide_filter_metadata_t *${_base}_${_d}_metadata();\n")
                string(APPEND _gpu_fns "&${_base}_${_d}_argv, ")
                set(_gpu_meta "&${_base}_${_d}_metadata")
            else ()
                string(APPEND _gpu_fns "nullptr, ")
            endif ()
        endforeach ()

        # Tuned shape classes (float32 forward kernels: what dcn-autotune tunes).
        set(_tuned "nullptr")
        if (_dir STREQUAL "fwd" AND _dtype STREQUAL "f32")
            dcn_add_tuned_kernels(${_base} ${_op} PARAMS ${_params})
            if (DCN_TUNED_ENTRIES)
                list(APPEND DCN_KERNEL_LIBRARIES ${DCN_TUNED_LIBRARIES})
                string(APPEND _dcn_decls "${DCN_TUNED_DECLS}")
                string(APPEND _dcn_tuned_tables
                       "const TunedKernel ${_base}_tuned[] = {\n${DCN_TUNED_ENTRIES}    {nullptr, 0, {}, nullptr},\n};\n")
                set(_tuned "${_base}_tuned")
            endif ()
        endif ()

        string(APPEND _dcn_rows
               "    {Op::${_op}, Direction::${DCN_DIRECTION_${_dir}_NAME}, DType::${DCN_DTYPE_${_dtype}_NAME}, "
               "${_v}, \"${_base}\",\n     {${_cpu_fns}}, ${_cpu_meta},\n"
               "     {${_gpu_fns}}, ${_gpu_meta}, ${_tuned}},\n")
    endforeach ()
endforeach ()

set(_c "${_dcn_banner}#include \"kernel_table.h\"\n\nextern \"C\" {\n${_dcn_decls}}\n\n")
string(APPEND _c "namespace dcn::detail {\nnamespace {\n${_dcn_tuned_tables}}  // namespace\n\n")
string(APPEND _c "const KernelEntry kKernels[] = {\n${_dcn_rows}};\n")
string(APPEND _c "const int kNumKernels = static_cast<int>(sizeof kKernels / sizeof kKernels[0]);\n\n")
string(APPEND _c "const Device kGpuDevices[kNumGpuDevices] = {")
foreach (_d IN LISTS DCN_GPU_DEVICES)
    string(APPEND _c "Device::${_d}, ")
endforeach ()
string(APPEND _c "};\n\n}  // namespace dcn::detail\n")
dcn_write_generated("${_dcn_gen}/dcn_kernel_table.cpp" "${_c}")
set(DCN_KERNEL_TABLE_SOURCE "${_dcn_gen}/dcn_kernel_table.cpp")
