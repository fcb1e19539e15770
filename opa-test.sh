#!/usr/bin/env bash
# opa-test.sh is the CI gate for Rego authors. It fails fast, in order, when
# the policy directory is not `opa fmt` clean, does not pass
# `opa check --strict`, has a failing test, has less than 100% test coverage,
# or does not build as a bundle without its *_test.rego files.
#
# usage: ./opa-test.sh [--junit PATH] [DIR]
#   DIR      policy directory, relative to the caller's cwd (default: the
#            repository's policies/)
#   --junit  also write a JUnit XML test report to PATH
#
# OPA is the Go tool pinned in go.mod (`go tool opa`); nothing else is needed,
# not even jq. Copied into a repository without signgate's go.mod, it runs
# `opa` from PATH, or the binary that $OPA names.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	echo "usage: $0 [--junit PATH] [DIR]" >&2
	exit 64
}

die() {
	echo "opa-test: FAIL: $*" >&2
	exit 1
}

junit=""
dir=""
while [ $# -gt 0 ]; do
	case "$1" in
	--junit)
		[ $# -ge 2 ] || usage
		junit=$2
		shift 2
		;;
	--junit=*)
		junit=${1#--junit=}
		shift
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		[ -z "$dir" ] || usage
		dir=$1
		shift
		;;
	esac
done

# Resolve paths against the caller's cwd before moving to the repository root.
if [ -z "$dir" ]; then
	dir=$root/policies
fi
[ -d "$dir" ] || die "no such directory: $dir"
dir=$(cd "$dir" && pwd)
if [ -n "$junit" ] && [ "${junit#/}" = "$junit" ]; then
	junit=$PWD/$junit
fi

cd "$root"
# Paths inside the repository are shown relative to it, as CI logs show them.
case "$dir" in
"$root"/*) dir=${dir#"$root"/} ;;
esac

if [ -n "${OPA:-}" ]; then
	opa() { "$OPA" "$@"; }
elif [ -f go.mod ] && grep -q '^tool github.com/open-policy-agent/opa$' go.mod; then
	opa() { go tool opa "$@"; }
else
	opa() { command opa "$@"; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Report helpers, evaluated by OPA itself over opa test's JSON output.
cat >"$tmp/report.rego" <<'EOF'
package opatest

# input: the array printed by `opa test --format=json`.
count_tests := count(input)

xml_escape(s) := strings.replace_n({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "\n": "&#10;"}, s)

text_escape(s) := strings.replace_n({"&": "&amp;", "<": "&lt;", ">": "&gt;"}, s)

# Integer arithmetic only: sprintf's %f rejects a whole-number duration.
seconds(ns) := sprintf("%d.%06d", [floor(ns / 1000000000), floor(ns / 1000) % 1000000])

outcome(r) := sprintf("\n      <error message=\"%s\" type=\"%s\"/>\n    ", [xml_escape(r.error.message), xml_escape(r.error.code)]) if r.error
else := "\n      <failure message=\"test failed\"/>\n    " if r.fail
else := "\n      <skipped/>\n    " if r.skip
else := ""

system_out(r) := sprintf("<system-out>%s</system-out>", [text_escape(base64.decode(r.output))]) if r.output
else := ""

testcase(r) := sprintf(`    <testcase classname="%s" name="%s" file="%s" line="%d" time="%s">%s%s</testcase>`, [
	xml_escape(r.package), xml_escape(r.name), xml_escape(r.location.file), r.location.row,
	seconds(r.duration), outcome(r), system_out(r),
])

tally(rs) := {
	"tests": count(rs),
	"failures": count([r | some r in rs; r.fail; not r.error]),
	"errors": count([r | some r in rs; r.error]),
	"skipped": count([r | some r in rs; r.skip]),
	"time": seconds(sum([r.duration | some r in rs])),
}

attrs(t) := sprintf(`tests="%d" failures="%d" errors="%d" skipped="%d" time="%s"`, [
	t.tests, t.failures, t.errors, t.skipped, t.time,
])

testsuite(pkg) := concat("\n", array.concat(
	[sprintf(`  <testsuite name="%s" %s>`, [xml_escape(pkg), attrs(tally(rs))])],
	array.concat([line | some [_, _, line] in cases], ["  </testsuite>"]),
)) if {
	rs := [r | some r in input; r.package == pkg]
	cases := sort([[r.location.file, r.location.row, testcase(r)] | some r in rs])
}

junit := concat("\n", array.concat(
	[`<?xml version="1.0" encoding="UTF-8"?>`, sprintf(`<testsuites name="opa" %s>`, [attrs(tally(input))])],
	array.concat([testsuite(pkg) | some pkg in sort({r.package | some r in input})], ["</testsuites>", ""]),
))

# input: the object printed by `opa test --coverage --format=json`.
coverage := round(input.coverage * 100) / 100

fully_covered if input.coverage >= 100

uncovered := concat("\n", [sprintf("  %s:%d%s", [file, row, kind]) |
	some [file, row, kind] in sort({[file, row, kind] |
		some file, report in input.files
		some r in report.not_covered
		some row in numbers.range(r.start.row, r.end.row)
		kind := not_covered_kind(r)
	})
])

not_covered_kind(r) := sprintf(" (%s)", [r.kind]) if r.kind
else := ""
EOF

report() { # report QUERY < JSON
	opa eval --stdin-input --data "$tmp/report.rego" --format raw "data.opatest.$1"
}

echo "opa-test: $dir"

# 1. Formatting.
unformatted=$(opa fmt --list "$dir") || die "opa fmt could not parse $dir"
if [ -n "$unformatted" ]; then
	opa fmt --diff "$dir" >&2 || true
	echo "$unformatted" >&2
	die "not formatted (fix with: go tool opa fmt -w $dir)"
fi
echo "opa-test: fmt ok"

# 2. Static checks, strict mode (unused variables, shadowed imports...).
opa check --strict "$dir" || die "opa check --strict $dir"
echo "opa-test: check --strict ok"

# 3. Tests. The JSON run feeds the count and the JUnit report; on failure the
# verbose run shows each failing test with its trace.
tests_rc=0
opa test "$dir" --timeout 60s --fail-on-empty --format=json >"$tmp/results.json" || tests_rc=$?
if [ -n "$junit" ]; then
	if [ -s "$tmp/results.json" ] && report junit <"$tmp/results.json" >"$tmp/junit.xml"; then
		mkdir -p "$(dirname "$junit")"
		mv "$tmp/junit.xml" "$junit"
		echo "opa-test: wrote JUnit report $junit"
	else
		echo "opa-test: could not write a JUnit report (see the errors above)" >&2
	fi
fi
if [ "$tests_rc" -ne 0 ]; then
	opa test "$dir" --timeout 60s --fail-on-empty -v >&2 || true
	die "tests failed or were skipped in $dir"
fi
count=$(report count_tests <"$tmp/results.json")
echo "opa-test: $count tests passed"

# 4. Coverage must be 100%: every line of every rule runs in some test.
opa test "$dir" --timeout 60s --coverage --format=json >"$tmp/coverage.json" || die "opa test --coverage $dir"
if [ -z "$(report fully_covered <"$tmp/coverage.json")" ]; then
	echo "Lines not covered by any test:" >&2
	report uncovered <"$tmp/coverage.json" >&2
	die "coverage $(report coverage <"$tmp/coverage.json")% is below 100% in $dir"
fi

# 5. Build the bundle as it will be served: in bundle mode, so that a
# .manifest (revision, roots) is checked as signgate reads it, and without
# test files.
opa build --bundle "$dir" --ignore '*_test.rego' -o "$tmp/bundle.tar.gz" || die "opa build --bundle $dir (without *_test.rego)"
echo "opa-test: build ok"

echo "opa-test: OK ($count tests, 100% coverage)"
