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

SERVER="$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')"
CA="$(mktemp)"
kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$CA"
trap 'rm -f "$CA" "${PATCH_OUT:-}"; cleanup_namespaces' EXIT

# kubectl as the ServiceAccount: same server and CA, the token instead of the admin cert.
as_deployer() {
  kubectl --kubeconfig=/dev/null --server="$SERVER" --certificate-authority="$CA" --token="$TOKEN" "$@"
}
# A bare PATCH of the Deployment as the ServiceAccount (kubectl patch would GET first).
# Prints the HTTP status; the body goes to $PATCH_OUT.
PATCH_OUT="$(mktemp)"
patch_as_deployer() { # replicas
  curl -s -o "$PATCH_OUT" -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/merge-patch+json' -X PATCH --data "{\"spec\":{\"replicas\":$1}}" \
    "$SERVER/apis/apps/v1/namespaces/$NS/deployments/web"
}

check "the token authenticates as system:serviceaccount:$NS:deployer"
who="$(as_deployer auth whoami -o jsonpath='{.status.userInfo.username}')" || fail "kubectl auth whoami with the token failed"
[[ "$who" == "system:serviceaccount:$NS:deployer" ]] || fail "token authenticates as '$who'"
ok "authenticated as $who"

check "without a Role, PATCH of the Deployment is forbidden (403)"
code="$(patch_as_deployer 3)"
[[ "$code" == 403 ]] || fail "expected HTTP 403 for PATCH without a Role, got $code: $(cat "$PATCH_OUT")"
grep -q 'cannot patch resource \\"deployments\\"' "$PATCH_OUT" || fail "403 does not name the verb and resource: $(cat "$PATCH_OUT")"
# shellcheck disable=SC1003  # tr -d '\\' deletes the JSON escapes' backslashes; no quote is escaped
ok "403: $(grep -o 'User [^,]*cannot patch resource[^,]*' "$PATCH_OUT" | head -n1 | tr -d '\\')"

check "with a Role allowing get/patch on deployments and a RoleBinding, the same PATCH succeeds"
kubectl create role deployment-patcher -n "$NS" --verb=get,patch --resource=deployments.apps >/dev/null ||
  fail "cannot create Role deployment-patcher"
kubectl create rolebinding deployer-patches -n "$NS" --role=deployment-patcher \
  --serviceaccount="$NS:deployer" >/dev/null || fail "cannot create RoleBinding deployer-patches"
deadline=$((SECONDS + 30))
until [[ "$(patch_as_deployer 3)" == 200 ]]; do
  ((SECONDS < deadline)) || fail "PATCH still refused 30s after the RoleBinding: $(cat "$PATCH_OUT")"
  sleep 0.5
done
[[ "$(jp deployment/web '{.spec.replicas}' -n "$NS")" == 3 ]] || fail "PATCH returned 200 but replicas is not 3"
as_deployer patch deployment web -n "$NS" -p '{"spec":{"replicas":4}}' >/dev/null ||
  fail "kubectl patch as the ServiceAccount failed despite the Role"
[[ "$(jp deployment/web '{.spec.replicas}' -n "$NS")" == 4 ]] || fail "kubectl patch succeeded but replicas is not 4"
ok "PATCH 200 and kubectl patch work as the ServiceAccount; replicas=4"

check "the Role is scoped: the same token still cannot delete the Deployment"
if out="$(as_deployer delete deployment web -n "$NS" 2>&1)"; then fail "delete succeeded with a get/patch-only Role"; fi
grep -q 'Forbidden' <<<"$out" || fail "expected Forbidden for delete, got: $out"
ok "delete denied"
echo "[$TEST_NAME] PASS"
