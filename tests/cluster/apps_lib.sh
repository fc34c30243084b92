# shellcheck shell=bash
# Shared by the apps_*.sh cluster tests (issue 12): one of examples/apps/<app>/ — an app
# PoolGuard did not write — on the local cluster beside the demo's PostgreSQL, with steady
# traffic, and its own poolguard.yaml (a Remediation and a LockTable experiment) applied
# as a user would. Each app folder has setup.sql (its role and database, run as the
# superuser), schema.sql (its table, run as its role), kubernetes.yaml (Secret <name>-db,
# Deployment and Service <name>), poolguard.yaml (Remediation <name>, ChaosExperiment
# <name>-lock-items) and install (its dependencies, from its ecosystem's registry).
# Source lib.sh and remediation_lib.sh first, then call app_lock_scenario.

# app_up DIR NAME PASSWORD: the app and its database in a new namespace, with traffic.
# Sets NS, APP_DIR, REM.
APP_DIR=""
DB_IP="" DB_ADMIN_PASSWORD="" APP_PASSWORD=""
SLOTS_DETECTION=""  # seconds from the scale-out to detection (app_slots_scenario)
SLOTS_DETECTION_ANSWER=""  # seconds from the new pod's listening to detection
LOAD_PIDS=()
HOLD_PIDS=()  # psql sessions the slots scenario holds open (each runs `\! sleep`)
stop_load() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  LOAD_PIDS=()
  release_holds
}
release_holds() {
  local pid
  for pid in "${HOLD_PIDS[@]}"; do
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  HOLD_PIDS=()
}
# The traffic stops first; remediation_cleanup then sees the test's exit code.
app_cleanup() {
  local rc=$?
  set +e
  stop_load
  remediation_cleanup "$rc"
}
app_ips() { kubectl get pods -n "$NS" -l "app.kubernetes.io/name=$REM" -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}'; }
# The app's health endpoint and what its healthy answer holds (an app test may change them
# before app_up: Spring Boot's is /actuator/health, "status":"UP").
APP_HEALTH_PATH=/health
APP_HEALTHY='"status":"ok"'
# All pods (APP_REPLICAS, 2) Ready, each serving /items and a healthy health answer.
APP_REPLICAS=2
app_serves() {
  pods_ready "$REM" "$APP_REPLICAS" || return 1
  local ip
  for ip in $(app_ips); do
    curl -fsS --max-time 3 "http://$ip:8000/items?limit=1" | grep -q '"id"' || return 1
    curl -fsS --max-time 3 "http://$ip:8000$APP_HEALTH_PATH" | grep -q "$APP_HEALTHY" || return 1
  done
}

app_up() {
  APP_DIR="$1" REM="$2"
  local password="$3"
  APP_PASSWORD="$password"
  use_test_cluster jq curl psql
  kubectl get node localnode >/dev/null 2>&1 ||
    fail "no Node 'localnode': the node agent is not running (see docs/localnode.md)"
  [[ -x "$CONTROLLER_BIN" ]] || fail "$CONTROLLER_BIN is missing: build it (scripts/build)"
  trap app_cleanup EXIT INT TERM

  check "the $REM example's dependencies installed"
  local start=$SECONDS out
  out="$("$APP_DIR/install")" || fail "$APP_DIR/install failed"
  ok "$out in $((SECONDS - start))s"

  NS="apps-$REM-$(date +%s)-$RANDOM"
  check "the demo's PostgreSQL in namespace $NS, with the $REM role, database and schema"
  kubectl apply -f "$REPO_DIR/crds/" >/dev/null || fail "kubectl apply -f crds/ failed"
  kubectl create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"
  # Experiments run only in namespaces that opt in (as the demo's does).
  kubectl label namespace "$NS" poolguard.dev/chaos=enabled >/dev/null || fail "cannot label namespace $NS"
  kubectl kustomize "$OVERLAY" | sed "s/poolguard-demo/$NS/g" >"$WORK/stack.yaml" ||
    fail "kubectl kustomize $OVERLAY failed"
  kubectl apply -n "$NS" -l app.kubernetes.io/name=db -f "$WORK/stack.yaml" >/dev/null ||
    fail "cannot apply the database"
  wait_for "db Ready" 120 pods_ready db 1
  local db_ip admin_password
  db_ip="$(jp pod/db-0 '{.status.podIP}' -n "$NS")"
  admin_password="$(kubectl get secret db-credentials -n "$NS" -o jsonpath='{.data.password}' | base64 -d)"
  DB_IP="$db_ip" DB_ADMIN_PASSWORD="$admin_password"
  wait_for "PostgreSQL at $db_ip to accept logins" 60 \
    eval "PGPASSWORD='$admin_password' psql -h '$db_ip' -U app -d app -Atqc 'SELECT 1' >/dev/null 2>&1"
  PGPASSWORD="$admin_password" psql -h "$db_ip" -U app -d app -v ON_ERROR_STOP=1 -q -f "$APP_DIR/setup.sql" ||
    fail "setup.sql failed"
  PGPASSWORD="$password" psql -h "$db_ip" -U "$REM" -d "$REM" -v ON_ERROR_STOP=1 -q -f "$APP_DIR/schema.sql" ||
    fail "schema.sql failed"
  ok "role $REM, database $REM, table items"

  check "$REM (2 replicas) Ready and serving /items, with traffic"
  kubectl apply -n "$NS" -f "$APP_DIR/kubernetes.yaml" >/dev/null || fail "cannot apply kubernetes.yaml"
  wait_for "both $REM pods Ready, /items and /health ok" 180 app_serves
  start_load
  ok "serving at $(app_ips | paste -sd' ')"
  # A leak may take every slot the server has for ordinary roles (app_slots_scenario).
  POOLGUARD_DB_CAPACITY_MARGIN=0 start_controller
}

# as_admin SQL: one value from the database as its superuser (which has reserved slots left
# when ordinary roles have none).
as_admin() { PGPASSWORD="$DB_ADMIN_PASSWORD" psql -h "$DB_IP" -U app -d app -Atqc "$1"; }
# Slots an ordinary role may use, and how many client backends hold one now.
usable_slots() { as_admin "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"; }
slots_in_use() { as_admin "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"; }

# Steady traffic, more than a pool holds, as users would send: 8 clients per pod (pool 5),
# one request each 0.2 s, through the app's Service (its Ready pods only, as on any
# cluster: a pod that is starting gets none). On the local cluster the Service's address
# from the host is the node's proxy address for its ClusterIP (localnode.env); without the
# state dir, each pod is addressed directly.
app_url() {
  local env="${LOCALCLUSTER_STATE_DIR:-}/localnode.env" ip proxy_network
  if [[ -n "${LOCALCLUSTER_STATE_DIR:-}" && -r "$env" ]]; then
    proxy_network="$(sed -n 's/^PROXY_NETWORK=//p' "$env" | tr -d '"')"
    ip="$(jp "service/$REM" '{.spec.clusterIP}' -n "$NS")"
    # A state dir of another (or an older) cluster names another network: use the address
    # only when the app answers there.
    if [[ -n "$proxy_network" && -n "$ip" ]] &&
      curl -fsS -o /dev/null --max-time 2 "http://$proxy_network.${ip##*.}:8000/items?limit=1"; then
      echo "http://$proxy_network.${ip##*.}:8000"
      return 0
    fi
  fi
  return 1
}
start_load() {
  local url ip n targets=()
  if url="$(app_url)"; then
    for ((n = 0; n < 8 * APP_REPLICAS; n++)); do targets+=("$url"); done
  else
    for ip in $(app_ips); do
      for _ in 1 2 3 4 5 6 7 8; do targets+=("http://$ip:8000"); done
    done
  fi
  for url in "${targets[@]}"; do
    (while true; do
      curl -s -o /dev/null --max-time 10 "$url/items?limit=5" || true
      sleep 0.2
    done) >/dev/null 2>&1 &
    LOAD_PIDS+=($!)
  done
}

# Between scenarios: no Remediation, no experiment, the app serving, the traffic on the
# pods there are now (a scenario may have rolled them out).
app_reset() {
  kubectl delete remediation "$REM" -n "$NS" --ignore-not-found --timeout=30s >/dev/null ||
    fail "cannot delete Remediation $REM"
  kubectl delete chaosexperiments --all -n "$NS" --timeout=60s >/dev/null ||
    fail "cannot delete the ChaosExperiments in $NS"
  wait_for "$REM serving" 60 app_serves
  stop_load
  start_load
}

# app_prepare: poolguard.yaml's objects, each in a file of $WORK, as the scenarios apply
# them: remediation.yaml, chaos.yaml (<name>-lock-items), surge.yaml (<name>-surge-report).
# APP_VERIFICATION (a YAML flow map), when set, replaces the example's verification.
# APP_SESSIONS_ROLE, when set, becomes spec.target.sessions.role: a role none of the app's
# sessions has, so that only their client addresses (the pods' IPs) can match them.
app_prepare() {
  awk 'BEGIN{RS="---\n"} /kind: Remediation/' "$APP_DIR/poolguard.yaml" >"$WORK/remediation.yaml"
  awk -v name="name: $REM-lock-items" 'BEGIN{RS="---\n"} index($0, name)' "$APP_DIR/poolguard.yaml" >"$WORK/chaos.yaml"
  awk -v name="name: $REM-surge-report" 'BEGIN{RS="---\n"} index($0, name)' "$APP_DIR/poolguard.yaml" >"$WORK/surge.yaml"
  grep -q "kind: ChaosExperiment" "$WORK/chaos.yaml" || fail "no ChaosExperiment $REM-lock-items in poolguard.yaml"
  grep -q "kind: ChaosExperiment" "$WORK/surge.yaml" || fail "no ChaosExperiment $REM-surge-report in poolguard.yaml"
  if [[ -n "${APP_VERIFICATION:-}" ]]; then
    sed -i "s|^  verification: .*|  verification: $APP_VERIFICATION|" "$WORK/remediation.yaml"
  fi
  if [[ -n "${APP_SESSIONS_ROLE:-}" ]]; then
    sed -i "s|^\(  target: {.*\)}$|\1, sessions: {role: $APP_SESSIONS_ROLE}}|" "$WORK/remediation.yaml"
    grep -q "sessions: {role: $APP_SESSIONS_ROLE}" "$WORK/remediation.yaml" ||
      fail "could not set spec.target.sessions in $WORK/remediation.yaml"
  fi
}

# app_lock_scenario: the Remediation and the LockTable experiment, as a user applies them
# (the Remediation first, the experiment once the app is seen healthy), and the outcome the
# issue asks for: the app's sessions matched by its role (or its pods' addresses), the
# lock detected from what PostgreSQL shows (dbSessions), LockContention with High
# confidence, TerminateBlockingSessions verified, no restart of the app or the database.
app_lock_scenario() {
  app_prepare
  local role="${APP_SESSIONS_ROLE:-$REM}"

  # As on kind: each pod's connections (through the db Service) carry its pod IP.
  check "$REM's database sessions come from its pods' IPs (pg_stat_activity.client_addr)"
  local ips addrs
  ips="$(app_ips | sort | paste -sd' ')"
  addrs="$(PGPASSWORD="$DB_ADMIN_PASSWORD" psql -h "$DB_IP" -U app -d app -Atqc \
    "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE usename = '$REM'" |
    sort | paste -sd' ')" || fail "cannot read pg_stat_activity"
  [[ -n "$ips" && "$addrs" == "$ips" ]] ||
    fail "client addresses of role $REM's sessions are '$addrs', the pods' IPs '$ips'"
  ok "client_addr: $addrs"

  check "Remediation $REM Watching; its sessions found by role $role or their pods' addresses"
  kubectl apply -n "$NS" -f "$WORK/remediation.yaml" >/dev/null || fail "cannot apply the Remediation"
  wait_watching
  wait_rem "status.sessions naming role $role with the app's sessions" 30 \
    ".status.sessions.matchedBy == \"role \\\"$role\\\" or a client address of 2 pods\" and .status.sessions.target >= 2"
  ok "status.sessions: $(rq '.status.sessions | tojson')"

  local chaos="$REM-lock-items" before after
  check "LockTable on $REM's items: detected, LockContention (High), the holder terminated, no restart"
  before="$(jp "deployment/$REM" '{.metadata.generation}' -n "$NS")/$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
  kubectl apply -n "$NS" -f "$WORK/chaos.yaml" >/dev/null || fail "cannot apply the ChaosExperiment"
  wait_chaos_active "$chaos"
  wait_rem "an incident linked to $chaos" 30 ".status.incident.chaosExperiment == \"$NS/$chaos\""
  wait_rem "the incident Resolved" 60 '.status.incident.outcome == "Resolved"'
  rem_is '.status.incident.diagnosis.conclusion == "LockContention" and .status.incident.diagnosis.confidence == "High"' ||
    fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary, checks}')"
  rem_is '[.status.incident.actions[] | {name, result}] == [{name: "TerminateBlockingSessions", result: "Verified"}]' ||
    fail "actions: $(rq '[.status.incident.actions[] | {name, rung, result, verification}]')"
  rem_is '.status.incident.signals.failing | index("dbSessions") != null' ||
    fail "dbSessions was not among the failing signals: $(rq '.status.incident.signals')"
  after="$(jp "deployment/$REM" '{.metadata.generation}' -n "$NS")/$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
  [[ "$after" == "$before" ]] || fail "a workload changed (deployment/statefulset generations $before -> $after)"
  wait_for "the experiment to end (its session terminated)" 60 \
    eval "[[ \$(chaos_phase $chaos) == Completed ]]"
  ok "$(incident_summary)"
  ok "pool check: $(rq '.status.incident.diagnosis.checks[] | select(.name == "PoolTimeouts") | .evidence')"
  ok "lock check: $(rq '.status.incident.diagnosis.checks[] | select(.name == "BlockingSessions") | .evidence')"
  wait_for "$REM serving again" 30 app_serves
  ok "generations (deployment/statefulset) $after unchanged; $REM serves"
}

# take_free_slots USABLE: true once USABLE slots are in use; else opens an idle psql
# session of the app's role for each free one (held until release_holds).
take_free_slots() {
  local in_use i
  in_use="$(slots_in_use)" || return 1
  ((in_use >= $1)) && return 0
  for ((i = in_use; i < $1; i++)); do
    PGAPPNAME=reporting PGPASSWORD="$APP_PASSWORD" psql -h "$DB_IP" -U "$REM" -d "$REM" -Atq \
      -c '\! exec sleep 300' </dev/null >/dev/null 2>&1 &
    HOLD_PIDS+=($!)
  done
  return 1
}

# app_slots_scenario: the server's slots exhausted by other clients while the app scales
# out. An Idle leak (ChaosExperiment <name>-slots) takes every slot the guardrail allows
# (--db-capacity-margin=0: all but the one its own probe was counted in) and an idle psql
# session of the app's role the last one. The app's pools are open and it keeps serving:
# no incident (unless APP_POOL_SHRINKS: its pool closes idle connections, and reopening
# them fails before any scale-out). Then it scales out to 3 replicas (as an autoscaler would under load): the
# new pod gets no connection, its health fails. Expected: ServerSlotsExhausted with High
# confidence, the leak's idle sessions terminated (TerminateBlockingSessions, no restart
# of the app or the database), the new pod serving, the experiment ended by the severed
# sessions (TerminateBlockingSessions ends the longest idle first, at most 64 per action).
app_slots_scenario() {
  local chaos="$REM-slots" usable others leak before after restarted
  [[ -s "$WORK/remediation.yaml" ]] || app_prepare
  check "server slots exhausted by an Idle leak while $REM scales out: ServerSlotsExhausted (High), the leak's sessions terminated, no restart"
  kubectl apply -n "$NS" -f "$WORK/remediation.yaml" >/dev/null || fail "cannot apply the Remediation"
  wait_watching
  usable="$(usable_slots)" || fail "cannot read max_connections"
  others="$(slots_in_use)" || fail "cannot read pg_stat_activity"
  leak=$((usable - others - 1))
  ((leak > 0)) || fail "no slot to leak: $others of $usable in use"
  sed -e "s/name: $REM-lock-items/name: $chaos/" \
    -e "s/connectionLeak: {.*}/connectionLeak: {connections: $leak, mode: Idle}/" \
    -e "s/duration: .*/duration: 3m/" "$WORK/chaos.yaml" >"$WORK/slots.yaml"
  grep -q "connections: $leak, mode: Idle" "$WORK/slots.yaml" || fail "could not write $WORK/slots.yaml"
  kubectl apply -n "$NS" -f "$WORK/slots.yaml" >/dev/null || fail "cannot apply ChaosExperiment $chaos"
  wait_chaos_active "$chaos"
  # Whatever is left goes to another client: idle psql sessions of the app's role.
  # (Topped up: a pool that closes idle connections gives slots back meanwhile.)
  wait_for "every ordinary slot taken ($usable)" 30 take_free_slots "$usable"
  ok "$leak leak sessions + ${#HOLD_PIDS[@]} psql: $(slots_in_use) of $usable slots in use"
  if [[ -z "${APP_POOL_SHRINKS:-}" ]]; then
    check "$REM serves on its open pools: no incident"
    app_serves || fail "$REM stopped serving with its pools open"
    rem_is '.status.incident == null' || fail "an incident opened before the scale-out: $(rq '.status.incident | {id, diagnosis}')"
  fi
  # The leak's sessions become slot holders once idle for idleSlotHolder (10s).
  sleep 10
  ok "phase $(rq .status.phase), $REM serving"

  check "$REM scales out to 3: the new pod gets no connection; healed by ending the leak"
  restarted='{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}'
  before="$(jp "deployment/$REM" "$restarted" -n "$NS")/$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
  local scaled_at detected_at old_ips new_ip="" answered_at=""
  old_ips=" $(app_ips | paste -sd' ') "
  scaled_at="$(date +%s.%N)"
  kubectl scale "deployment/$REM" -n "$NS" --replicas=3 >/dev/null || fail "cannot scale $REM"
  # When the outage can show: the new pod listens (a JVM takes seconds to; detection cannot
  # come before the app runs). Its health check then fails or hangs on the pool.
  local deadline=$((SECONDS + 60)) ip connect
  while ((SECONDS < deadline)) && [[ -z "$answered_at" ]]; do
    if [[ -z "$new_ip" ]]; then
      for ip in $(app_ips); do [[ "$old_ips" == *" $ip "* ]] || new_ip="$ip"; done
    fi
    connect=0
    if [[ -n "$new_ip" ]]; then
      connect="$(curl -s -o /dev/null --max-time 0.3 -w '%{time_connect}' \
        "http://$new_ip:8000$APP_HEALTH_PATH" 2>/dev/null || true)"
    fi
    if [[ "${connect:-0}" != 0 && "$connect" != 0.000000 ]]; then
      answered_at="$(date +%s.%N)"
    else
      sleep 0.1
    fi
  done
  [[ -n "$answered_at" ]] || fail "the new pod ($new_ip) never accepted a connection on port 8000"
  wait_rem "an incident linked to $chaos" 60 ".status.incident.chaosExperiment == \"$NS/$chaos\""
  wait_rem "the incident Resolved" 90 '.status.incident.outcome == "Resolved"'
  rem_is '.status.incident.diagnosis.conclusion == "ServerSlotsExhausted" and .status.incident.diagnosis.confidence == "High"' ||
    fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary, checks}')"
  rem_is '[.status.incident.actions[] | {name, result}] == [{name: "TerminateBlockingSessions", result: "Verified"}]' ||
    fail "actions: $(rq '[.status.incident.actions[] | {name, rung, result, detail, verification}]')"
  after="$(jp "deployment/$REM" "$restarted" -n "$NS")/$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
  [[ "$after" == "$before" ]] || fail "a workload was restarted (deployment restartedAt/statefulset generation $before -> $after)"
  wait_for "the experiment to end (its sessions terminated)" 60 \
    eval "[[ \$(chaos_phase $chaos) == Completed ]]"
  # detectionSeconds counts from the experiment's start; the outage began at the scale-out.
  detected_at="$(date -d "$(rq .status.incident.detectedAt)" +%s.%N)" || fail "no detectedAt"
  SLOTS_DETECTION="$(awk -v a="$scaled_at" -v b="$detected_at" 'BEGIN { printf "%.2f", b - a }')"
  SLOTS_DETECTION_ANSWER="$(awk -v a="$answered_at" -v b="$detected_at" 'BEGIN { printf "%.2f", b - a }')"
  ok "$(incident_summary); detected ${SLOTS_DETECTION}s after the scale-out, ${SLOTS_DETECTION_ANSWER}s after the new pod began listening"
  ok "slots check: $(rq '.status.incident.diagnosis.checks[] | select(.name == "ServerSlots") | .evidence')"
  APP_REPLICAS=3
  wait_for "all 3 $REM pods serving" 60 app_serves
  ok "the experiment $(kubectl get chaosexperiment "$chaos" -n "$NS" -o jsonpath='{.status.reason}'); 3 pods serve"
  release_holds
  kubectl delete chaosexperiment "$chaos" -n "$NS" --timeout=60s >/dev/null || fail "cannot delete $chaos"
  kubectl scale "deployment/$REM" -n "$NS" --replicas=2 >/dev/null || fail "cannot scale $REM back"
  APP_REPLICAS=2
}

# app_surge_scenario: poolguard.yaml's TrafficSurge (<name>-surge-report: 20 clients on
# /items/report, half a second of database time each) while the database stays healthy.
# Expected: ConnectionPoolExhausted with High confidence (the database shows every
# session the pools hold running a query, none blocked, slots to spare), IncreasePoolSize
# (APP_POOL_ENV, 5 -> 15) verified as the first rung, no restart of the database; after
# the surge the size goes back to 5.
APP_POOL_ENV=DB_POOL_SIZE
app_pool_size() { jp "deployment/$REM" "{.spec.template.spec.containers[0].env[?(@.name==\"$APP_POOL_ENV\")].value}" -n "$NS"; }
app_surge_scenario() {
  local chaos="$REM-surge-report" before after
  [[ -s "$WORK/surge.yaml" ]] || app_prepare
  check "TrafficSurge on $REM's /items/report: ConnectionPoolExhausted (High), IncreasePoolSize 5 -> 15 verified first"
  [[ "$(app_pool_size)" == 5 ]] || fail "$APP_POOL_ENV is '$(app_pool_size)' before the surge, expected 5"
  kubectl apply -n "$NS" -f "$WORK/remediation.yaml" >/dev/null || fail "cannot apply the Remediation"
  wait_watching
  before="$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
  kubectl apply -n "$NS" -f "$WORK/surge.yaml" >/dev/null || fail "cannot apply ChaosExperiment $chaos"
  wait_chaos_active "$chaos"
  wait_rem "an incident linked to $chaos" 60 ".status.incident.chaosExperiment == \"$NS/$chaos\""
  wait_rem "its first action finished" 120 '.status.incident.actions[0].result | IN("Verified", "VerificationFailed", "Failed")'
  rem_is '.status.incident.diagnosis.conclusion == "ConnectionPoolExhausted" and .status.incident.diagnosis.confidence == "High"' ||
    fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary, checks}')"
  rem_is '.status.incident.actions[0] | .name == "IncreasePoolSize" and .fromPoolSize == 5 and .toPoolSize == 15 and .result == "Verified"' ||
    fail "first action: $(rq '[.status.incident.actions[] | {name, rung, result, detail, verification}]')"
  [[ "$(app_pool_size)" == 15 ]] || fail "$APP_POOL_ENV is '$(app_pool_size)' while the surge lasts, expected 15"
  after="$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
  [[ "$after" == "$before" ]] || fail "the database was restarted (statefulset generation $before -> $after)"
  ok "$(incident_summary)"
  ok "pool check: $(rq '.status.incident.diagnosis.checks[] | select(.name == "PoolTimeouts") | .evidence')"
  wait_for "the surge to end" 90 eval "[[ \$(chaos_phase $chaos) == Completed ]]"
  wait_for "$APP_POOL_ENV back to 5" 120 eval "[[ \$(app_pool_size) == 5 ]]"
  local revert='incidents | map(select(.poolSizeRevert != null)) | .[0].poolSizeRevert'
  wait_rem "the pool size revert recorded as finished" 90 "$revert | .finishedAt != null"
  wait_for "$REM serving on the old size" 120 app_serves
  # The revert's rollout must not undo itself: the surge's pool timeouts are still in the
  # logs' look-back while new pods start, and no incident may raise the pool on them. (A
  # fresh JVM under traffic may saturate its pool for a moment: that one is real and is
  # not asserted away.)
  local hold_until
  hold_until=$((SECONDS + 8))
  while ((SECONDS < hold_until)); do
    [[ "$(app_pool_size)" == 5 ]] || fail "$APP_POOL_ENV raised again after the revert: $(rq '.status.incident | {id, signals, diagnosis: .diagnosis.summary, actions: [.actions[] | {name, result}]}')"
    rem_is '[incidents[] | .actions[]? | select(.name == "IncreasePoolSize")] | length == 1' ||
      fail "another IncreasePoolSize after the revert: $(rq '.status.incident | {id, signals, diagnosis: .diagnosis.summary}')"
    sleep 1
  done
  ok "reverted: $(rq "$revert | tostring"); the pool not raised again in the 8 s after"
}
