#!/bin/sh
# Builds the release binary of signgate: static (no cgo), with paths trimmed
# and symbols stripped, its version stamped for `signgate version`. The
# Dockerfile, CI and the benchmark harness (cmd/signgate-bench) call this
# script, so what they test and measure is built exactly as the image's
# binary is.
#
# disable_grpc_modules is cloud.google.com/go/storage's documented opt-out of
# its gRPC DirectPath dependencies (xDS, Envoy's protobuf types, Cloud
# Monitoring): signgate uses only the package's V4 signing, never its
# client. It drops about 150 packages and their init, and about 7 MiB of
# resident memory (docs/performance.md).
#
#   deploy/build.sh OUT            VERSION from the environment, else git describe, else "dev"
#   VERSION=v1.4.0 deploy/build.sh /usr/local/bin/signgate
set -eu
if [ $# -ne 1 ]; then
	echo "usage: deploy/build.sh OUT" >&2
	exit 2
fi
case "$1" in
/*) out=$1 ;;
*) out=$(pwd)/$1 ;;
esac
cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
case "$version" in
*[!A-Za-z0-9._+-]*) echo "deploy/build.sh: VERSION may hold only [A-Za-z0-9._+-]: $version" >&2; exit 2 ;;
esac
CGO_ENABLED=0 exec go build -trimpath -tags disable_grpc_modules -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/signgate
