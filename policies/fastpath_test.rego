package signgate.authz_test

import data.signgate.authz

# --- fast paths ---------------------------------------------------------------
#
# decision answers the common grants on fast paths and everything else with
# full_decision. These tests prove that the fast paths change no decision:
# for every combination below, decision equals full_decision, and the fast
# paths are taken where they should be.

# Teams that reach every condition of the fast paths, each one way or the
# other: caps, networks, upload limits and constraints, deny lists, and
# broken data of each kind.
fast_teams := {
	"plain": {
		"connector": "plain-s3", "prefix": "plain/", "operations": ["read", "write", "delete"],
		"max_ttl": {"read": 3600, "write": 86400, "delete": 1800},
	},
	"nocap": {"connector": "nocap-s3", "prefix": "nocap/", "operations": ["read", "write", "delete"]},
	"partcap": {"connector": "partcap-s3", "prefix": "partcap/", "operations": ["read", "write"], "max_ttl": {"read": 60}},
	"badcap": {"connector": "badcap-s3", "prefix": "badcap/", "operations": ["read", "write"], "max_ttl": {"read": "1h", "write": 0}},
	"net": {
		"connector": "net-s3", "prefix": "net/", "operations": ["read", "write", "delete"],
		"max_ttl": {"read": 900, "write": 900, "delete": 900},
		"cidrs": ["10.8.0.0/16", "10.0.0.0/8"], "members": ["dave", "key:erin"],
	},
	"emptynet": {"connector": "emptynet-s3", "prefix": "emptynet/", "operations": ["read", "write"], "max_ttl": {"read": 60, "write": 60}, "cidrs": []},
	"nullnet": {"connector": "nullnet-s3", "prefix": "nullnet/", "operations": ["read", "write"], "max_ttl": {"read": 60, "write": 60}, "cidrs": null},
	"badnet": {"connector": "badnet-s3", "prefix": "badnet/", "operations": ["read", "write"], "max_ttl": {"read": 60, "write": 60}, "cidrs": "10.8.0.0/16"},
	"uploads": {
		"connector": "uploads-s3", "prefix": "uploads/", "operations": ["read", "write"],
		"max_ttl": {"read": 60, "write": 600}, "max_upload_bytes": 5000,
		"upload_constraints": {"max_bytes": 1000, "content_type": "image/"},
	},
	"exact": {
		"connector": "exact-s3", "prefix": "exact/", "operations": ["write"], "max_ttl": {"write": 600},
		"upload_constraints": {"content_type": "text/csv", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
	},
	"advisory": {
		"connector": "advisory-s3", "prefix": "advisory/", "operations": ["write"], "max_ttl": {"write": 600},
		"upload_constraints": {"content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "advisory": ["content_md5"]},
	},
	"netuploads": {
		"connector": "netuploads-s3", "prefix": "netuploads/", "operations": ["read", "write"],
		"max_ttl": {"read": 60, "write": 600}, "cidrs": ["10.8.0.0/16"], "upload_constraints": {"max_bytes": 1000},
	},
	"netwrites": {"connector": "netwrites-s3", "prefix": "netwrites/", "operations": ["write"], "max_ttl": {"write": 600}, "cidrs": ["10.8.0.0/16"], "max_upload_bytes": 5000},
	"emptyuc": {"connector": "emptyuc-s3", "prefix": "emptyuc/", "operations": ["write"], "max_ttl": {"write": 600}, "upload_constraints": {}},
	"nulluc": {"connector": "nulluc-s3", "prefix": "nulluc/", "operations": ["write"], "max_ttl": {"write": 600}, "upload_constraints": null},
	"baduc": {"connector": "baduc-s3", "prefix": "baduc/", "operations": ["write"], "max_ttl": {"write": 600}, "upload_constraints": {"max_bytes": "1kB"}},
	"unknownuc": {"connector": "unknownuc-s3", "prefix": "unknownuc/", "operations": ["write"], "max_ttl": {"write": 600}, "upload_constraints": {"region": "eu"}},
	"emptyct": {"connector": "emptyct-s3", "prefix": "emptyct/", "operations": ["write"], "max_ttl": {"write": 600}, "upload_constraints": {"content_type": ""}},
	"listuc": {"connector": "listuc-s3", "prefix": "listuc/", "operations": ["write"], "max_ttl": {"write": 600}, "upload_constraints": ["max_bytes"]},
	"biglimit": {"connector": "biglimit-s3", "prefix": "biglimit/", "operations": ["write"], "max_ttl": {"write": 600}, "max_upload_bytes": 68719476736},
	"badlimit": {"connector": "badlimit-s3", "prefix": "badlimit/", "operations": ["write"], "max_ttl": {"write": 600}, "max_upload_bytes": 1.5},
	"strlimit": {"connector": "strlimit-s3", "prefix": "strlimit/", "operations": ["write"], "max_ttl": {"write": 600}, "max_upload_bytes": "1GB"},
	"blocks": {"connector": "blocks-s3", "prefix": "blocks/", "operations": ["read", "write"], "max_ttl": {"read": 60, "write": 60}, "blocked_subjects": ["eve"]},
	"emptyblocks": {"connector": "emptyblocks-s3", "prefix": "emptyblocks/", "operations": ["read"], "max_ttl": {"read": 60}, "blocked_subjects": []},
	"badblocks": {"connector": "badblocks-s3", "prefix": "badblocks/", "operations": ["read"], "max_ttl": {"read": 60}, "blocked_subjects": "eve"},
	"noslash": {"connector": "noslash-s3", "prefix": "noslash", "operations": ["read", "write"], "max_ttl": {"read": 60, "write": 60}},
	"numconnector": {"connector": 7, "prefix": "numconnector/", "operations": ["read", "write"], "max_ttl": {"read": 60, "write": 60}},
	"listops": {"connector": "listops-s3", "prefix": "listops/", "operations": ["read", "list"], "max_ttl": {"read": 60, "list": 60}},
}

# A request as signgate builds it when the caller sets nothing optional: no
# expires_in, no size, no content type.
fast_base := {
	"subject": {"id": "alice", "principal": "key:alice", "teams": [], "auth_method": "api_key", "claims": {}},
	"action": {"operation": "read", "object": "runs/42/model.pt"},
	"source": {"ip": "10.8.1.2", "user_agent": "curl/8"},
	"time": "2026-11-27T10:00:00Z",
}

# Callers: a member by token, by a bare name and by a principal in the
# team's members, an outsider, a token whose subject is its email address
# (unverified and verified), and a subject that some deny lists name.
fast_subjects(team) := [
	{"id": "alice", "principal": "key:alice", "teams": [team]},
	{"id": "dave", "principal": "key:dave", "teams": []},
	{"id": "erin", "principal": "key:erin", "teams": [], "auth_method": "jwt"},
	{"id": "mallory", "principal": "key:mallory", "teams": ["other"]},
	{"id": "a@example.com", "principal": "jwt:https://login.example.com/#a@example.com", "teams": [team], "auth_method": "jwt", "claims": {"email": "a@example.com"}},
	{"id": "a@example.com", "principal": "jwt:https://login.example.com/#a@example.com", "teams": [team], "auth_method": "jwt", "claims": {"email": "a@example.com", "email_verified": true}},
	{"id": "eve", "principal": "key:eve", "teams": [team]},
]

fast_actions := [
	{},
	{"expires_in": 900},
	{"expires_in": 7200},
	{"expires_in": 0},
	{"expires_in": null},
	{"expires_in": -1},
	{"expires_in": 1.5},
	{"expires_in": "900"},
	{"size": 500},
	{"size": 2000},
	{"size": 9000},
	{"size": null},
	{"size": 1.5},
	{"content_type": "image/png", "size": 500},
	{"content_type": "text/csv"},
	{"content_type": "application/json"},
	{"object": 42},
]

fast_input(team, operation, subject, action, ip) := object.union(fast_base, {
	"subject": subject,
	"action": object.union({"team": team, "operation": operation}, action),
	"source": {"ip": ip},
})

# Every team with a read and a write by a member; a few teams with every
# action; and the network teams with every caller, from inside and outside
# their range. policies/fastpath_test.go draws many more combinations at
# random, on data set without `with`.
fast_inputs := array.concat(
	array.concat(
		[req |
			some team, _ in fast_teams
			some operation in ["read", "write"]
			req := fast_input(team, operation, fast_subjects(team)[0], {}, "10.8.1.2")
		],
		[req |
			some team in ["plain", "uploads"]
			some operation in ["read", "write"]
			some action in fast_actions
			req := fast_input(team, operation, fast_subjects(team)[0], action, "10.8.1.2")
		],
	),
	[req |
		some team in ["net", "netuploads"]
		some operation in ["read", "write"]
		some subject in fast_subjects(team)
		some ip in ["10.8.1.2", "8.8.8.8"]
		req := fast_input(team, operation, subject, {}, ip)
	],
)

# fast_outcome is, for one request and one global deny list, the decision,
# full_decision, and whether a fast path answered (full_decision, replaced
# by a marker, did not).
fast_outcome(req, global) := [d, f, d != "full_decision"] if {
	d := authz.decision with input as req
		with data.signgate.teams as fast_teams
		with data.signgate.blocked_subjects as global
		with authz.full_decision as "full_decision"
	f := authz.full_decision with input as req
		with data.signgate.teams as fast_teams
		with data.signgate.blocked_subjects as global
}

fast_agree([d, _, false]) if d == "full_decision"

fast_agree([d, f, true]) if d == f

test_fast_paths_agree_with_full_decision_on_every_combination if {
	outcomes := [o | some req in fast_inputs; o := fast_outcome(req, [])]
	count(outcomes) == count(fast_inputs)
	every o in outcomes {
		fast_agree(o)
	}

	# Every fast path answers some requests, and full_decision grants some
	# that no fast path takes (and denies the rest).
	fast := [d | some [d, _, true] in outcomes]
	count([d | some d in fast; not d.constraints; d.operation != "write"]) > 0
	count([d | some d in fast; d.constraints == {"ip_range": "10.8.0.0/16"}; d.operation != "write"]) > 0
	count([d | some d in fast; not d.constraints; d.operation == "write"]) > 0
	count([d | some d in fast; d.constraints.max_bytes; not d.constraints.ip_range; d.operation == "write"]) > 0
	count([d | some d in fast; d.constraints.max_bytes; d.constraints.ip_range; d.operation == "write"]) > 0
	count([f | some [_, f, false] in outcomes; f.allow]) > 0
	count([f | some [_, f, false] in outcomes; not f.allow]) > 0
}

test_fast_paths_agree_with_full_decision_under_every_global_deny_list if {
	reqs := [req |
		some team in ["plain", "blocks"]
		some operation in ["read", "write"]
		some subject in [fast_subjects(team)[0], fast_subjects(team)[3], fast_subjects(team)[6]]
		req := fast_input(team, operation, subject, {"expires_in": 900}, "10.8.1.2")
	]
	outcomes := [o | some global in [[], ["mallory"], ["eve"], ["key:alice"], "eve", {"eve": true}]; some req in reqs; o := fast_outcome(req, global)]
	count(outcomes) == 6 * count(reqs)
	every o in outcomes {
		fast_agree(o)
	}
	count([o | some o in outcomes; o[2]]) > 0
	count([o | some o in outcomes; not o[2]]) > 0
}

test_fast_paths_skip_unusual_requests if {
	# A deny list naming anybody, an email subject, an expires_in of 0 and a
	# team without a cap each send the request to full_decision, which
	# still grants it.
	unusual := [
		[fast_input("plain", "read", {"id": "alice", "principal": "key:alice", "teams": ["plain"]}, {}, "10.8.1.2"), ["mallory"]],
		[fast_input("plain", "read", {"id": "a@example.com", "teams": ["plain"], "auth_method": "jwt", "claims": {"email": "a@example.com", "email_verified": true}}, {}, "10.8.1.2"), []],
		[fast_input("plain", "read", {"id": "alice", "principal": "key:alice", "teams": ["plain"]}, {"expires_in": 0}, "10.8.1.2"), []],
		[fast_input("nocap", "read", {"id": "alice", "principal": "key:alice", "teams": ["nocap"]}, {}, "10.8.1.2"), []],
	]
	every case in unusual {
		[d, f, taken] := fast_outcome(case[0], case[1])
		taken == false
		d == "full_decision"
		f.allow == true
	}
}
