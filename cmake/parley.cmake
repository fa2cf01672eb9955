# parley_add_library(NAME SOURCES ... DEPS ...)
# One library target per top-level folder: parley::NAME, public headers under
# NAME/include/parley/NAME/, everything else private.
function(parley_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(parley_${name} STATIC ${ARG_SOURCES})
  add_library(parley::${name} ALIAS parley_${name})
  target_include_directories(parley_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(parley_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# parley_add_test(NAME SOURCES ... DEPS ... LABEL unit|integration SUITES a b ...)
# One Boost.Test executable per module; each suite becomes one ctest entry with a label. A test
# links what it tests (DEPS) plus parley::test_support; suites that need a node list
# parley::testing.
function(parley_add_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS;SUITES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${PROJECT_SOURCE_DIR}/tests/crash_report.cpp)
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)  # names in crash stacks
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} parley::test_support
                        Boost::unit_test_framework)
  target_compile_definitions(${name} PRIVATE BOOST_TEST_DYN_LINK)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  # Every top-level suite of the sources must be listed: one left out would never run in CI.
  foreach(source IN LISTS ARG_SOURCES)
    file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/${source} declared
         REGEX "^BOOST_AUTO_TEST_SUITE\\([a-z_0-9]+\\)")
    foreach(line IN LISTS declared)
      string(REGEX REPLACE "^BOOST_AUTO_TEST_SUITE\\(([a-z_0-9]+)\\).*" "\\1" suite "${line}")
      if(NOT suite IN_LIST ARG_SUITES)
        message(FATAL_ERROR "${source} declares suite ${suite}, which ${name}'s SUITES lacks")
      endif()
    endforeach()
  endforeach()
  foreach(suite IN LISTS ARG_SUITES)
    add_test(NAME ${name}.${suite}
             COMMAND ${name} --run_test=${suite} --color_output=no --log_level=test_suite
                     --catch_system_errors=no)  # tests/crash_report.cpp prints the stack
    set_tests_properties(${name}.${suite} PROPERTIES LABELS "${ARG_LABEL}" TIMEOUT ${ARG_TIMEOUT})
  endforeach()
endfunction()
