#!/usr/bin/env bash
# Runs every test: the Rego gate (fmt, check, 100% coverage), go vet, and
# the Go tests, including the end-to-end suite against real storage servers
# (install them first with .ci/run, or the end-to-end tests skip loudly).
set -euo pipefail
cd "$(dirname "$0")"
./opa-test.sh
go vet ./...
unformatted=$(find . -name '*.go' -not -path './tests/node_modules/*' -print0 | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then echo "gofmt: these files need formatting:"; echo "$unformatted"; exit 1; fi
go test -count=1 ./...
