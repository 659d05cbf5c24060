# tinbao_include_view(VAR name dir...): a directory in the build tree that holds a symbolic link
# to each listed top-level source directory and nothing else; VAR is set to its path. A target
# whose include path is that directory can include only those parts of the tree.
function(tinbao_include_view var name)
  set(view ${PROJECT_BINARY_DIR}/include-views/${name})
  file(MAKE_DIRECTORY ${view})
  foreach(dir ${ARGN})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${dir} ${view}/${dir} SYMBOLIC)
  endforeach()
  set(${var} ${view} PARENT_SCOPE)
endfunction()

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
