# syntax=docker/dockerfile:1
# poolguard-target: the victim service (docs/target.md).
#   docker build -f docker/target.Dockerfile -t poolguard/target:dev .
# Build context: the repository root (.dockerignore keeps build trees and caches out).
# Multi-stage on debian:bookworm-slim: the build stage has the -dev packages and
# builds only poolguard-target; the runtime stage has only the shared libraries
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
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      "-DPOOLGUARD_OPTIONAL_COMPONENTS=" \
 && cmake --build /build --target poolguard-target \
 && strip /build/target/poolguard-target

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libcpprest2.10 libpqxx-6.4 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      libspdlog1.10 libfmt9 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 poolguard \
 && useradd --system --uid 10001 --gid poolguard --no-create-home --shell /usr/sbin/nologin poolguard
COPY --from=build /build/target/poolguard-target /usr/local/bin/poolguard-target
# Fail the build if a shared library is missing from the list above.
RUN ! ldd /usr/local/bin/poolguard-target | grep 'not found' \
 && /usr/local/bin/poolguard-target --help >/dev/null
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/poolguard-target"]
