#!/bin/sh
# Builds the release binary of signgate: static (no cgo), with paths trimmed
# and symbols stripped, its version stamped for `signgate version`. The
# Dockerfile and CI both call this script, so what CI tests is built exactly
# as the image's binary is.
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
CGO_ENABLED=0 exec go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/signgate
