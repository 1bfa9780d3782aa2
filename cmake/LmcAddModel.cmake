# lmc_add_model(<target> SPEC <spec.yaml> [SET key=value ...] [NATIVE])
#
# Compiles a spec at build time (`lmc build --library`) into a static library
# target that exports lmc_open_<name>, <name> being the spec's name made an
# identifier (declare it with LMC_DECLARE_MODEL(name) from <lmc/lmc.h>). Linking
# <target> links the runtime too (lmc::runtime):
#
#   lmc_add_model(tinytales_model SPEC specs/tinytales.yaml NATIVE)
#   target_link_libraries(app PRIVATE tinytales_model)
#
# SPEC and relative SET paths are relative to the calling CMakeLists.txt. SET
# overrides a spec key (lmc build --set); NATIVE compiles for this machine's CPU
# only (lmc build --native; also $LMC_BUILD_NATIVE=1 at build time). The model is
# rebuilt when the spec or lmc changes (not when a base the spec extends does),
# and lmc's cache makes a rebuild of unchanged input a copy.
#
# Works with find_package(lmc) (lmcConfig.cmake includes this file) and inside
# lmc's own tree or add_subdirectory(lmc) (cmake/LmcPackage.cmake). docs/library.md.
function(lmc_add_model target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NATIVE" "SPEC" "SET")
  set(usage "expected lmc_add_model(<target> SPEC <spec.yaml> [SET key=value ...] [NATIVE])")
  if(arg_UNPARSED_ARGUMENTS OR arg_KEYWORDS_MISSING_VALUES OR NOT arg_SPEC)
    message(FATAL_ERROR "lmc_add_model(${target}): ${usage}")
  endif()
  if(NOT TARGET lmc::lmc)
    message(FATAL_ERROR "lmc_add_model(${target}): no lmc::lmc target: "
                        "find_package(lmc) or add_subdirectory(lmc) first")
  endif()
  cmake_path(ABSOLUTE_PATH arg_SPEC BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE
             OUTPUT_VARIABLE spec)
  if(NOT EXISTS "${spec}")
    message(FATAL_ERROR "lmc_add_model(${target}): SPEC ${spec} does not exist")
  endif()

  set(library "${CMAKE_CURRENT_BINARY_DIR}/lmc_models/lib${target}.a")
  set(flags --library)
  foreach(value IN LISTS arg_SET)
    list(APPEND flags --set "${value}")
  endforeach()
  if(arg_NATIVE)
    list(APPEND flags --native)
  endif()
  # Rebuild when lmc changes; in lmc's own tree also when the runtime it compiles against does.
  get_target_property(lmc_imported lmc::lmc IMPORTED)
  if(lmc_imported)
    set(depends "$<TARGET_FILE:lmc::lmc>")
  else()
    set(depends lmc lmc_runtime lmc_kernels lmc_cpu_targets)
  endif()
  # The specs `spec` extends and its chat template: listed by lmc in a depfile where the
  # generator reads one (Ninja, Makefiles), so editing a base spec rebuilds the model.
  set(depfile_args)
  if(CMAKE_GENERATOR MATCHES "Ninja|Makefiles")
    list(APPEND flags --depfile "${library}.d")
    set(depfile_args DEPFILE "${library}.d")
  endif()
  add_custom_command(
    OUTPUT "${library}"
    COMMAND "$<TARGET_FILE:lmc::lmc>" build "${spec}" ${flags} -o "${library}"
    DEPENDS "${spec}" ${depends}
    ${depfile_args}
    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
    COMMENT "lmc build ${arg_SPEC} --library (${target})"
    VERBATIM)
  add_custom_target(${target}_lmc_build DEPENDS "${library}")

  add_library(${target} STATIC IMPORTED GLOBAL)
  # The model is C++: a C program linking it links with the C++ compiler.
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${library}"
                                             IMPORTED_LINK_INTERFACE_LANGUAGES CXX)
  target_link_libraries(${target} INTERFACE lmc::runtime)
  add_dependencies(${target} ${target}_lmc_build)
endfunction()
