#!/usr/bin/env bash
# Issue 12: PoolGuard heals an application it did not write. examples/apps/spring (Spring
# Boot on HikariCP: pool 5 with a 3 s connection timeout, Actuator's health with its
# database indicator, Micrometer's metrics read by the HikariCP preset, Logback logs, a
# database role of its own) with a LockTable experiment on its items table (apps_lib.sh
# says what is checked).
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=apps_lib.sh
source "$TESTS_CLUSTER_DIR/apps_lib.sh"
APP_HEALTH_PATH=/actuator/health
APP_HEALTHY='"status":"UP"'
app_up "$REPO_DIR/examples/apps/spring" orders orders-password
APP_POOL_ENV=SPRING_DATASOURCE_HIKARI_MAXIMUMPOOLSIZE
app_lock_scenario
app_reset
app_slots_scenario
app_reset
app_surge_scenario
echo "[$TEST_NAME] PASS"
