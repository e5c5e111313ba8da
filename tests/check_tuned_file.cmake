# cmake -DSOURCE_DIR=<repo> -DFILE=<tuned.json> -DISAS=<a,b,...> -P check_tuned_file.cmake
#
# Validates one tuned schedule file exactly as the configure step does
# (cmake/DcnTunedFiles.cmake): fails with "<file>: <what is wrong>".
cmake_minimum_required(VERSION 3.28)
include(${SOURCE_DIR}/cmake/DcnLists.cmake)
include(${SOURCE_DIR}/cmake/DcnTunedFiles.cmake)
dcn_load_lists(${SOURCE_DIR})
string(REPLACE "," ";" ISAS "${ISAS}")
dcn_tuned_file_read("${FILE}" tf ISAS ${ISAS})
message(STATUS "${FILE}: ${tf_OPERATOR} class ${tf_CLASS} for ${tf_ISA}: ${tf_PARAMS}; ranges ${tf_RANGES}")
