# PoolGuard on kind (docs/kind.md). Needs docker, kind, kubectl and helm.
#   make kind-up     create the cluster, build and load the images, install the chart and the demo
#   make kind-demo   run the examples in manifests/examples/ and watch them
#   make kind-down   delete the cluster
# Building and testing on this machine without Docker: scripts/build, scripts/test.

KIND_CLUSTER ?= poolguard
KIND         ?= kind
KUBECTL      ?= kubectl
HELM         ?= helm
DOCKER       ?= docker
TAG          ?= dev
TARGET_IMAGE     ?= poolguard/target:$(TAG)
CONTROLLER_IMAGE ?= poolguard/controller:$(TAG)
DEMO_NAMESPACE   ?= poolguard-demo
SYSTEM_NAMESPACE ?= poolguard-system
DEMO_SECONDS     ?= 180
KCTX = --context kind-$(KIND_CLUSTER)

.PHONY: images kind-up kind-cluster kind-load kind-install kind-demo kind-down

images:
	$(DOCKER) build -f docker/target.Dockerfile -t $(TARGET_IMAGE) .
	$(DOCKER) build -f docker/controller.Dockerfile -t $(CONTROLLER_IMAGE) .

kind-cluster:
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 120s; \
	fi

kind-load: images
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(TARGET_IMAGE) $(CONTROLLER_IMAGE)

# The demo first: the chart binds the controller's target role in $(DEMO_NAMESPACE),
# which must exist. The chart (CRDs, controller, RBAC) after.
kind-install:
	$(KUBECTL) $(KCTX) apply -k manifests/overlays/kind
	$(HELM) --kube-context kind-$(KIND_CLUSTER) upgrade --install poolguard helm/poolguard \
	  --namespace $(SYSTEM_NAMESPACE) --create-namespace \
	  --set image.tag=$(TAG) --set grafanaDashboard.enabled=false --wait --timeout 5m
	$(KUBECTL) $(KCTX) -n $(DEMO_NAMESPACE) rollout status statefulset/db --timeout=5m
	$(KUBECTL) $(KCTX) -n $(DEMO_NAMESPACE) rollout status deployment/api --timeout=5m
	$(KUBECTL) $(KCTX) -n $(DEMO_NAMESPACE) rollout status deployment/prometheus --timeout=5m
	$(KUBECTL) $(KCTX) -n $(DEMO_NAMESPACE) rollout status deployment/grafana --timeout=5m
	@echo
	@echo "PoolGuard demo is up:"
	@echo "  api         http://localhost:8000/health   (and /items, /metrics)"
	@echo "  Prometheus  http://localhost:9090"
	@echo "  Grafana     http://localhost:3000          (dashboard PoolGuard; admin/admin)"
	@echo "Next: make kind-demo"

kind-up: kind-cluster kind-load kind-install

# Applies every example in manifests/examples/ into $(DEMO_NAMESPACE) and shows the
# resources and the api's health for $(DEMO_SECONDS) s, or until every
# ChaosExperiment has finished.
kind-demo:
	@test -n "$$(ls manifests/examples/*.yaml 2>/dev/null)" || { echo "manifests/examples/ has no examples"; exit 1; }
	curl -fsS http://localhost:8000/health; echo
	$(KUBECTL) $(KCTX) apply -n $(DEMO_NAMESPACE) -f manifests/examples/
	@end=$$(( $$(date +%s) + $(DEMO_SECONDS) )); \
	while [ $$(date +%s) -lt $$end ]; do \
	  echo "---- $$(date +%T)  api /health: $$(curl -s -o /dev/null -w '%{http_code}' --max-time 4 http://localhost:8000/health)"; \
	  $(KUBECTL) $(KCTX) get -n $(DEMO_NAMESPACE) chaosexperiments,remediations 2>/dev/null; \
	  pending=$$($(KUBECTL) $(KCTX) get -n $(DEMO_NAMESPACE) chaosexperiments -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' \
	    | grep -cvE '^(Completed|Aborted|Failed|Rejected)$$' || true); \
	  [ "$$pending" = 0 ] && break; \
	  sleep 5; \
	done
	$(KUBECTL) $(KCTX) get -n $(DEMO_NAMESPACE) chaosexperiments,remediations -o wide
	$(KUBECTL) $(KCTX) get events -n $(DEMO_NAMESPACE) --sort-by=.lastTimestamp | tail -n 30
	@phases=$$($(KUBECTL) $(KCTX) get -n $(DEMO_NAMESPACE) chaosexperiments -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}'); \
	echo "$$phases"; \
	if echo "$$phases" | grep -qvE '=(Completed|Aborted)$$'; then echo "some experiment did not complete"; exit 1; fi
	curl -fsS http://localhost:8000/health; echo

kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)
