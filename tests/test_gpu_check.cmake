# cmake -DCHECK=<bench/gpu/check.sh> -DWORK_DIR=<dir> -P test_gpu_check.cmake
#
# The prepared GPU check on a machine without a usable CUDA driver: it must
# exit 2 within seconds, printing one line that names what is missing.
# Where CUDA is usable the check would run for minutes: skipped (77).
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
string(TIMESTAMP t0 "%s")
execute_process(COMMAND bash "${CHECK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 60)
string(TIMESTAMP t1 "%s")
math(EXPR elapsed "${t1} - ${t0}")
set(all "${out}${err}")
if (rc EQUAL 0 OR all MATCHES "^date: ")
    message("CUDA is usable here: the check ran instead of failing")
    cmake_language(EXIT 77)
endif ()
string(STRIP "${all}" all)
if (NOT rc EQUAL 2)
    message(FATAL_ERROR "exit ${rc}, expected 2: ${all}")
endif ()
if (all MATCHES "\n")
    message(FATAL_ERROR "more than one line: ${all}")
endif ()
if (NOT all MATCHES "^gpu check: CUDA is not usable: .+")
    message(FATAL_ERROR "the line does not say what is missing: ${all}")
endif ()
if (elapsed GREATER 10)
    message(FATAL_ERROR "took ${elapsed} s")
endif ()
message(STATUS "ok: ${all}")
