# Imports libtor.a, built from Debian's tor source package by scripts/build-libtor.sh
# into a cache outside the build tree, as the target tor::libtor with its link set.
#
# SHARDNODE_TOR_DIR: the cache directory (<cache>/tor-<version>). When unset, the
# build script is run at configure time: it reuses a matching cached build or makes one.

set(SHARDNODE_TOR_DIR "" CACHE PATH "Directory holding the cached libtor.a build (see scripts/build-libtor.sh)")

if(NOT SHARDNODE_TOR_DIR)
  message(STATUS "libtor: running scripts/build-libtor.sh (first build takes a few minutes)")
  execute_process(
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/scripts/build-libtor.sh
    OUTPUT_VARIABLE _tor_out
    RESULT_VARIABLE _tor_rc)
  if(NOT _tor_rc EQUAL 0)
    message(FATAL_ERROR "libtor: scripts/build-libtor.sh failed (exit ${_tor_rc}); see its messages above")
  endif()
  string(STRIP "${_tor_out}" _tor_out)
  string(REGEX REPLACE ".*\n" "" _tor_out "${_tor_out}")
  set(SHARDNODE_TOR_DIR "${_tor_out}" CACHE PATH "" FORCE)
endif()

foreach(_f lib/libtor.a include/tor_api.h include/tor_api_internal.h link-libs.txt provider.txt)
  if(NOT EXISTS "${SHARDNODE_TOR_DIR}/${_f}")
    message(FATAL_ERROR "libtor: ${SHARDNODE_TOR_DIR}/${_f} is missing; re-run scripts/build-libtor.sh")
  endif()
endforeach()

file(STRINGS "${SHARDNODE_TOR_DIR}/link-libs.txt" _tor_libs)
file(STRINGS "${SHARDNODE_TOR_DIR}/provider.txt" SHARDNODE_TOR_PROVIDER LIMIT_COUNT 1)
set(_tor_link "")
foreach(_l IN LISTS _tor_libs)
  string(REGEX REPLACE "^-l" "" _name "${_l}")
  if(_name STREQUAL "pthread")
    list(APPEND _tor_link Threads::Threads)
  else()
    list(APPEND _tor_link "${_name}")
  endif()
endforeach()

add_library(tor::libtor STATIC IMPORTED GLOBAL)
set_target_properties(tor::libtor PROPERTIES
  IMPORTED_LOCATION "${SHARDNODE_TOR_DIR}/lib/libtor.a"
  INTERFACE_INCLUDE_DIRECTORIES "${SHARDNODE_TOR_DIR}/include"
  INTERFACE_LINK_LIBRARIES "${_tor_link}")
message(STATUS "libtor: ${SHARDNODE_TOR_PROVIDER} from ${SHARDNODE_TOR_DIR} (links: ${_tor_libs})")
