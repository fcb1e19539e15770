# METADATA
# title: signgate decision-record masking
# description: |
#   OPA's decision-log mask policy, applied to every decision record before
#   it is written. The record is the input: input.input is what the
#   authorization policy saw. See docs/audit.md.
package system.log

# The claims a record keeps from a caller's JWT: who the caller is (sub,
# iss) and the groups the default policy matches teams on. Every other
# claim (email, name, custom claims) stays out of the records.
kept_claims := {"sub", "iss", "groups"}

claims := input.input.subject.claims

# The claims object is replaced by its kept part, rather than each other
# claim removed by path: OPA escapes every path segment, so a claim whose
# name holds a space, a "%" or a "/" could not be named, and would stay.
mask contains {
	"op": "upsert",
	"path": "/input/subject/claims",
	"value": object.filter(claims, kept_claims),
} if other_claims

other_claims if {
	some name, _ in claims
	not name in kept_claims
}
