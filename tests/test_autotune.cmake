# cmake -DTUNER=<dcn-autotune> -DSOURCE_DIR=<repo> -DWORK_DIR=<dir> -DISAS=<a,b,...>
#       -DBUDGET=<s> -DARGS=<op|--flag|value|...> -P test_autotune.cmake
#
# Runs the autotuner on a tiny shape with a tiny budget and checks what the
# issue promises: exit 0 within the budget, a last stderr line
# "best: <params> median_ms=<x> baseline_ms=<y> speedup=<z>" with z >= 1,
# and a tuned file that the configure step accepts (check_tuned_file.cmake).
cmake_minimum_required(VERSION 3.28)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
string(REPLACE "|" ";" ARGS "${ARGS}")
set(out "${WORK_DIR}/tuned.json")
string(TIMESTAMP t0 "%s")
execute_process(COMMAND "${TUNER}" ${ARGS} --budget-seconds ${BUDGET} --threads 2 --class tiny --out "${out}"
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE stdout)
string(TIMESTAMP t1 "%s")
math(EXPR elapsed "${t1} - ${t0}")
message("${err}")
if (NOT rc EQUAL 0)
    message(FATAL_ERROR "dcn-autotune exited with ${rc}")
endif ()
# Whole seconds from the clock: allow one for rounding and one for process start.
math(EXPR limit "${BUDGET} + 2")
if (elapsed GREATER limit)
    message(FATAL_ERROR "dcn-autotune took ${elapsed} s for a budget of ${BUDGET} s")
endif ()

string(STRIP "${err}" err)
string(REGEX REPLACE ".*\n" "" last "${err}")
if (NOT last MATCHES "^best: ([a-z_]+=-?[0-9]+ )+median_ms=([0-9.]+) baseline_ms=([0-9.]+) speedup=([0-9.]+)$")
    message(FATAL_ERROR "the last line on stderr is not 'best: <params> median_ms=.. baseline_ms=.. speedup=..': '${last}'")
endif ()
set(speedup "${CMAKE_MATCH_4}")
if (speedup LESS 1)
    message(FATAL_ERROR "reported speedup ${speedup} < 1")
endif ()

# The file: valid for the build, and its record agrees with the last line.
execute_process(COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${SOURCE_DIR} -DFILE=${out} -DISAS=${ISAS}
                        -P ${CMAKE_CURRENT_LIST_DIR}/check_tuned_file.cmake
                RESULT_VARIABLE rc OUTPUT_VARIABLE vout ERROR_VARIABLE verr)
if (NOT rc EQUAL 0)
    message(FATAL_ERROR "the tuned file is not valid: ${verr}${vout}")
endif ()
file(READ "${out}" json)
string(JSON banner GET "${json}" "//")
if (NOT banner MATCHES "DO NOT EDIT" OR NOT banner MATCHES "Machine: " OR NOT banner MATCHES "Date: "
    OR NOT banner MATCHES "Shape: ")
    message(FATAL_ERROR "the banner does not say do-not-edit, machine, date and shape: ${banner}")
endif ()
string(JSON file_speedup GET "${json}" result speedup)
string(JSON elapsed_in_file GET "${json}" result elapsed_seconds)
if (file_speedup LESS 1 OR elapsed_in_file GREATER BUDGET)
    message(FATAL_ERROR "result: speedup ${file_speedup}, elapsed ${elapsed_in_file} s (budget ${BUDGET} s)")
endif ()
string(JSON cls GET "${json}" class)
if (NOT cls STREQUAL "tiny")
    message(FATAL_ERROR "class '${cls}', expected 'tiny'")
endif ()
message(STATUS "ok: ${last}")
