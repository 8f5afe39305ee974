# Build-time generator: every file under DIR -> one C table
# wm_static_files[] of {name, bytes, length} (hex bytes, as
# admin-api/embed_file.cmake does for one file), so the binary serves the
# browser UI it was built with.  Run with
#   cmake -DDIR=... -DOUTPUT=... -P embed_static.cmake
file(GLOB_RECURSE files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)
set(content "/* Generated from ${DIR} by webmail/embed_static.cmake: do not edit. */
#include <stddef.h>
#include \"wm-core.h\"
")
set(table "")
set(i 0)
foreach(f ${files})
  if(IS_DIRECTORY ${DIR}/${f} OR f MATCHES "(^|/)\\.")
    continue()
  endif()
  file(READ ${DIR}/${f} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
  string(APPEND content "static const unsigned char f${i}[] = {\n${bytes}0x00};\n")
  string(APPEND table "\t{\"${f}\", f${i}, ${len}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND content "const struct wm_static_file wm_static_files[] = {\n${table}\t{NULL, NULL, 0},\n};\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE ${OUTPUT} "${content}")
endif()
