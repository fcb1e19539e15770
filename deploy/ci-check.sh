#!/usr/bin/env bash
# Checks the deployment artifacts without Docker or a cluster:
#  1. the binary built by deploy/build.sh (the Dockerfile's own build step) is
#     static and runs the way the image runs it: empty environment,
#     unwritable working directory, a non-root user (when run as root), with
#     `version`, `probe` and `serve --config deploy/examples/config.yaml`;
#  2. the systemd unit passes `systemd-analyze verify` (when installed);
#  3. the Helm chart passes `helm lint` and renders into valid Kubernetes
#     objects with the default and the production values (deploy/tools);
#  4. it builds the registry that the OCI bundle test runs against.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

fail() { echo "deploy/ci-check: $*" >&2; exit 1; }

tmp=$(mktemp -d)
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"

echo "==> deploy: building with deploy/build.sh, as the Dockerfile does"
grep -q 'deploy/build.sh /out/signgate' Dockerfile || fail "the Dockerfile no longer builds with deploy/build.sh"
version="ci-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir "$tmp/bin"
VERSION=$version deploy/build.sh "$tmp/bin/signgate"
chmod -R a+rX "$tmp/bin"
bin=$tmp/bin/signgate
settings=$(go version -m "$bin")
grep -q 'CGO_ENABLED=0' <<<"$settings" || fail "binary built with cgo"
grep -q -- '-trimpath=true' <<<"$settings" || fail "binary built without -trimpath"
grep -q -- '-tags=disable_grpc_modules' <<<"$settings" || fail "binary built without -tags disable_grpc_modules"
if command -v readelf >/dev/null; then
	if readelf -l "$bin" | grep -q INTERP; then fail "binary is dynamically linked"; fi
fi

# The sandbox: no environment but what is named, a working directory nobody
# may write to, and uid/gid 65534 (nobody) when we are root and have setpriv.
mkdir "$tmp/ro"
chmod 555 "$tmp/ro"
as_user=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	echo "    running as uid 65534 in an unwritable directory with an empty environment"
else
	echo "    running as uid $(id -u) (not root: no user switch) in an unwritable directory with an empty environment"
fi
sandbox() { (cd "$tmp/ro" && "${as_user[@]}" env -i "$@"); }

echo "==> deploy: signgate version"
if grep -q '^var version' cmd/signgate/*.go; then
	out=$(sandbox "$bin" version) || fail "signgate version failed"
	grep -q -- "$version" <<<"$out" || fail "signgate version does not report the stamped $version: $out"
else
	echo "    (this tree has no version command yet; skipped)"
fi

echo "==> deploy: signgate probe"
sandbox "$bin" probe --help >/dev/null || fail "probe --help did not exit 0"
set +e
sandbox "$bin" probe --timeout 1s http://127.0.0.1:1/readyz 2>/dev/null; st=$?
sandbox "$bin" probe ftp://127.0.0.1/readyz 2>/dev/null; usage_st=$?
set -e
[ "$st" = 1 ] || fail "probe of a closed port exited $st, want 1"
[ "$usage_st" = 2 ] || fail "probe with a bad URL exited $usage_st, want 2"

echo "==> deploy: signgate serve --config deploy/examples/config.yaml"
# The example, with two changes: a key of our own, and the audit file in a
# directory that only the service user may write (the image's volume).
key="ci-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash=$(printf '%s' "$key" | "$bin" hash-key)
mkdir "$tmp/state"
if [ ${#as_user[@]} -gt 0 ]; then chown 65534:65534 "$tmp/state"; fi
chmod 700 "$tmp/state"
# A throw-away service-account key for the GCS connector, readable by the
# service user, as a mounted Secret would be.
mkdir "$tmp/gcs"
pem=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | awk '{printf "%s\\n", $0}')
printf '{"type":"service_account","client_email":"ci@example.iam.gserviceaccount.com","private_key":"%s"}' "$pem" >"$tmp/gcs/key.json"
chmod -R a+rX "$tmp/gcs"
sed -e "s|0000000000000000000000000000000000000000000000000000000000000000|$hash|" \
	-e "s|/var/lib/signgate/decisions.jsonl|$tmp/state/decisions.jsonl|" \
	-e "s|/var/run/secrets/signgate/gcs/key.json|$tmp/gcs/key.json|" \
	deploy/examples/config.yaml >"$tmp/config.yaml"
chmod 644 "$tmp/config.yaml"
grep -q "$hash" "$tmp/config.yaml" && grep -q "$tmp/state" "$tmp/config.yaml" || fail "could not adapt the example configuration"
: >"$tmp/stderr"
(cd "$tmp/ro" && exec "${as_user[@]}" env -i \
	AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \
	SIGNGATE_AZURE_KEY="$(head -c 32 /dev/urandom | base64)" \
	"$bin" serve --config "$tmp/config.yaml" --listen 127.0.0.1:0 >"$tmp/stdout" 2>"$tmp/stderr") &
server_pid=$!
addr=""
for _ in $(seq 100); do
	addr=$(grep -o '"addr":"127.0.0.1:[0-9]*"' "$tmp/stderr" | head -1 | cut -d'"' -f4 || true)
	[ -n "$addr" ] && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/stderr" >&2; fail "serve exited at start"; }
	sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/stderr" >&2; fail "serve did not log its address"; }
ready=""
for _ in $(seq 50); do
	if sandbox "$bin" probe --timeout 1s "http://$addr/readyz" 2>/dev/null; then ready=1; break; fi
	sleep 0.1
done
[ -n "$ready" ] || { cat "$tmp/stderr" >&2; fail "probe of http://$addr/readyz never exited 0"; }
sandbox "$bin" probe "http://$addr/healthz" || fail "probe of /healthz failed"
resp=$(curl -sS -X POST "http://$addr/v1/sign" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
	-d '{"team":"vision","operation":"read","object":"runs/1/model.pt","expires_in":60}')
grep -q '"url":"https://acme-vision.s3.us-east-1.amazonaws.com/vision/runs/1/model.pt?' <<<"$resp" ||
	fail "sign did not answer a URL: $resp"
decision=$(grep -o '"decision_id":"[^"]*"' <<<"$resp" | cut -d'"' -f4)
kill -TERM "$server_pid"
st=0
wait "$server_pid" || st=$?
server_pid=""
[ "$st" = 0 ] || { cat "$tmp/stderr" >&2; fail "serve exited $st after SIGTERM, want 0"; }
grep -q '"msg":"shutting down"' "$tmp/stderr" || fail "serve did not log its shutdown"
grep -q "\"decision_id\":\"$decision\"" "$tmp/state/decisions.jsonl" || fail "the decision record is not in the audit file"
if [ ${#as_user[@]} -gt 0 ]; then
	[ "$(stat -c %u "$tmp/state/decisions.jsonl")" = 65534 ] || fail "the audit file is not owned by the service user"
fi
if grep -q "$key" "$tmp/stderr" "$tmp/stdout" "$tmp/state/decisions.jsonl"; then fail "the API key reached a log"; fi
set +e
sandbox "$bin" probe --timeout 1s "http://$addr/readyz" 2>/dev/null; st=$?
set -e
[ "$st" = 1 ] || fail "probe after shutdown exited $st, want 1"
echo "    ok: serve on $addr, ready, one URL signed, record $decision in the audit file, clean exit on SIGTERM"

echo "==> deploy: deploy/systemd/signgate.service"
unit=deploy/systemd/signgate.service
for want in 'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'ReadWritePaths=/var/log/signgate' \
	'LogsDirectory=signgate' 'LimitNOFILE=65536' 'ExecReload=/bin/kill -HUP $MAINPID' \
	'EnvironmentFile=/etc/signgate/signgate.env' 'CapabilityBoundingSet=' 'SystemCallFilter=@system-service' \
	'ProtectHome=yes' 'PrivateTmp=yes' 'RestrictAddressFamilies=AF_INET AF_INET6' 'TimeoutStopSec=30s'; do
	grep -qxF -- "$want" "$unit" || fail "$unit: no line $want"
done
if command -v systemd-analyze >/dev/null; then
	# verify resolves the unit in a root of its own: the binary built above,
	# kill, the environment file, and the host's own unit library.
	root=$tmp/root
	mkdir -p "$root/usr/local/bin" "$root/bin" "$root/etc/signgate" "$root/etc/systemd/system" "$root/usr/lib/systemd"
	cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
	cp "$bin" "$root/usr/local/bin/signgate"
	if [ -x /bin/kill ]; then cp /bin/kill "$root/bin/kill"; else printf '#!/bin/sh\n' >"$root/bin/kill" && chmod 755 "$root/bin/kill"; fi
	: >"$root/etc/signgate/signgate.env"
	cp "$unit" "$root/etc/systemd/system/"
	out=$(systemd-analyze verify --man=no --root="$root" signgate.service 2>&1) || fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
	# The exposure score (0 safest, 100 unconfined) must stay at 1.5 or below.
	systemd-analyze security --offline=true --threshold=15 "$unit" >"$tmp/security" 2>&1 ||
		{ cat "$tmp/security" >&2; fail "systemd-analyze security: exposure above 1.5"; }
	echo "    ok: verify clean, $(grep -o 'exposure level for signgate.service: [0-9.]*' "$tmp/security")"
else
	echo "    systemd-analyze is not installed: the unit is checked for its settings only"
fi

echo "==> deploy: Helm chart deploy/helm/signgate (Helm from deploy/tools, built into bin/)"
(cd deploy/tools && go build -o ../../bin/helm helm.sh/helm/v3/cmd/helm)
helm=$repo/bin/helm
"$helm" version --short
kube=--kube-version=1.31.0
"$helm" lint --strict "$kube" deploy/helm/signgate
"$helm" lint --strict "$kube" deploy/helm/signgate -f deploy/helm/examples/production.yaml
"$helm" template signgate deploy/helm/signgate "$kube" -n signgate >"$tmp/default.yaml"
"$helm" template signgate deploy/helm/signgate "$kube" -n signgate -f deploy/helm/examples/production.yaml >"$tmp/production.yaml"
for f in default production; do
	echo "    helm template ($f values): $(grep -c '^kind:' "$tmp/$f.yaml") objects"
done
# Every rendered object decoded strictly into the Kubernetes API types and
# checked (deploy/tools/helmchart); the configuration parsed by signgate's own loader.
(cd deploy/tools && go test -count=1 ./...)

# The registry that bundles/oci_test.go pushes signed bundles to (./test.sh
# runs it; with SIGNGATE_E2E=required a missing registry fails it).
echo "==> deploy: the CNCF distribution registry for the OCI bundle test (deploy/tools/registry, into bin/)"
(cd deploy/tools/registry && go build -o ../../../bin/registry github.com/distribution/distribution/v3/cmd/registry)
