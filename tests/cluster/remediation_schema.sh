#!/usr/bin/env bash
# The Remediation CRD against the real API server: a minimal object is accepted and
# defaulted by the schema, and each kind of bad spec a user may write is rejected at
# `kubectl apply` (server-side dry run: nothing is stored), with an error naming the field.
# (The controller checks the same again and marks what gets past Invalid: unit-tested in
# controller/tests/remediation_types_test.cc.)
source "$(dirname "$0")/lib.sh"
cluster_up

new_namespace pg-remschema

check "the CRDs apply (server side) and are Established"
kubectl apply --server-side --force-conflicts -f "$REPO_DIR/crds/" >/dev/null || fail "applying crds/ failed"
kubectl wait --for=condition=Established crd/remediations.poolguard.dev --timeout=60s >/dev/null ||
  fail "remediations.poolguard.dev not Established"
wait_for "remediations in API discovery" 30 kubectl get remediations -n "$NS"
ok "remediations.poolguard.dev served"

# dry_run SPEC_YAML: the API server's answer to a server-side dry run of a Remediation
# with that spec (a flow mapping); its output, and its exit status.
dry_run() {
  kubectl apply --dry-run=server -n "$NS" -o json -f - 2>&1 <<YAML
apiVersion: poolguard.dev/v1alpha1
kind: Remediation
metadata: {name: schema-check}
spec: $1
YAML
}
MIN='target: {deployment: api}, database: {service: db, credentialsSecret: db-credentials}'

check "a minimal Remediation (target + database) is accepted and the schema fills in the defaults"
out="$(dry_run "{$MIN}")" || fail "the minimal Remediation was rejected: $out"
defaults="$(jq -c '.spec | [.detection.interval, .detection.for, .strategy, .actions, .increasePoolSize.step,
  .increasePoolSize.max, .verification.timeout, .safety.maxActionsPerHour, .safety.loopBreaker.relapseWindow]' <<<"$out")" ||
  fail "dry run output is not JSON: $out"
[[ "$defaults" == '["1s","3s","Ladder",["RestartDeployment","RestartDatabase","IncreasePoolSize"],5,20,"60s",3,"5m"]' ]] ||
  fail "defaults: $defaults"
ok "defaults $defaults"

# Each case: a spec, then what the rejection must name (a field path; for rules on a whole
# object, their message).
cases=(
  "{$MIN, strategy: Random}" 'spec.strategy'
  "{$MIN, actions: [RestartDeployment, Reboot]}" 'spec.actions[1]'
  "{$MIN, actions: [RestartDeployment], safety: {requireApproval: [RestartDatabase]}}" 'requireApproval may only name actions listed in actions'
  "{$MIN, increasePoolSize: {step: 10, max: 5}}" 'max must be at least step'
  "{$MIN, detection: {interval: soon}}" 'spec.detection.interval'
  "{$MIN, detection: {interval: 50ms}}" 'spec.detection.interval: Invalid value: "50ms": must be at least 100ms'
  "{$MIN, verification: {timeout: 500ms}}" 'spec.verification.timeout: Invalid value: "500ms": must be at least 1s'
  "{$MIN, safety: {loopBreaker: {relapseWindow: 0s}}}" 'spec.safety.loopBreaker.relapseWindow: Invalid value: "0s": must be at least 1s'
  "{$MIN, detection: {prometheus: {url: 'http://p:9090', queries: {errorRatio: 'rate(x{ns=\"\$ns\"}[1m])'}}}}" 'spec.detection.prometheus.queries.errorRatio'
  "{database: {service: db, credentialsSecret: db-credentials}}" 'spec.target'
  "{$MIN, detection: {prometheus: {url: 'https://p:9090'}}}" 'https:// is not supported'
  "{$MIN, increasePoolSize: {env: DATABASE_URL}}" 'spec.increasePoolSize.env'
  "{target: {deployment: 'api/../x'}, database: {service: db, credentialsSecret: db-credentials}}" 'spec.target.deployment'
  "{$MIN, target: {deployment: api, service: 'API'}}" 'spec.target.service'
)
check "$((${#cases[@]} / 2)) kinds of bad spec are rejected at apply, naming the field"
for ((i = 0; i < ${#cases[@]}; i += 2)); do
  spec="${cases[i]}" want="${cases[i + 1]}"
  if out="$(dry_run "$spec")"; then fail "accepted: $spec"; fi
  [[ "$out" == *"is invalid"* ]] || fail "not a validation error for $spec: $out"
  [[ "$out" == *"$want"* ]] || fail "the rejection of $spec does not say '$want': $out"
  ok "rejected: $want"
done

echo "[$TEST_NAME] PASS"
