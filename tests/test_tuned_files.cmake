# cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DISAS=<a,b,...> -P test_tuned_files.cmake
#
# Tuned files with unknown or out-of-range values are refused with a clear
# message (the same validation as at configure time); a good one passes.
cmake_minimum_required(VERSION 3.28)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(good_params [=["params": {"tile_pixels": 8, "channel_vectors": 2}]=])
set(good_ranges [=["applies_to": {"out_channels": [128, 512], "reduction": [1152, 4608], "pixels": [2100, 8400]}]=])
set(head [=["format": 1, "operator": "deform_conv2d", "class": "c4", "isa": "avx512_skylake"]=])

# name | file content | expected message (regex). No unbalanced [ or ] in
# an entry: CMake does not split a list inside brackets.
set(cases
    "good|{${head}, ${good_params}, ${good_ranges}}|"
    "unknown_tunable|{${head}, \"params\": {\"tile_pixelz\": 8}, ${good_ranges}}|unknown tunable 'tile_pixelz' for deform_conv2d \\(schedules/cpu/tunables.cmake lists: tile_pixels"
    "out_of_range|{${head}, \"params\": {\"tile_pixels\": 99}, ${good_ranges}}|params.tile_pixels = 99 is out of range \\[0, 32\\]"
    "negative|{${head}, \"params\": {\"channel_vectors\": -1}, ${good_ranges}}|params.channel_vectors = -1 is out of range \\[1, 8\\]"
    "not_integer|{${head}, \"params\": {\"channel_vectors\": \"two\"}, ${good_ranges}}|params.channel_vectors must be an integer, got 'two'"
    "fraction|{${head}, \"params\": {\"channel_vectors\": 1.5}, ${good_ranges}}|params.channel_vectors must be an integer, got '1.5'"
    "unknown_operator|{\"format\": 1, \"operator\": \"deform_conv3d\", \"class\": \"c4\", \"isa\": \"avx512_skylake\", ${good_params}, ${good_ranges}}|unknown operator 'deform_conv3d' \\(known: deform_conv2d, deform_psroi_pool, deform_roi_pool\\)"
    "pool_tunable_on_conv|{${head}, \"params\": {\"rois_per_task\": 2}, ${good_ranges}}|unknown tunable 'rois_per_task' for deform_conv2d"
    "unknown_isa|{\"format\": 1, \"operator\": \"deform_conv2d\", \"class\": \"c4\", \"isa\": \"avx1024\", ${good_params}, ${good_ranges}}|isa 'avx1024' is not a CPU path of this build"
    "bad_class|{\"format\": 1, \"operator\": \"deform_conv2d\", \"class\": \"C4 big\", \"isa\": \"avx512_skylake\", ${good_params}, ${good_ranges}}|class 'C4 big' must match"
    "format_2|{\"format\": 2, \"operator\": \"deform_conv2d\", \"class\": \"c4\", \"isa\": \"avx512_skylake\", ${good_params}, ${good_ranges}}|format 2 is not supported"
    "missing_ranges|{${head}, ${good_params}}|missing member 'applies_to'"
    "unknown_feature|{${head}, ${good_params}, \"applies_to\": {\"out_channels\": [1, 2], \"reduction\": [1, 2], \"pixels\": [1, 2], \"batch\": [1, 2]}}|unknown shape feature 'batch' in applies_to"
    "missing_feature|{${head}, ${good_params}, \"applies_to\": {\"out_channels\": [1, 2], \"reduction\": [1, 2]}}|applies_to.pixels must be \\[lo, hi\\]"
    "empty_range|{${head}, ${good_params}, \"applies_to\": {\"out_channels\": [512, 128], \"reduction\": [1, 2], \"pixels\": [1, 2]}}|applies_to.out_channels.1. = 128 is out of range .512,"
    "not_json|{\"format\": 1, \"operator\": |not a JSON object")

set(failures "")
foreach (case IN LISTS cases)
    string(REPLACE "|" ";" parts "${case}")
    list(LENGTH parts n)
    list(GET parts 0 name)
    list(GET parts 1 content)
    set(expect "")
    if (n GREATER 2)
        list(GET parts 2 expect)
    endif ()
    set(file "${WORK_DIR}/${name}.json")
    file(WRITE "${file}" "${content}\n")
    execute_process(COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${SOURCE_DIR} -DFILE=${file} -DISAS=${ISAS}
                            -P ${CMAKE_CURRENT_LIST_DIR}/check_tuned_file.cmake
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX REPLACE "[ \n]+" " " err_line "${err}")
    if (expect STREQUAL "")
        if (NOT rc EQUAL 0)
            list(APPEND failures "${name}: a valid file was refused: ${err_line}")
        endif ()
    elseif (rc EQUAL 0)
        list(APPEND failures "${name}: accepted, expected an error matching '${expect}'")
    elseif (NOT err_line MATCHES "${expect}" OR NOT err_line MATCHES "${name}.json: ")
        list(APPEND failures "${name}: message '${err_line}' does not match '${expect}' (and name the file)")
    else ()
        message(STATUS "${name}: refused: ${expect}")
    endif ()
endforeach ()
if (failures)
    list(JOIN failures "\n  " text)
    message(FATAL_ERROR "tuned file validation:\n  ${text}")
endif ()
