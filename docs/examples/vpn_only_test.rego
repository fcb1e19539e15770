# Worked example (docs/policy.md): a team restricted to its VPN's range.
package signgate.examples.vpn_only_test

import data.signgate.authz

# The team's entry in data.signgate.teams.
teams := {"finance": {
	"connector": "finance-s3",
	"prefix": "finance/",
	"operations": ["read", "write"],
	"cidrs": ["10.8.0.0/16"],
}}

request(op, ip) := {
	"subject": {"id": "dora", "teams": ["finance"], "auth_method": "jwt", "claims": {}},
	"action": {"team": "finance", "operation": op, "object": "q3/ledger.csv", "expires_in": 300},
	"source": {"ip": ip, "user_agent": "curl/8"},
	"time": "2026-11-27T10:00:00Z",
}

test_finance_reads_from_the_vpn if {
	d := authz.decision with input as request("read", "10.8.4.20") with data.signgate.teams as teams
	d.allow
	d.ttl_seconds == 300
}

test_finance_uploads_from_the_vpn if {
	d := authz.decision with input as request("write", "10.8.200.1") with data.signgate.teams as teams
	d.allow
}

test_finance_cannot_read_from_outside_the_vpn if {
	d := authz.decision with input as request("read", "198.51.100.9") with data.signgate.teams as teams
	not d.allow
	d.reasons == {"network_not_allowed"}
}

test_finance_cannot_read_from_a_neighbouring_range if {
	d := authz.decision with input as request("read", "10.9.0.1") with data.signgate.teams as teams
	d.reasons == {"network_not_allowed"}
}

test_finance_cannot_read_over_ipv6 if {
	d := authz.decision with input as request("read", "2001:db8::1") with data.signgate.teams as teams
	d.reasons == {"network_not_allowed"}
}
