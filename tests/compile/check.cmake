# A handler that overrides the wrong delivery callback must not compile:
#   cmake -DCXX=... -DSOURCE=wrong_callback.cc -DINCLUDES="a;b" -P check.cmake
# The file must compile as is (so the failure below is the one meant), and
# fail with WRONG_CALLBACK defined, naming the final function.
set(flags -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags -I${dir})
endforeach()
execute_process(COMMAND ${CXX} ${flags} ${SOURCE} RESULT_VARIABLE ok_rc ERROR_VARIABLE ok_err)
if(NOT ok_rc EQUAL 0)
  message(FATAL_ERROR "the right callbacks do not compile:\n${ok_err}")
endif()
execute_process(COMMAND ${CXX} ${flags} -DWRONG_CALLBACK ${SOURCE} RESULT_VARIABLE bad_rc
                ERROR_VARIABLE bad_err)
if(bad_rc EQUAL 0)
  message(FATAL_ERROR "overriding the wrong delivery callback compiled")
endif()
string(REGEX MATCHALL "final" finals "${bad_err}")
list(LENGTH finals n)
if(n LESS 2)
  message(FATAL_ERROR "the wrong callbacks failed, but not as final functions:\n${bad_err}")
endif()
message(STATUS "both wrong callbacks are refused as overrides of final functions")
