# The Remediation resource's pure logic (spec and status types, detection, diagnosis, the
# next-step planner) and its unit tests. Kept in a fragment of its own so it can grow
# beside the ChaosExperiment reconciler without edits to the same lines.
target_sources(poolguard_controller PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_types.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_signals.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_diagnose.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_plan.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_db.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_http.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_cluster.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_collector.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_reconciler.cc
)

add_executable(remediation_unit_tests
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_types_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_signals_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_diagnose_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_plan_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_collector_test.cc
)
target_link_libraries(remediation_unit_tests PRIVATE poolguard_controller GTest::gtest_main)
gtest_discover_tests(remediation_unit_tests DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit)

# The diagnostic connection, the login, the TCP probe and the HTTP client against real
# sockets. One process per run: the PostgreSQL half starts one server (scripts/pg) for all
# its tests; the HTTP half needs nothing but loopback.
add_executable(remediation_io_tests ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_io_test.cc)
target_link_libraries(remediation_io_tests PRIVATE poolguard_controller GTest::gtest_main)
target_include_directories(remediation_io_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
target_compile_definitions(remediation_io_tests
  PRIVATE POOLGUARD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_test(NAME RemediationIo.http
  COMMAND remediation_io_tests --gtest_filter=RemediationHttp.*)
set_tests_properties(RemediationIo.http PROPERTIES LABELS unit TIMEOUT 120)
add_test(NAME RemediationIo.postgres
  COMMAND remediation_io_tests --gtest_filter=RemediationDb.*)
set_tests_properties(RemediationIo.postgres PROPERTIES LABELS postgres TIMEOUT 600)
