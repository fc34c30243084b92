#!/usr/bin/env bash
# RBAC is real: a ServiceAccount token without rights gets 403 when patching a
# Deployment; after a Role and RoleBinding that allow it, the same token succeeds.
# Also: the controller-manager creates the namespace's default ServiceAccount.
source "$(dirname "$0")/lib.sh"
cluster_up
new_namespace pg-rbac

check "the controller-manager creates the 'default' ServiceAccount in a new namespace"
wait_for "serviceaccount default in $NS" 60 kubectl get serviceaccount default -n "$NS"
ok "default ServiceAccount present"

kubectl create serviceaccount deployer -n "$NS" >/dev/null || fail "cannot create ServiceAccount deployer"
kubectl create deployment web -n "$NS" --image=example.invalid/web:1 >/dev/null || fail "cannot create Deployment web"
TOKEN="$(kubectl create token deployer -n "$NS" --duration=10m)" || fail "kubectl create token failed"
[[ -n "$TOKEN" ]] || fail "kubectl create token printed an empty token"

# kubectl as the ServiceAccount: same server and CA, token instead of the admin cert.
as_deployer() {
  kubectl --kubeconfig=/dev/null \
    --server="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')" \
    --certificate-authority=<(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d) \
    --token="$TOKEN" "$@"
}
PATCH='{"spec":{"replicas":3}}'

check "the token authenticates as system:serviceaccount:$NS:deployer"
who="$(as_deployer auth whoami -o jsonpath='{.status.userInfo.username}')" || fail "kubectl auth whoami with the token failed"
[[ "$who" == "system:serviceaccount:$NS:deployer" ]] || fail "token authenticates as '$who'"
ok "authenticated as $who"

check "without a Role, patching the Deployment is forbidden (403)"
if out="$(as_deployer patch deployment web -n "$NS" -p "$PATCH" 2>&1)"; then
  fail "patch succeeded without any Role: $out"
fi
grep -q 'Forbidden' <<<"$out" || fail "expected a Forbidden (403) error, got: $out"
grep -q 'cannot patch resource "deployments"' <<<"$out" || fail "403 does not name the verb/resource: $out"
ok "denied: $out"

check "with a Role allowing get/patch on deployments and a RoleBinding, the patch succeeds"
kubectl create role deployment-patcher -n "$NS" --verb=get,patch --resource=deployments.apps >/dev/null ||
  fail "cannot create Role deployment-patcher"
kubectl create rolebinding deployer-patches -n "$NS" --role=deployment-patcher \
  --serviceaccount="$NS:deployer" >/dev/null || fail "cannot create RoleBinding deployer-patches"
wait_for "RBAC to allow the patch" 30 as_deployer patch deployment web -n "$NS" -p "$PATCH"
[[ "$(jp deployment/web '{.spec.replicas}' -n "$NS")" == 3 ]] || fail "patch reported success but replicas is not 3"
ok "patched as the ServiceAccount; replicas=3"

check "the Role is scoped: the same token still cannot delete the Deployment"
if out="$(as_deployer delete deployment web -n "$NS" 2>&1)"; then fail "delete succeeded with a get/patch-only Role"; fi
grep -q 'Forbidden' <<<"$out" || fail "expected Forbidden for delete, got: $out"
ok "delete denied"
echo "[$TEST_NAME] PASS"
