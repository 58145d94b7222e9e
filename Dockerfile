# The strata frontend image: the static strata binary as a BuildKit gateway
# frontend, plus the tools the disk assembly and sysext packing exec
# (mke2fs, mksquashfs, mkfs.erofs). In gateway mode strata runs those steps
# in this very image, so users need nothing but buildx:
#
#   docker buildx build --build-arg BUILDKIT_SYNTAX=<this image> -f node.yaml --output type=local,dest=out .
#
# Build it with `docker buildx bake frontend` (docker-bake.hcl).
# No "# syntax" line: BuildKit's built-in Dockerfile frontend builds it, so
# the build needs no frontend image from a registry.

# Pinned bases. Both are overridable, e.g. to a mirror, and both can be
# replaced by named contexts (--build-context golang=..., debian=...).
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG BASE_IMAGE=debian:12.11-slim

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X github.com/strata-dev/strata/frontend.Version=${VERSION}" \
	-o /out/strata ./cmd/strata

FROM ${BASE_IMAGE} AS frontend
RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends e2fsprogs squashfs-tools erofs-utils \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /out/strata /usr/local/bin/strata
# The frontend itself needs no network: downloads are LLB sources.
LABEL moby.buildkit.frontend.network.none="true" \
	moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts" \
	org.opencontainers.image.title="strata" \
	org.opencontainers.image.description="BuildKit frontend that builds bootable Kubernetes node disk images from a YAML spec"
ENTRYPOINT ["/usr/local/bin/strata", "frontend"]
