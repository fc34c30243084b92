# The Remediation resource's pure logic (spec and status types, detection, diagnosis, the
# next-step planner) and its unit tests. Kept in a fragment of its own so it can grow
# beside the ChaosExperiment reconciler without edits to the same lines.
target_sources(poolguard_controller PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_types.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_signals.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_diagnose.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/src/remediation_plan.cc
)

add_executable(remediation_unit_tests
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_types_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_signals_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_diagnose_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/tests/remediation_plan_test.cc
)
target_link_libraries(remediation_unit_tests PRIVATE poolguard_controller GTest::gtest_main)
gtest_discover_tests(remediation_unit_tests DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit)
