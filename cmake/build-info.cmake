# Writes OUT, a header defining TINBAO_COMMIT: the commit the sources are built from
# (`git rev-parse`), "" outside a git checkout. Run at every build (daemon/CMakeLists.txt) but
# rewritten only when the commit changes, so only daemon/build_info.cpp compiles again.
# Usage: cmake -DSRC=source-dir -DOUT=header -P build-info.cmake
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT commit MATCHES "^[0-9a-f]+$")
  set(commit "")
endif()
set(text "#define TINBAO_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
