#!/usr/bin/env bash
# kubectl apply of a namespace, a CRD with an OpenAPI schema and a Deployment:
# the CRD is served, a schema violation is rejected naming the field, the
# Deployment gets a ReplicaSet and Pending Pods (no node), and
# `kubectl rollout restart` creates a new ReplicaSet.
source "$(dirname "$0")/lib.sh"
cluster_up

NS="pg-workloads-$(date +%s)-$RANDOM"
TEST_NAMESPACES=("$NS"); trap cleanup_namespaces EXIT
GROUP="widgets$RANDOM.test.poolguard.io"

check "kubectl apply creates a namespace, a CRD and a Deployment"
kubectl apply -f - <<YAML || fail "kubectl apply of namespace, CRD and Deployment failed"
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.$GROUP
spec:
  group: $GROUP
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, blue]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: $NS
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.invalid/web:1
YAML
ok "applied"

check "the CRD becomes Established and its resource is served"
kubectl wait --for=condition=Established "crd/widgets.$GROUP" --timeout=60s >/dev/null ||
  fail "CRD widgets.$GROUP not Established within 60s"
wait_for "widgets.$GROUP in API discovery" 30 kubectl get "widgets.$GROUP" -n "$NS"
kubectl apply -n "$NS" -f - <<YAML || fail "a valid Widget was rejected"
apiVersion: $GROUP/v1
kind: Widget
metadata: {name: good}
spec: {size: 3, color: red}
YAML
[[ "$(jp "widgets.$GROUP/good" '{.spec.size}' -n "$NS")" == 3 ]] || fail "Widget good not readable back with spec.size=3"
ok "CRD served; a valid object was stored"

check "an object violating the schema is rejected, naming the field"
if out="$(kubectl apply -n "$NS" -f - 2>&1 <<YAML
apiVersion: $GROUP/v1
kind: Widget
metadata: {name: bad}
spec: {size: 42, color: green}
YAML
)"; then fail "a Widget with size=42 and color=green was accepted: $out"; fi
grep -q 'spec.size' <<<"$out" || fail "rejection does not name spec.size: $out"
grep -q 'spec.color' <<<"$out" || fail "rejection does not name spec.color: $out"
ok "rejected: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"

check "the Deployment gets a ReplicaSet and 2 Pods, Pending (no node yet)"
wait_for "a ReplicaSet for deployment web" 60 \
  bash -c "kubectl get rs -n '$NS' -l app=web -o name | grep -q ."
wait_for "2 pods for deployment web" 60 \
  bash -c "[[ \$(kubectl get pods -n '$NS' -l app=web -o name | grep -c .) -eq 2 ]]"
phases="$(kubectl get pods -n "$NS" -l app=web -o jsonpath='{.items[*].status.phase}')"
[[ "$phases" == "Pending Pending" ]] || fail "expected two Pending pods, got phases '$phases'"
owner="$(kubectl get pods -n "$NS" -l app=web -o jsonpath='{.items[0].metadata.ownerReferences[0].kind}')"
[[ "$owner" == ReplicaSet ]] || fail "pod owner is '$owner', expected ReplicaSet"
ok "ReplicaSet $(kubectl get rs -n "$NS" -l app=web -o name) with pods: $phases"

check "kubectl rollout restart creates a new ReplicaSet"
old_rs="$(kubectl get rs -n "$NS" -l app=web -o jsonpath='{.items[*].metadata.name}')"
kubectl rollout restart -n "$NS" deployment/web >/dev/null || fail "kubectl rollout restart failed"
wait_for "a second ReplicaSet after rollout restart" 60 \
  bash -c "[[ \$(kubectl get rs -n '$NS' -l app=web -o name | grep -c .) -eq 2 ]]"
new_rs="$(kubectl get rs -n "$NS" -l app=web -o jsonpath='{.items[*].metadata.name}')"
ok "ReplicaSets before: $old_rs; after: $new_rs"

check "deleting the namespace removes everything in it (namespace controller, GC)"
kubectl delete crd "widgets.$GROUP" --wait=true --timeout=60s >/dev/null || fail "cannot delete CRD widgets.$GROUP"
kubectl delete namespace "$NS" --wait=true --timeout=90s >/dev/null || fail "namespace $NS not deleted within 90s"
ok "namespace $NS and its contents deleted"
echo "[$TEST_NAME] PASS"
