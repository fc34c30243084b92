#!/usr/bin/env bash
# Issue 12: PoolGuard heals an application it did not write. examples/apps/fastapi (the
# reference design's service: FastAPI + SQLAlchemy, pool 5/0/3/pre-ping, its /health and
# its DB_ERROR logs, no Prometheus metrics, a database role of its own) with a LockTable
# experiment on its items table (apps_lib.sh says what is checked).
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=apps_lib.sh
source "$TESTS_CLUSTER_DIR/apps_lib.sh"
app_up "$REPO_DIR/examples/apps/fastapi" shop shop-password
app_lock_scenario
app_reset
app_slots_scenario
app_reset
app_surge_scenario
echo "[$TEST_NAME] PASS"
