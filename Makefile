# PoolGuard on kind (docs/kind.md). Needs docker, kind, kubectl and helm.
#   make kind-up     create the cluster, build and load the images, install the chart and the demo
#   make kind-demo   the README demo on kind: Remediation + LockTable outage, live, with the verdict
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
CONSOLE_IMAGE    ?= poolguard/console:$(TAG)
DEMO_NAMESPACE   ?= poolguard-demo
SYSTEM_NAMESPACE ?= poolguard-system
KCTX = --context kind-$(KIND_CLUSTER)

.PHONY: images kind-up kind-cluster kind-load kind-install kind-demo kind-down

images:
	$(DOCKER) build -f docker/target.Dockerfile -t $(TARGET_IMAGE) .
	$(DOCKER) build -f docker/controller.Dockerfile -t $(CONTROLLER_IMAGE) .
	$(DOCKER) build -f docker/console.Dockerfile -t $(CONSOLE_IMAGE) .

kind-cluster:
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 120s; \
	fi

kind-load: images
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(TARGET_IMAGE) $(CONTROLLER_IMAGE) $(CONSOLE_IMAGE)

# The demo first: the chart binds the controller's target role in $(DEMO_NAMESPACE),
# which must exist. The chart (CRDs, controller, RBAC) after.
kind-install:
	$(KUBECTL) $(KCTX) apply -k manifests/overlays/kind
	$(HELM) --kube-context kind-$(KIND_CLUSTER) upgrade --install poolguard helm/poolguard \
	  --namespace $(SYSTEM_NAMESPACE) --create-namespace \
	  --set image.tag=$(TAG) --set console.image.tag=$(TAG) --set grafanaDashboard.enabled=false \
	  --wait --timeout 5m
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

# The README's demo on kind: scripts/demo against the kind cluster (the chart and the
# workload from kind-up, upgraded in place), then the Remediation and the LockTable
# outage, printed live with the diagnosis, each action and the verdict. The other
# examples in manifests/examples/ are for trying by hand (kubectl apply -f ...).
kind-demo:
	$(KUBECTL) config use-context kind-$(KIND_CLUSTER)
	POOLGUARD_DEMO_HELM_ARGS="--set image.tag=$(TAG) --set console.image.tag=$(TAG) --set grafanaDashboard.enabled=false" \
	  scripts/demo --current-cluster --overlay manifests/overlays/kind

kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)
