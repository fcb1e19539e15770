package system.log_test

import data.system.log

record(claims) := {"decision_id": "d", "input": {"subject": {"id": "alice", "claims": claims}}}

upsert(value) := {"op": "upsert", "path": "/input/subject/claims", "value": value}

test_keeps_sub_iss_and_groups_only if {
	got := log.mask with input as record({
		"sub": "alice", "iss": "https://login.example.com/", "groups": ["vision"],
		"email": "alice@example.com", "tenant": "acme",
	})
	got == {upsert({"sub": "alice", "iss": "https://login.example.com/", "groups": ["vision"]})}
}

test_masks_claims_whose_names_a_path_cannot_hold if {
	got := log.mask with input as record({"sub": "alice", "e mail": "a@x", "a/b": 1, "50%": true})
	got == {upsert({"sub": "alice"})}
}

test_masks_a_token_without_any_kept_claim if {
	got := log.mask with input as record({"email": "alice@example.com"})
	got == {upsert({})}
}

test_masks_nothing_when_only_kept_claims if {
	count(log.mask) == 0 with input as record({"sub": "alice", "groups": []})
}

test_masks_nothing_for_an_api_key if {
	count(log.mask) == 0 with input as record({})
}

test_masks_nothing_without_a_subject if {
	count(log.mask) == 0 with input as {"decision_id": "d"}
}
