# METADATA
# title: signgate authorization
# description: |
#   Decides whether a caller may get a pre-signed URL for one object of one
#   team, and if so on which connector, for which key and for how long.
#   The Go side queries data.signgate.authz.decision; see docs/policy.md.
package signgate.authz

# The reference deployment: downloads and deletes at most 1 h, uploads at
# most 24 h. A team's max_ttl overrides these per operation. The keys are
# also the known operations.
default_max_ttl := {"read": 3600, "write": 86400, "delete": 3600}

# Direct lookup, never a scan over all teams: evaluation cost must not grow
# with the number of teams.
team := data.signgate.teams[input.action.team]

# decision is always defined: a grant when every check passes, otherwise a
# deny that lists every failed check as a reason code. It is full_decision,
# reached sooner for the grants that nearly every request gets.
#
# Each body below is a fast path for one common shape of grant: a read or a
# delete without and with a network range, a write to a team without upload
# constraints, and a write with them, without and with a network range
# (upload_constraints without an advisory list). A fast path only checks
# conditions that imply full_decision's own checks, in one rule body of
# builtin calls and comparisons, and returns what full_decision returns for
# that request; when any of its conditions fails (an unusual team, a deny
# list naming someone, an email subject, expires_in of 0 or null, a deny),
# the request falls through to full_decision. OPA spends about a dozen
# allocations on each rule it evaluates and on each `not`, and about a
# microsecond on each reference into another rule's value, so the fast paths
# name few rules and read the team through a local variable, t; they halved
# the allocations of a decision with 100 teams (docs/policy.md, "How the
# decision is evaluated"). Each reference, even into input or t, is a step
# of its own, so the operation, the connector and the prefix are read once
# each, into op, connector and prefix.
# test_fast_paths_agree_with_full_decision_on_every_combination and
# policies/fastpath_test.go prove that the fast paths change no decision.
#
# The shared conditions: the team allows the operation, no deny list names
# anybody (so none names the caller), the subject is not a token's email
# address (so it needs no verified email), the caller is a member, and the
# team's connector and prefix are well formed. The TTL is the team's own
# cap for the operation, shortened by a positive integer expires_in; a
# team without a cap for the operation takes full_decision's defaults.
decision := {
	"allow": true,
	"reasons": set(),
	"connector": connector,
	"key": concat("", [prefix, input.action.object]),
	"operation": op,
	"ttl_seconds": min([cap, expires_in]),
} if {
	t := team
	op := input.action.operation
	op in {"read", "delete"}
	object.get(t, "cidrs", null) == null
	op in t.operations
	object.get(t, "blocked_subjects", []) == []
	[l | l := data.signgate.blocked_subjects; l != []] == []
	not input.subject.claims.email == input.subject.id
	member == true
	connector := t.connector
	is_string(connector)
	prefix := t.prefix
	endswith(prefix, "/")
	cap := t.max_ttl[op]
	expires_in := object.get(input.action, "expires_in", cap)
	expires_in > 0
	expires_in % 1 == 0
} else := {
	"allow": true,
	"reasons": set(),
	"connector": connector,
	"key": concat("", [prefix, input.action.object]),
	"operation": op,
	"ttl_seconds": min([cap, expires_in]),
	"constraints": {"ip_range": cidr},
} if {
	t := team
	op := input.action.operation
	op in {"read", "delete"}
	op in t.operations
	object.get(t, "blocked_subjects", []) == []
	[l | l := data.signgate.blocked_subjects; l != []] == []
	not input.subject.claims.email == input.subject.id
	member == true
	connector := t.connector
	is_string(connector)
	prefix := t.prefix
	endswith(prefix, "/")
	cap := t.max_ttl[op]
	expires_in := object.get(input.action, "expires_in", cap)
	expires_in > 0
	expires_in % 1 == 0
	cidr := source_cidr
} else := {
	"allow": true,
	"reasons": set(),
	"connector": connector,
	"key": concat("", [prefix, input.action.object]),
	"operation": op,
	"ttl_seconds": min([cap, expires_in]),
} if {
	t := team
	op := input.action.operation
	op == "write"
	object.get(t, "cidrs", null) == null
	object.get(t, "upload_constraints", null) == null
	op in t.operations
	object.get(t, "blocked_subjects", []) == []
	[l | l := data.signgate.blocked_subjects; l != []] == []
	not input.subject.claims.email == input.subject.id
	member == true
	connector := t.connector
	is_string(connector)
	prefix := t.prefix
	endswith(prefix, "/")
	size := object.get(input.action, "size", 1)
	size > 0
	size % 1 == 0
	max_upload_bytes := object.get(t, "max_upload_bytes", size)
	max_upload_bytes % 1 == 0
	size <= max_upload_bytes
	cap := t.max_ttl[op]
	expires_in := object.get(input.action, "expires_in", cap)
	expires_in > 0
	expires_in % 1 == 0
} else := {
	"allow": true,
	"reasons": set(),
	"connector": connector,
	"key": concat("", [prefix, input.action.object]),
	"operation": op,
	"ttl_seconds": min([cap, expires_in]),
	"constraints": constraints,
} if {
	t := team
	op := input.action.operation
	op == "write"
	object.get(t, "cidrs", null) == null
	op in t.operations
	object.get(t, "blocked_subjects", []) == []
	[l | l := data.signgate.blocked_subjects; l != []] == []
	not input.subject.claims.email == input.subject.id
	member == true
	connector := t.connector
	is_string(connector)
	prefix := t.prefix
	endswith(prefix, "/")
	upload_constraints := object.get(t, "upload_constraints", {})
	is_object(upload_constraints)
	count(object.remove(upload_constraints, ["max_bytes", "content_type", "content_md5", "advisory"])) == 0
	object.get(upload_constraints, "advisory", []) == []
	is_string(object.get(upload_constraints, "content_md5", ""))
	content_type := object.get(upload_constraints, "content_type", "-")
	is_string(content_type)
	content_type != ""
	content_type_ok == true
	size := object.get(input.action, "size", 1)
	size > 0
	size % 1 == 0
	max_upload_bytes := object.get(t, "max_upload_bytes", size)
	max_upload_bytes % 1 == 0
	size <= max_upload_bytes
	max_bytes := object.get(upload_constraints, "max_bytes", size)
	max_bytes % 1 == 0
	size <= max_bytes
	cap := t.max_ttl[op]
	expires_in := object.get(input.action, "expires_in", cap)
	expires_in > 0
	expires_in % 1 == 0
	constraints := upload_constraints
	count(constraints) > 0
} else := {
	"allow": true,
	"reasons": set(),
	"connector": connector,
	"key": concat("", [prefix, input.action.object]),
	"operation": op,
	"ttl_seconds": min([cap, expires_in]),
	"constraints": constraints,
} if {
	t := team
	op := input.action.operation
	op == "write"
	op in t.operations
	object.get(t, "blocked_subjects", []) == []
	[l | l := data.signgate.blocked_subjects; l != []] == []
	not input.subject.claims.email == input.subject.id
	member == true
	connector := t.connector
	is_string(connector)
	prefix := t.prefix
	endswith(prefix, "/")
	upload_constraints := object.get(t, "upload_constraints", {})
	is_object(upload_constraints)
	count(object.remove(upload_constraints, ["max_bytes", "content_type", "content_md5", "advisory"])) == 0
	object.get(upload_constraints, "advisory", []) == []
	is_string(object.get(upload_constraints, "content_md5", ""))
	content_type := object.get(upload_constraints, "content_type", "-")
	is_string(content_type)
	content_type != ""
	content_type_ok == true
	size := object.get(input.action, "size", 1)
	size > 0
	size % 1 == 0
	max_upload_bytes := object.get(t, "max_upload_bytes", size)
	max_upload_bytes % 1 == 0
	size <= max_upload_bytes
	max_bytes := object.get(upload_constraints, "max_bytes", size)
	max_bytes % 1 == 0
	size <= max_bytes
	cap := t.max_ttl[op]
	expires_in := object.get(input.action, "expires_in", cap)
	expires_in > 0
	expires_in % 1 == 0
	constraints := object.union(upload_constraints, {"ip_range": source_cidr})
} else := full_decision

# full_decision decides every request: a grant when every check passes,
# otherwise a deny that lists every failed check as a reason code.
#
# The grant is checked inline rather than as "no reasons", because evaluating
# every reason rule on every request costs about twice as much and a deny is
# the rare case. Each check names the reason that reports its failure: a
# check added here needs its reason below, and
# test_grant_and_reasons_agree_on_every_combination proves that they match.
# A check added here must also hold on every fast path of decision above.
#
# The policy checks the request against the team's data. Go checks the grant
# it gets back (known connector, positive integer ttl_seconds) and fails
# closed, so bad data there ends in a 500, not a grant.
full_decision := object.union(
	{
		"allow": true,
		"reasons": set(),
		"connector": team.connector,
		"key": concat("", [team.prefix, input.action.object]), # invalid_object
		"operation": input.action.operation,
		"ttl_seconds": ttl_seconds, # unknown_operation (no cap), invalid_ttl
	},
	grant_constraints,
) if {
	input.action.operation in team.operations # unknown_team, operation_not_allowed
	not blocked # subject_blocked
	member # not_team_member
	subject_verified # email_not_verified
	network_allowed # network_not_allowed
	is_string(team.connector) # invalid_team_config
	endswith(team.prefix, "/") # invalid_team_config
	upload_ok # invalid_size, upload_too_large, content_type_not_allowed, invalid_team_config (uploads.rego)
} else := {
	"allow": false,
	"reasons": reasons,
}

# A grant carries decision.constraints when anything limits it: a write's
# upload constraints (uploads.rego) and the network range the caller came
# from. signgate binds each one into the URL where the provider can (the
# range becomes Azure's SAS sip) or says who enforces it.
#
# The first two branches are shortcuts for the common cases: a team without
# cidrs has no network constraint, and a read, a delete or a write to a
# team without upload_constraints has no upload constraint, so the grant
# skips computing them.
grant_constraints := {} if {
	not team.cidrs
	not writing
} else := {} if {
	not team.cidrs
	not team.upload_constraints
} else := {"constraints": c} if {
	c := object.union(write_constraints, network_constraints)
	count(c) > 0
} else := {}

network_constraints := {"ip_range": source_cidr} if source_cidr

else := {}

# The first matching range, in a stable order, when the team has cidrs.
source_cidr := sort([cidr |
	some cidr in team.cidrs
	net.cidr_contains(cidr, input.source.ip)
])[0]

# The deny-list: data.signgate.blocked_subjects for every team, and a
# team's own blocked_subjects. An entry is a namespaced principal
# (input.subject.principal: "key:carol", "jwt:<issuer>#<sub>") or a bare
# subject id, which blocks that id however it authenticated: blocking errs
# on the side of too many. Blocking wins over membership from any source.
# A malformed list (not an array) blocks everyone it covers: a typo must
# not silently unblock.
blocked if input.subject.id in blocked_list(data.signgate.blocked_subjects)

blocked if input.subject.id in blocked_list(team.blocked_subjects)

blocked if input.subject.principal in blocked_list(data.signgate.blocked_subjects)

blocked if input.subject.principal in blocked_list(team.blocked_subjects)

blocked_list(l) := l if is_array(l)

else := [input.subject.id]

# Membership comes from either source: the teams the authenticator put on
# the subject (token or API key), or the team's members list in data.
#
# members name principals by how they authenticated: "key:carol" for an API
# key, "jwt:<issuer>#<sub>" for a token (input.subject.principal). A bare
# name, as written before principals were namespaced, matches an API key's
# subject only: a token whose sub happens to be "carol" is not carol.
member if input.action.team in input.subject.teams

member if input.subject.principal in team.members

member if {
	input.subject.auth_method == "api_key"
	input.subject.id in team.members
}

# When a token's subject is its email claim, the issuer must have verified
# the address: many issuers let anyone sign up with an address they do not
# own.
subject_verified if not email_subject

subject_verified if input.subject.claims.email_verified == true

email_subject if {
	input.subject.auth_method == "jwt"
	input.subject.id == input.subject.claims.email
}

# Absent, null or [] cidrs means any network. Anything else restricts, so a
# malformed cidrs value denies rather than opens the team.
network_allowed if object.get(team, "cidrs", null) in {null, []}

network_allowed if {
	some cidr in team.cidrs
	net.cidr_contains(cidr, input.source.ip)
}

# An unknown operation has no default, so it has no cap and no ttl_seconds.
ttl_cap := object.get(team, ["max_ttl", input.action.operation], default_max_ttl[input.action.operation])

# expires_in only ever shortens the cap. Absent, null or 0 means the caller
# did not ask, and the cap is used.
ttl_seconds := min({ttl_cap, input.action.expires_in}) if {
	valid_expires_in
} else := ttl_cap if {
	not ttl_requested
}

ttl_requested if {
	input.action.expires_in != 0
	input.action.expires_in != null
}

valid_expires_in if {
	is_number(input.action.expires_in)
	input.action.expires_in > 0
	floor(input.action.expires_in) == input.action.expires_in
}

# Reason codes: stable, and each one documented in docs/policy.md.
#
# Reasons negate named rules, never "x in y" or a builtin call directly:
# "not x in y" is undefined, not true, when x or y is missing, so the reason
# would silently not fire.

reasons contains "unknown_team" if not team

reasons contains "unknown_operation" if not known_operation

reasons contains "subject_blocked" if blocked

reasons contains "not_team_member" if {
	team
	not member
}

reasons contains "email_not_verified" if not subject_verified

reasons contains "operation_not_allowed" if {
	team
	known_operation
	not team_operation
}

reasons contains "network_not_allowed" if {
	team
	not network_allowed
}

reasons contains "invalid_object" if not object_is_string

reasons contains "invalid_ttl" if {
	ttl_requested
	not valid_expires_in
}

reasons contains "invalid_team_config" if {
	team
	not valid_team_config
}

known_operation if default_max_ttl[input.action.operation]

team_operation if input.action.operation in team.operations

# Go validates the object name fully; the policy only needs a string.
object_is_string if is_string(input.action.object)

# The prefix must end in "/", so a key can never reach into a sibling
# prefix such as "vision-old/".
valid_team_config if {
	is_string(team.connector)
	endswith(team.prefix, "/")
}
