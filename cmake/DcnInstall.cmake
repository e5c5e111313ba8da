# Installable package: find_package(dcn) -> dcn::dcn.
#
# The installed libdcn.a is one archive holding the runtime wrapper, every
# kernel library and the Halide runtime, so consumers need neither Halide
# nor the generated Halide headers: only runtime/include/dcn/*.h and the
# build's lists (dcn/lists.inc, generated from cmake/DcnRegistry.cmake) are installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_dcn_merged "${CMAKE_BINARY_DIR}/package/libdcn.a")
set(_dcn_parts dcn_core ${DCN_KERNEL_LIBRARIES} dcn_halide_runtime)
set(_dcn_mri "create ${_dcn_merged}\n")
foreach (part IN LISTS _dcn_parts)
    string(APPEND _dcn_mri "addlib $<TARGET_FILE:${part}>\n")
endforeach ()
string(APPEND _dcn_mri "save\nend\n")
file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/package/merge.mri" CONTENT "${_dcn_mri}")

add_custom_command(
    OUTPUT "${_dcn_merged}"
    COMMAND ${CMAKE_COMMAND} -E rm -f "${_dcn_merged}"
    COMMAND ${CMAKE_COMMAND} -DAR=${CMAKE_AR} -DMRI=${CMAKE_BINARY_DIR}/package/merge.mri
            -P ${PROJECT_SOURCE_DIR}/cmake/merge_archives.cmake
    DEPENDS ${_dcn_parts} "${CMAKE_BINARY_DIR}/package/merge.mri"
    COMMENT "Merging dcn, its kernels and the Halide runtime into libdcn.a"
    VERBATIM)
add_custom_target(dcn_package_lib ALL DEPENDS "${_dcn_merged}")

install(FILES "${_dcn_merged}" DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY runtime/include/dcn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES "${CMAKE_BINARY_DIR}/generated/include/dcn/lists.inc" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dcn)
install(TARGETS dcn_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

configure_package_config_file(cmake/dcnConfig.cmake.in
    "${CMAKE_BINARY_DIR}/package/dcnConfig.cmake"
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dcn
    PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file("${CMAKE_BINARY_DIR}/package/dcnConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_BINARY_DIR}/package/dcnConfig.cmake"
              "${CMAKE_BINARY_DIR}/package/dcnConfigVersion.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dcn)
