#!/usr/bin/env bash
# etcd keeps the cluster's objects: restarting kube-apiserver keeps them, and so
# does taking the whole cluster down and up again.
source "$(dirname "$0")/lib.sh"
LC="$REPO_DIR/localcluster/lc"
cluster_up
new_namespace pg-persist

check "create a ConfigMap, a Secret, a Deployment and a CRD object"
kubectl create configmap settings -n "$NS" --from-literal=answer=42 >/dev/null || fail "cannot create ConfigMap"
kubectl create secret generic creds -n "$NS" --from-literal=password=s3cret >/dev/null || fail "cannot create Secret"
kubectl create deployment web -n "$NS" --image=example.invalid/web:1 --replicas=2 >/dev/null || fail "cannot create Deployment"
wait_for "the Deployment's ReplicaSet" 60 bash -c "kubectl get rs -n '$NS' -o name | grep -q ."
GROUP="notes$RANDOM.test.poolguard.io"
kubectl apply -f - >/dev/null <<YAML || fail "cannot create CRD notes.$GROUP"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: notes.$GROUP}
spec:
  group: $GROUP
  scope: Namespaced
  names: {plural: notes, singular: note, kind: Note}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {text: {type: string}}}
YAML
trap 'kubectl delete crd "notes.$GROUP" --wait=false >/dev/null 2>&1 || true; cleanup_namespaces' EXIT
kubectl wait --for=condition=Established "crd/notes.$GROUP" --timeout=60s >/dev/null || fail "CRD notes.$GROUP not Established"
wait_for "notes.$GROUP served" 30 kubectl get "notes.$GROUP" -n "$NS"
kubectl apply -n "$NS" -f - >/dev/null <<YAML || fail "cannot create Note keep-me"
apiVersion: $GROUP/v1
kind: Note
metadata: {name: keep-me}
spec: {text: hello}
YAML
uid="$(jp configmap/settings '{.metadata.uid}' -n "$NS")"
ok "created; ConfigMap uid $uid"

verify_objects() { # when
  [[ "$(jp configmap/settings '{.data.answer}' -n "$NS")" == 42 ]] || fail "ConfigMap settings lost or changed $1"
  [[ "$(jp configmap/settings '{.metadata.uid}' -n "$NS")" == "$uid" ]] || fail "ConfigMap settings was recreated $1 (uid changed)"
  [[ "$(jp secret/creds '{.data.password}' -n "$NS" | base64 -d)" == s3cret ]] || fail "Secret creds lost $1"
  [[ "$(jp deployment/web '{.spec.replicas}' -n "$NS")" == 2 ]] || fail "Deployment web lost $1"
  kubectl get rs -n "$NS" -o name | grep . >/dev/null || fail "ReplicaSet lost $1"
  [[ "$(jp "notes.$GROUP/keep-me" '{.spec.text}' -n "$NS")" == hello ]] || fail "custom object Note keep-me lost $1"
  ok "ConfigMap (same uid), Secret, Deployment, ReplicaSet and custom object all present $1"
}

check "restarting kube-apiserver keeps every object"
old_pid="$(cat "$LOCALCLUSTER_STATE_DIR/run/kube-apiserver.pid")"
"$LC" restart kube-apiserver || fail "localcluster/lc restart kube-apiserver failed"
new_pid="$(cat "$LOCALCLUSTER_STATE_DIR/run/kube-apiserver.pid")"
[[ "$old_pid" != "$new_pid" ]] || fail "kube-apiserver pid unchanged ($old_pid): it was not restarted"
! kill -0 "$old_pid" 2>/dev/null || fail "old kube-apiserver (pid $old_pid) still running after restart"
verify_objects "after restarting kube-apiserver (pid $old_pid -> $new_pid)"

check "down then up keeps every object (etcd data persists in the state dir)"
"$REPO_DIR/localcluster/down" || fail "localcluster/down failed"
for pid in $old_pid $new_pid; do ! kill -0 "$pid" 2>/dev/null || fail "process $pid still alive after down"; done
"$REPO_DIR/localcluster/status" >/dev/null && fail "status reports healthy after down"
cluster_up
verify_objects "after down and up"

check "the controllers still work on the restored state (scale to 3 gives 3 pods)"
kubectl scale deployment web -n "$NS" --replicas=3 >/dev/null || fail "cannot scale Deployment web"
wait_for "3 pods for deployment web" 60 bash -c "[[ \$(kubectl get pods -n '$NS' -l app=web -o name | grep -c .) -eq 3 ]]"
ok "3 pods"
echo "[$TEST_NAME] PASS"
