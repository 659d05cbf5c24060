# tinbao_add_test(NAME name SOURCES a.cpp b.cpp LIBS lib...)
# One GoogleTest binary per module, its tests discovered by ctest.
include(GoogleTest)
find_package(GTest REQUIRED)
function(tinbao_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(${T_NAME} PRIVATE
    TINBAO_SOURCE_DIR="${PROJECT_SOURCE_DIR}" TINBAO_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()
