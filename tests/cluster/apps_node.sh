#!/usr/bin/env bash
# Issue 12: PoolGuard heals an application it did not write. examples/apps/node (Express
# + node-postgres, pool 5 with a 3 s wait, a /health that answers 503 when the database
# check fails, console.error logs, no metrics, a database role of its own) with a LockTable
# experiment on its items table (apps_lib.sh says what is checked).
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=apps_lib.sh
source "$TESTS_CLUSTER_DIR/apps_lib.sh"
app_up "$REPO_DIR/examples/apps/node" catalog catalog-password
# A role none of its sessions has: the pods' addresses alone must find them.
APP_SESSIONS_ROLE=reporting
# node-postgres closes a client idle for idleTimeoutMillis (30 s): a full server hurts
# the app before it scales out.
APP_POOL_SHRINKS=1
app_lock_scenario
app_reset
app_slots_scenario
app_reset
app_surge_scenario
echo "[$TEST_NAME] PASS"
