# syntax=docker/dockerfile:1
# poolguard-controller: the control plane.
#   docker build -f docker/controller.Dockerfile -t poolguard/controller:dev .
# Build context: the repository root (.dockerignore keeps build trees and caches out).
# Multi-stage on debian:bookworm-slim: the build stage has the -dev packages and
# builds only poolguard-controller; the runtime stage has only the shared libraries
# it links (checked with ldd below) and runs as a non-root user.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libcpprest-dev libboost-dev libssl-dev libpqxx-dev libpq-dev libyaml-cpp-dev \
      prometheus-cpp-dev libspdlog-dev libfmt-dev zlib1g-dev \
      libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
# (GoogleTest only because the top-level CMakeLists.txt finds it; no test is built.)
WORKDIR /src
COPY CMakeLists.txt ./
COPY common/ common/
COPY target/ target/
COPY tests/ tests/
COPY bench/ bench/
COPY kube/ kube/
COPY controller/ controller/
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      "-DPOOLGUARD_OPTIONAL_COMPONENTS=kube;controller" \
 && cmake --build /build --target poolguard-controller \
 && strip /build/controller/poolguard-controller

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcpprest2.10 libpqxx-6.4 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      libspdlog1.10 libfmt9 libssl3 ca-certificates libpq5 tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 poolguard \
 && useradd --system --uid 10001 --gid poolguard --no-create-home --shell /usr/sbin/nologin poolguard
COPY --from=build /build/controller/poolguard-controller /usr/local/bin/poolguard-controller
# Fail the build if a shared library is missing from the list above.
RUN ! ldd /usr/local/bin/poolguard-controller | grep 'not found' \
 && /usr/local/bin/poolguard-controller --help >/dev/null
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/poolguard-controller"]
