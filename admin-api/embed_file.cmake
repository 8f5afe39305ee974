# Build-time generator: one file -> a NUL-terminated C array named NAME,
# as lib/db/embed_schema.cmake does for the schema (hex bytes, so the
# text never needs C escaping).  Run with
#   cmake -DINPUT=... -DOUTPUT=... -DNAME=... -P embed_file.cmake
file(READ ${INPUT} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
set(content "/* Generated from ${INPUT} by admin-api/embed_file.cmake: do not edit. */
const char ${NAME}[] = {
${bytes}0x00};
")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE ${OUTPUT} "${content}")
endif()
