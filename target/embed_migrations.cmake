# Writes a C++ source holding every target/migrations/*.sql, so the binary carries its
# schema and needs no files at run time. Run with -DSOURCE_DIR=... -DOUTPUT=...
file(GLOB files "${SOURCE_DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME)
  if(NOT name MATCHES "^([0-9]+)_[A-Za-z0-9_]+\\.sql$")
    message(FATAL_ERROR "migration file name must look like 0001_description.sql: ${name}")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  file(READ "${f}" sql)
  string(APPEND body "      {${version}, \"${name}\", R\"pgmigration(${sql})pgmigration\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from target/migrations by embed_migrations.cmake. Do not edit.
#include \"migrations.h\"

namespace poolguard::target {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration> migrations = {
${body}  };
  return migrations;
}

}  // namespace poolguard::target
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
