# cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DGENERATOR=<gen> -DHALIDE_DIR=<dir> -P test_tuned_configure.cmake
#
# The configure step itself: a tuned file with an unknown tunable stops it
# with a message naming the file and the problem; two files defining one
# class stop it; a good file configures, and its class appears in the
# generated table the runtime searches.
cmake_minimum_required(VERSION 3.28)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(ranges [=["applies_to": {"out_channels": [128, 512], "reduction": [1152, 4608], "pixels": [2100, 8400]}]=])
set(head [=["format": 1, "operator": "deform_conv2d", "isa": "avx512_skylake"]=])
file(WRITE "${WORK_DIR}/bad.json" "{${head}, \"class\": \"c4\", \"params\": {\"tile_pixelz\": 8}, ${ranges}}\n")
file(WRITE "${WORK_DIR}/good.json" "{${head}, \"class\": \"c4\", \"params\": {\"tile_pixels\": 8}, ${ranges}}\n")
file(WRITE "${WORK_DIR}/good2.json" "{${head}, \"class\": \"c4\", \"params\": {\"tile_pixels\": 6}, ${ranges}}\n")

function(configure files expect_ok expect_regex)
    file(REMOVE_RECURSE "${WORK_DIR}/build")
    execute_process(
        COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
                -DHalide_DIR=${HALIDE_DIR} -DDCN_BUILD_TESTS=OFF "-DDCN_TUNED_FILES=${files}"
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX REPLACE "[ \n]+" " " text "${out} ${err}")
    if (expect_ok AND NOT rc EQUAL 0)
        message(FATAL_ERROR "configure with ${files} failed: ${text}")
    elseif (NOT expect_ok AND rc EQUAL 0)
        message(FATAL_ERROR "configure with ${files} succeeded; expected an error matching '${expect_regex}'")
    endif ()
    if (NOT text MATCHES "${expect_regex}")
        message(FATAL_ERROR "configure output does not match '${expect_regex}': ${text}")
    endif ()
endfunction()

configure("${WORK_DIR}/bad.json" FALSE "bad.json: unknown tunable 'tile_pixelz' for deform_conv2d")
configure("${WORK_DIR}/good.json;${WORK_DIR}/good2.json" FALSE "good2.json: class 'c4' of deform_conv2d is already defined by")
configure("${WORK_DIR}/good.json" TRUE "tuned class c4 of deform_conv2d for avx512_skylake: tile_pixels=8")
file(READ "${WORK_DIR}/build/generated/dcn_kernel_table.cpp" table)
# The class's CPU path, as its index in the list.
include("${SOURCE_DIR}/cmake/DcnLists.cmake")
dcn_load_lists("${SOURCE_DIR}")
list(FIND DCN_CPU_PATHS avx512_skylake isa_index)
if (NOT table MATCHES "\"c4\", ${isa_index}, {{128, 512}, {1152, 4608}, {2100, 8400}, }, &dcn_deform_conv2d_mask_f32_fwd_tuned_c4_argv")
    message(FATAL_ERROR "the generated table does not list class c4:\n${table}")
endif ()
file(REMOVE_RECURSE "${WORK_DIR}/build")
message(STATUS "ok")
