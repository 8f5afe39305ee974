# Build-time generator: schema/<driver>/NNN_name.sql -> a C array of
# struct db_schema_file (see db-private.h).  Run with
#   cmake -DSCHEMA_DIR=... -DOUTPUT=... -P embed_schema.cmake
# Bytes are emitted as hex so no SQL text ever needs C escaping.
file(GLOB_RECURSE files RELATIVE ${SCHEMA_DIR} ${SCHEMA_DIR}/*.sql)
list(SORT files)
set(body "")
set(count 0)
foreach(rel ${files})
  if(NOT rel MATCHES "^(sqlite|pgsql|mysql)/([0-9]+)_([A-Za-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "schema/${rel}: expected <driver>/NNN_name.sql")
  endif()
  set(driver ${CMAKE_MATCH_1})
  math(EXPR version "${CMAKE_MATCH_2}")
  set(name ${CMAKE_MATCH_3})
  file(READ ${SCHEMA_DIR}/${rel} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
  string(APPEND arrays "static const char sql_${count}[] = {\n${bytes}0x00};\n")
  string(APPEND body "\t{\"${driver}\", ${version}, \"${name}\", sql_${count}},\n")
  math(EXPR count "${count} + 1")
endforeach()
set(content "/* Generated from schema/ by lib/db/embed_schema.cmake: do not edit. */
#include \"db/db-private.h\"

${arrays}
const struct db_schema_file db_schema_files[] = {
${body}\t{NULL, 0, NULL, NULL},
};
const size_t db_schema_nfiles = ${count};
")
# Rewrite only on change so dependents are not rebuilt for nothing.
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE ${OUTPUT} "${content}")
endif()
