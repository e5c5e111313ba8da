# Tuned schedule classes: schedules/tuned/*.json, written by dcn-autotune.
#
# Each file is one shape class of one operator: values of the operator's CPU
# schedule tunables (schedules/cpu/tunables.cmake) measured fastest on one CPU
# path (`isa`) for one shape, to be used for shapes within `applies_to`.
# Every file is validated here, at configure time: an unknown operator,
# tunable or shape feature, a value out of range or an unknown ISA stops the
# configuration with "<file>: <what is wrong>".
#
# For every float32 forward kernel variant, cmake/DcnKernels.cmake calls
# dcn_add_tuned_kernels(), which builds <base>_tuned_<class> per class of
# the variant's operator (for that class's CPU target only) and returns the
# rows of the variant's class table in generated/dcn_kernel_table.cpp, which
# the runtime searches by path and shape before it runs the default schedule.
#
#   -DDCN_TUNED_DIR=<dir>         read <dir>/*.json (default schedules/tuned)
#   -DDCN_TUNED_FILES=<a;b>       read exactly these files ('none': no tuned class)
include(${CMAKE_CURRENT_LIST_DIR}/DcnTunedFiles.cmake)

set(DCN_TUNED_DIR "${PROJECT_SOURCE_DIR}/schedules/tuned" CACHE PATH "Tuned schedule files (*.json) to build")
set(DCN_TUNED_FILES "" CACHE STRING "Tuned schedule files to build instead of DCN_TUNED_DIR/*.json ('none': none)")


if (DCN_TUNED_FILES STREQUAL "none")
    set(_dcn_tuned_files "")
elseif (DCN_TUNED_FILES)
    set(_dcn_tuned_files ${DCN_TUNED_FILES})
else ()
    file(GLOB _dcn_tuned_files CONFIGURE_DEPENDS "${DCN_TUNED_DIR}/*.json")
    list(SORT _dcn_tuned_files)
endif ()

set(DCN_TUNED_CLASSES "")  # <operator>:<class>
foreach (_file IN LISTS _dcn_tuned_files)
    get_filename_component(_file "${_file}" ABSOLUTE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_file}")
    dcn_tuned_file_read("${_file}" _tf ISAS ${DCN_CPU_PATHS})
    set(_id "${_tf_OPERATOR}:${_tf_CLASS}")
    if (_id IN_LIST DCN_TUNED_CLASSES)
        message(FATAL_ERROR "${_file}: class '${_tf_CLASS}' of ${_tf_OPERATOR} is already defined by "
                            "${DCN_TUNED_${_tf_OPERATOR}_${_tf_CLASS}_FILE}")
    endif ()
    list(APPEND DCN_TUNED_CLASSES "${_id}")
    foreach (_what IN ITEMS ISA PARAMS RANGES)
        set(DCN_TUNED_${_tf_OPERATOR}_${_tf_CLASS}_${_what} "${_tf_${_what}}")
    endforeach ()
    set(DCN_TUNED_${_tf_OPERATOR}_${_tf_CLASS}_FILE "${_file}")
    string(REPLACE ";" " " _p "${_tf_PARAMS}")
    message(STATUS "dcn: tuned class ${_tf_CLASS} of ${_tf_OPERATOR} for ${_tf_ISA}: ${_p}")
endforeach ()

# dcn_add_tuned_kernels(<base> <generator> [PARAMS k=v ...]): the tuned
# classes of one kernel variant (see above): one library per class,
# <base>_tuned_<class>, for that class's CPU path. Sets in the caller's
# scope DCN_TUNED_LIBRARIES, DCN_TUNED_DECLS (extern "C" declarations) and
# DCN_TUNED_ENTRIES (rows of the variant's TunedKernel table,
# runtime/src/kernel_table.h).
function(dcn_add_tuned_kernels base generator)
    cmake_parse_arguments(PARSE_ARGV 2 ARG "" "" "PARAMS")
    set(decls "")
    set(entries "")
    set(libs "")
    foreach (id IN LISTS DCN_TUNED_CLASSES)
        if (NOT id MATCHES "^${generator}:(.+)$")
            continue()
        endif ()
        set(cls "${CMAKE_MATCH_1}")
        set(isa "${DCN_TUNED_${generator}_${cls}_ISA}")
        list(FIND DCN_CPU_PATHS "${isa}" isa_index)
        set(name ${base}_tuned_${cls})
        _dcn_halide_library(${name} ${generator} ${DCN_CPU_PATH_${isa}_TARGET}
                            PARAMS ${ARG_PARAMS} ${DCN_TUNED_${generator}_${cls}_PARAMS})
        set(ranges "")
        set(r "${DCN_TUNED_${generator}_${cls}_RANGES}")
        list(LENGTH r n)
        math(EXPR last "${n} - 1")
        foreach (i RANGE 0 ${last} 2)
            math(EXPR j "${i} + 1")
            list(GET r ${i} lo)
            list(GET r ${j} hi)
            string(APPEND ranges "{${lo}, ${hi}}, ")
        endforeach ()
        string(APPEND decls "int ${name}_argv(void **);\n")
        string(APPEND entries "    {\"${cls}\", ${isa_index}, {${ranges}}, &${name}_argv},\n")
        list(APPEND libs ${name})
    endforeach ()
    set(DCN_TUNED_LIBRARIES ${libs} PARENT_SCOPE)
    set(DCN_TUNED_DECLS "${decls}" PARENT_SCOPE)
    set(DCN_TUNED_ENTRIES "${entries}" PARENT_SCOPE)
endfunction()
