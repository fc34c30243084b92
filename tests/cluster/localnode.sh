#!/usr/bin/env bash
# localnode runs the pods: the target on PostgreSQL from manifests/local-test/demo.yaml
# becomes Ready and reaches `db` by Service name; kubectl logs; rollout restart gives new
# processes; a deleted db pod comes back with its data; SIGKILL restarts a container and
# raises restartCount; a failing readiness probe marks the endpoint not ready; an image
# with no entry in the image table leaves the pod waiting with ErrImagePull. The pod
# network is a network namespace: the root namespace has only the gateway address, pod
# IPs answer from the host through the veth, pods reach the API server at the gateway.
source "$(dirname "$0")/lib.sh"
cluster_up
kubectl get node localnode >/dev/null 2>&1 ||
  fail "no Node 'localnode': the agent is not running (build poolguard-localnode into <repo>/build, or set LOCALNODE_BINARY; see docs/localnode.md)"
# shellcheck source=/dev/null  # written at run time by localcluster/components.d/localnode.sh
source "$LOCALCLUSTER_STATE_DIR/localnode.env"  # POD_NETWORK, PROXY_NETWORK
NETNS="poolguard-${POD_NETWORK##*.}"
new_namespace ln

svc_url() { # service port path
  local ip
  ip="$(jp "service/$1" '{.spec.clusterIP}' -n "$NS")"
  echo "http://$PROXY_NETWORK.${ip##*.}:$2$3"
}
pids_of() { kubectl get pods -n "$NS" -l "$1" -o jsonpath='{range .items[*]}{.status.containerStatuses[0].containerID}{"\n"}{end}' | sed 's|localnode://||' | sort; }
all_ready() { ! kubectl get pods -n "$NS" -l "$1" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -v True >/dev/null && kubectl get pods -n "$NS" -l "$1" -o name | grep . >/dev/null; }

check "kubectl apply of the demo manifests: api and db pods Running and Ready"
start=$SECONDS
kubectl apply -n "$NS" -f "$REPO_DIR/manifests/local-test/demo.yaml" >/dev/null || fail "kubectl apply failed"
wait_for "3 pods" 30 bash -c "[[ \$(kubectl get pods -n '$NS' -o name | grep -c .) -eq 3 ]]"
kubectl wait -n "$NS" --for=condition=Ready pod --all --timeout=90s >/dev/null ||
  fail "pods not Ready: $(kubectl get pods -n "$NS" -o wide)"
phases="$(kubectl get pods -n "$NS" -o jsonpath='{.items[*].status.phase}')"
[[ "$phases" == "Running Running Running" ]] || fail "phases: $phases"
ok "all Ready in $((SECONDS - start))s: $(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}={.status.podIP} {end}')"

check "the pod network is network namespace $NETNS: only the gateway in the root namespace"
ip netns list | grep "^$NETNS\b" >/dev/null || fail "no network namespace $NETNS: $(ip netns list)"
root="$(ip -4 -o addr show | awk '{print $2, $4}')"
grep -qxF "$NETNS $POD_NETWORK.1/24" <<<"$root" || fail "no gateway $POD_NETWORK.1/24 on veth $NETNS: $root"
stray="$(awk '{print $2}' <<<"$root" | grep -E "^(${POD_NETWORK//./\\.}|${PROXY_NETWORK//./\\.})\." | grep -vxF "$POD_NETWORK.1/24" || true)"
[[ -z "$stray" ]] || fail "pod/proxy addresses in the root namespace: ${stray//$'\n'/ }"
# Only this cluster's networks must be clean: other clusters on this machine each have
# their gateway here (and an agent from before the namespace put its pod IPs on lo).
other="$(awk '{print $2}' <<<"$root" | grep -E '^10\.24[45]\.' | grep -Ev '^10\.244\.[0-9]+\.1/24$' || true)"
[[ -z "$other" ]] || echo "[$TEST_NAME]   note: other clusters' 10.244/10.245 addresses here: ${other//$'\n'/ }"
ok "root namespace: $POD_NETWORK.1/24 on $NETNS only; in $NETNS: $(ip -n "$NETNS" -4 -o addr show dev eth0 | awk '{print $4}' | tr '\n' ' ')"

check "a pod's IP answers from the host through the namespace's veth"
apod="$(kubectl get pods -n "$NS" -l app=api -o jsonpath='{.items[0].metadata.name}')"
aip="$(jp "pod/$apod" '{.status.podIP}' -n "$NS")"
apid="$(jp "pod/$apod" '{.status.containerStatuses[0].containerID}' -n "$NS" | sed 's|localnode://||')"
[[ "$aip" == "$POD_NETWORK".* ]] || fail "pod IP $aip not in $POD_NETWORK.0/24"
ip -n "$NETNS" -4 -o addr show | grep " $aip/32 " >/dev/null || fail "$aip is not an address in $NETNS"
[[ "$(ip netns identify "$apid")" == "$NETNS" ]] ||
  fail "container pid $apid is in network namespace '$(ip netns identify "$apid")', not $NETNS"
route="$(ip -4 route get "$aip")"
grep -q " dev $NETNS " <<<"$route" || fail "route to $aip: $route"
out="$(curl -s --max-time 5 "http://$aip:8000/health")"
[[ "$out" == *'"database":"ok"'* ]] || fail "GET http://$aip:8000/health from the host: '$out'"
ok "$apod $aip (pid $apid in $NETNS), route: $(head -n1 <<<"$route"); /health: $out"

check "a pod reaches the API server at the gateway with its service-account token"
kubectl apply -n "$NS" -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: apicheck}
spec:
  restartPolicy: Never
  containers:
    - name: sh
      image: busybox:1.36
      args:
        - -c
        - >-
          sa=/var/run/secrets/kubernetes.io/serviceaccount;
          echo "api at $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT";
          curl -sS --max-time 5 --cacert $sa/ca.crt -H "Authorization: Bearer $(cat $sa/token)"
          "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version" &&
          curl -sS --max-time 5 --cacert $sa/ca.crt -H "Authorization: Bearer $(cat $sa/token)"
          "https://kubernetes.default.svc:$KUBERNETES_SERVICE_PORT/version"
YAML
wait_for "pod apicheck to finish" 60 bash -c "kubectl get pod -n '$NS' apicheck -o jsonpath='{.status.phase}' | grep -Eq 'Succeeded|Failed'"
logs="$(kubectl logs -n "$NS" apicheck 2>&1)"
[[ "$(jp pod/apicheck '{.status.phase}' -n "$NS")" == Succeeded ]] || fail "apicheck failed: $logs"
grep -q "api at $POD_NETWORK.1:" <<<"$logs" || fail "KUBERNETES_SERVICE_HOST is not the gateway: $logs"
[[ "$(grep -c '"gitVersion"' <<<"$logs")" == 2 ]] || fail "no /version from the API server: $logs"
ok "$(head -n1 <<<"$logs"), /version by address and by name"

check "the pod's service-account token is readable by its owner alone"
uid="$(jp pod/apicheck '{.metadata.uid}' -n "$NS")"
token="$(find "$LOCALCLUSTER_STATE_DIR/localnode/pods/$uid/volumes" -name token -type f | head -n1)"
[[ -n "$token" ]] || fail "no token file under $LOCALCLUSTER_STATE_DIR/localnode/pods/$uid/volumes"
[[ "$(stat -c %a "$token")" == 600 ]] || fail "$token has mode $(stat -c %a "$token"), want 600"
[[ "$(stat -c %a "$(dirname "$token")")" == 700 ]] ||
  fail "$(dirname "$token") has mode $(stat -c %a "$(dirname "$token")"), want 700"
ok "$token 600 in a 700 folder"

check "the target reaches db by Service name (GET /health through the api Service)"
for _ in 1 2 3 4 5; do out="$(curl -s --max-time 5 "$(svc_url api 80 /health)")" && [[ "$out" == *'"database":"ok"'* ]] && break; sleep 1; done
[[ "$out" == *'"database":"ok"'* ]] || fail "/health through Service api: '$out'"
ok "$out"

check "kubectl logs shows the target's lines"
logs="$(kubectl logs -n "$NS" deployment/api 2>&1)"
grep -q "listening on" <<<"$logs" || fail "kubectl logs deployment/api: $logs"
ok "$(grep "listening on" <<<"$logs" | head -n1)"

check "kubectl rollout restart deployment/api: new processes, rollout completes"
old="$(pids_of app=api)"
start=$SECONDS
kubectl rollout restart -n "$NS" deployment/api >/dev/null
kubectl rollout status -n "$NS" deployment/api --timeout=90s >/dev/null || fail "rollout did not complete"
wait_for "old api pods gone" 60 bash -c "[[ \$(kubectl get pods -n '$NS' -l app=api -o name | grep -c .) -eq 2 ]]"
new="$(pids_of app=api)"
[[ -n "$new" && -z "$(comm -12 <(echo "$old") <(echo "$new"))" ]] || fail "PIDs before '$old' after '$new'"
# (by its command line: a bare PID may already be reused)
for p in $old; do ! grep -q poolguard-target "/proc/$p/cmdline" 2>/dev/null || fail "old process $p still runs"; done
ok "PIDs ${old//$'\n'/ } -> ${new//$'\n'/ } in $((SECONDS - start))s"

check "deleting the db pod restarts PostgreSQL with its data intact"
# (retried: right after the rollout the Service may have no ready endpoint for a moment)
for _ in 1 2 3 4 5; do
  created="$(curl -sf --max-time 5 -XPOST -H 'content-type: application/json' -d '{"name":"survivor","quantity":7}' "$(svc_url api 80 /items)")" && break
  sleep 1
done
id="$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$created")"
[[ -n "$id" ]] || fail "POST /items: $created"
olduid="$(jp pod/db-0 '{.metadata.uid}' -n "$NS")"
kubectl delete pod -n "$NS" db-0 --wait=true --timeout=60s >/dev/null || fail "cannot delete db-0"
# (an empty uid is no db-0 yet: kubectl wait would fail at once on a missing pod)
wait_for "a new db-0" 60 bash -c "u=\$(kubectl get pod -n '$NS' db-0 -o jsonpath='{.metadata.uid}') && [[ -n \$u && \$u != '$olduid' ]]"
kubectl wait -n "$NS" --for=condition=Ready pod/db-0 --timeout=60s >/dev/null || fail "new db-0 not Ready"
wait_for "item $id readable after the db restart" 30 \
  bash -c "curl -sf --max-time 3 '$(svc_url api 80 "/items/$id")' | grep -q survivor"
ok "item $id survived"

check "SIGKILL of a container's process restarts it and raises restartCount"
pod="$(kubectl get pods -n "$NS" -l app=api -o jsonpath='{.items[0].metadata.name}')"
pid="$(jp "pod/$pod" '{.status.containerStatuses[0].containerID}' -n "$NS" | sed 's|localnode://||')"
# Counted from what it is now: a liveness failure on a loaded machine may have restarted it already.
restarts="$(jp "pod/$pod" '{.status.containerStatuses[0].restartCount}' -n "$NS")"
kill -KILL "$pid" || fail "cannot kill $pid"
wait_for "restartCount above $restarts on $pod" 60 bash -c "[[ \$(kubectl get pod -n '$NS' $pod -o jsonpath='{.status.containerStatuses[0].restartCount}') -gt $restarts ]]"
kubectl wait -n "$NS" --for=condition=Ready "pod/$pod" --timeout=60s >/dev/null || fail "$pod not Ready after restart"
reason="$(jp "pod/$pod" '{.status.containerStatuses[0].lastState.terminated.exitCode}' -n "$NS")"
[[ "$reason" == 137 ]] || fail "lastState.terminated.exitCode '$reason', expected 137"
ok "$pod restarted (new pid $(jp "pod/$pod" '{.status.containerStatuses[0].containerID}' -n "$NS")), exit code 137 recorded"

check "a failing readiness probe marks the pod's endpoint not ready"
kubectl apply -n "$NS" -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: flappy}
spec:
  replicas: 1
  selector: {matchLabels: {app: flappy}}
  template:
    metadata: {labels: {app: flappy}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: sh
          image: busybox:1.36
          args: ["-c", "exec sleep 3600"]
          readinessProbe:
            exec: {command: ["sh", "-c", "test -f \"$LOCALNODE_POD_DATA_DIR/ready\""]}
            periodSeconds: 1
            failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: flappy}
spec:
  selector: {app: flappy}
  ports: [{port: 80}]
YAML
wait_for "a flappy pod" 30 bash -c "kubectl get pods -n '$NS' -l app=flappy -o name | grep -q ."
fpod="$(kubectl get pods -n "$NS" -l app=flappy -o jsonpath='{.items[0].metadata.name}')"
mkdir -p "$LOCALCLUSTER_STATE_DIR/localnode/data/$NS/$fpod"
touch "$LOCALCLUSTER_STATE_DIR/localnode/data/$NS/$fpod/ready"
eps() { kubectl get endpointslices -n "$NS" -l kubernetes.io/service-name=flappy -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready} {end}'; }
wait_for "flappy's endpoint ready" 30 bash -c "$(declare -f eps); NS='$NS'; eps | grep -q '=true'"
rm -f "$LOCALCLUSTER_STATE_DIR/localnode/data/$NS/$fpod/ready"
wait_for "flappy's endpoint not ready" 30 bash -c "$(declare -f eps); NS='$NS'; ! eps | grep -q '=true'"
[[ "$(jp "pod/$fpod" '{.status.conditions[?(@.type=="Ready")].status}' -n "$NS")" == False ]] || fail "pod still Ready"
ok "EndpointSlice now: $(eps)"

check "an image with no entry in the image table fails the pod with ErrImagePull"
kubectl create deployment nope -n "$NS" --image=example.invalid/nope:1 >/dev/null
wait_for "a waiting reason on the nope pod" 30 bash -c \
  "kubectl get pods -n '$NS' -l app=nope -o jsonpath='{.items[0].status.containerStatuses[0].state.waiting.reason}' | grep -Eq 'ErrImagePull|ImagePullBackOff'"
msg="$(kubectl get pods -n "$NS" -l app=nope -o jsonpath='{.items[0].status.containerStatuses[0].state.waiting.message}')"
grep -q "not in the localnode image table" <<<"$msg" || fail "message: $msg"
ok "$msg"
echo "[$TEST_NAME] PASS"
