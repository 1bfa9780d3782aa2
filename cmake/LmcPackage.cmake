# lmc as a package (docs/library.md). Included by compiler/CMakeLists.txt, where the
# toolchain's variables are known.
#
# In this tree (and under add_subdirectory(lmc)): lmc::lmc, lmc::runtime and
# lmc_add_model(), the names find_package(lmc) gives.
#
# `cmake --install`: bin/lmc; lib/ the runtime libraries (lmc_cli too, so the
# installed lmc builds binaries); include/lmc/lmc.h and lmc.hpp; include/lmc/private/
# the runtime headers generated code includes; share/lmc/toolchain.txt, which tells
# the installed lmc where those are (paths relative to the prefix: the installation
# can be moved whole); lib/cmake/lmc/ the CMake package.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_executable(lmc::lmc ALIAS lmc)
add_library(lmc_public_runtime INTERFACE)
target_link_libraries(lmc_public_runtime INTERFACE lmc_runtime)
target_include_directories(lmc_public_runtime INTERFACE ${PROJECT_SOURCE_DIR}/include)
target_compile_features(lmc_public_runtime INTERFACE cxx_std_20)  # <lmc/lmc.hpp>
add_library(lmc::runtime ALIAS lmc_public_runtime)
include(${PROJECT_SOURCE_DIR}/cmake/LmcAddModel.cmake)

set(LMC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/lmc)
# lmc finds its toolchain file at ../share/lmc/ from its own folder (toolchain_paths.h).
install(TARGETS lmc RUNTIME DESTINATION bin)
install(TARGETS ${LMC_RUNTIME_LIBRARIES} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/lmc/lmc.h ${PROJECT_SOURCE_DIR}/include/lmc/lmc.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lmc)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lmc/private/runtime FILES_MATCHING PATTERN "*.h")

set(lines "include ${CMAKE_INSTALL_INCLUDEDIR}/lmc/private\ninclude ${CMAKE_INSTALL_INCLUDEDIR}\n")
foreach(library ${LMC_RUNTIME_LIBRARIES})
  string(APPEND lines "link ${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:${library}>\n")
endforeach()
foreach(library ${LMC_PCRE2_LINK_INPUTS})
  string(APPEND lines "link ${library}\n")
endforeach()
# Tensor-parallel binaries (lmc build --tensor-parallel): lmc_distributed and MPI's libraries.
if(TARGET lmc_distributed)
  install(TARGETS lmc_distributed ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  string(APPEND lines "mpi ${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:lmc_distributed>\n")
  foreach(library ${MPI_C_LIBRARIES})
    string(APPEND lines "mpi ${library}\n")
  endforeach()
endif()
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/package/toolchain.txt CONTENT
"# How the installed lmc builds models: the runtime's headers (-I), then its libraries
# in link order, then what tensor-parallel binaries add (mpi). Relative paths are relative
# to the installation prefix (the folder above bin/lmc).
${lines}")
install(FILES ${PROJECT_BINARY_DIR}/package/toolchain.txt DESTINATION share/lmc)

# lmcConfig.cmake: @-variables now, then the libraries' file names at generate time.
set(LMC_CONFIG_SANITIZE_FLAGS "${LMC_SANITIZE_FLAGS}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lmcConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/package/lmcConfig.cmake.configured
                              INSTALL_DESTINATION ${LMC_INSTALL_CMAKEDIR}
                              PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/package/lmcConfig.cmake
     INPUT ${PROJECT_BINARY_DIR}/package/lmcConfig.cmake.configured)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/lmcConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/lmcConfig.cmake
              ${PROJECT_BINARY_DIR}/package/lmcConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/LmcAddModel.cmake
        DESTINATION ${LMC_INSTALL_CMAKEDIR})
