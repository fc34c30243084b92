#!/usr/bin/env bash
# The controller-manager's controllers run: EndpointSlices for a Service,
# garbage collection of a deleted Deployment's ReplicaSets and Pods.
source "$(dirname "$0")/lib.sh"
cluster_up
new_namespace pg-ctrl

kubectl create deployment web -n "$NS" --image=example.invalid/web:1 --replicas=2 >/dev/null || fail "cannot create Deployment"
kubectl expose deployment web -n "$NS" --port=80 >/dev/null || fail "cannot create Service web"

check "the Service gets a ClusterIP from 10.0.0.0/24 and an EndpointSlice"
ip="$(jp service/web '{.spec.clusterIP}' -n "$NS")"
[[ "$ip" == 10.0.0.* ]] || fail "Service web has clusterIP '$ip', expected one in 10.0.0.0/24"
wait_for "an EndpointSlice for service web" 60 \
  bash -c "kubectl get endpointslices -n '$NS' -l kubernetes.io/service-name=web -o name | grep -q ."
ok "clusterIP $ip; $(kubectl get endpointslices -n "$NS" -l kubernetes.io/service-name=web -o name)"

check "deleting the Deployment garbage-collects its ReplicaSet and Pods"
wait_for "2 pods" 60 bash -c "[[ \$(kubectl get pods -n '$NS' -l app=web -o name | grep -c .) -eq 2 ]]"
kubectl delete deployment web -n "$NS" --cascade=background >/dev/null || fail "cannot delete Deployment"
wait_for "ReplicaSets of web to be garbage-collected" 60 \
  bash -c "! kubectl get rs -n '$NS' -l app=web -o name | grep -q ."
wait_for "Pods of web to be garbage-collected" 60 \
  bash -c "! kubectl get pods -n '$NS' -l app=web -o name | grep -q ."
ok "ReplicaSet and Pods gone"
echo "[$TEST_NAME] PASS"
