package signgate.authz_test

# The tests here evaluate the policy through decision_of and reasons_of
# (authz_test.rego), which set the data it reads.

# Fixture teams for uploads: one with a size cap, one with constraints, one
# with both and an advisory list. They sit beside the authz_test fixture.
upload_teams := object.union(teams, {
	"models": {
		"connector": "models-s3",
		"prefix": "models/",
		"operations": ["read", "write"],
		"max_upload_bytes": 1000,
	},
	"media": {
		"connector": "media-s3",
		"prefix": "media/",
		"operations": ["read", "write"],
		"upload_constraints": {"max_bytes": 500, "content_type": "image/"},
	},
	"docs": {
		"connector": "docs-azure",
		"prefix": "docs/",
		"operations": ["write"],
		"max_upload_bytes": 2000,
		"upload_constraints": {"max_bytes": 800, "content_type": "application/pdf", "content_md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "advisory": ["max_bytes"]},
	},
})

# upload decides a write to team with the action patch merged in.
upload(team, action) := upload_in(team, action, upload_teams)

# with_team returns upload_teams with one team's data replaced.
with_team(name, team) := object.union(object.remove(upload_teams, [name]), {name: team})

upload_in(team, action, data_teams) := decide_in(
	{
		"subject": {"teams": [team]},
		"action": object.union({"team": team, "operation": "write"}, action),
	},
	data_teams,
)

# --- size ---------------------------------------------------------------------

test_allows_an_upload_within_max_upload_bytes if {
	d := upload("models", {"size": 1000})
	d.allow == true
	d.key == "models/runs/42/model.pt"
	not d.constraints
}

test_denies_an_upload_over_max_upload_bytes if {
	upload("models", {"size": 1001}).reasons == {"upload_too_large"}
}

test_allows_any_size_when_the_team_sets_no_cap if {
	upload("vision", {"size": 5497558138880}).allow == true
}

test_upload_constraints_max_bytes_also_caps_the_size if {
	upload("media", {"size": 500, "content_type": "image/png"}).allow == true
	upload("media", {"size": 501, "content_type": "image/png"}).reasons == {"upload_too_large"}
}

test_the_lower_of_both_caps_wins if {
	upload("docs", {"size": 800}).allow == true
	upload("docs", {"size": 801}).reasons == {"upload_too_large"}
}

test_denies_a_size_that_is_not_a_positive_integer if {
	every bad in [0, -1, 1.5, "1000", true] {
		upload("models", {"size": bad}).reasons == {"invalid_size"}
	}
}

test_a_request_without_size_is_not_an_upload if {
	upload("models", {}).allow == true
	upload("models", {"size": null}).allow == true
}

# --- content type -------------------------------------------------------------

test_allows_a_content_type_with_the_constraints_prefix if {
	upload("media", {"content_type": "image/png"}).allow == true
}

test_denies_a_content_type_outside_the_constraints_prefix if {
	upload("media", {"content_type": "text/html"}).reasons == {"content_type_not_allowed"}
}

test_an_exact_content_type_constraint_matches_only_itself if {
	upload("docs", {"content_type": "application/pdf"}).allow == true
	upload("docs", {"content_type": "application/pdfx"}).reasons == {"content_type_not_allowed"}
}

test_a_write_without_content_type_is_left_for_go_to_bind if {
	upload("media", {}).allow == true
	upload("media", {"content_type": ""}).allow == true
}

# --- constraints in the grant ---------------------------------------------------

test_write_grant_carries_the_teams_upload_constraints if {
	upload("media", {"content_type": "image/png"}).constraints == {"max_bytes": 500, "content_type": "image/"}
	upload("docs", {}).constraints.advisory == ["max_bytes"]
}

test_read_grant_carries_no_constraints if {
	d := upload("media", {"operation": "read"})
	d.allow == true
	not d.constraints
}

test_form_request_is_decided_like_a_write if {
	upload("media", {"form": true}).constraints.max_bytes == 500
}

# --- malformed upload data ------------------------------------------------------

test_denies_a_team_with_malformed_upload_limits if {
	every patch in [
		{"max_upload_bytes": 0},
		{"max_upload_bytes": "1000"},
		{"max_upload_bytes": 1.5},
		{"upload_constraints": "image/"},
		{"upload_constraints": []},
		{"upload_constraints": {"max_bytes": -1}},
		{"upload_constraints": {"content_type": ""}},
		{"upload_constraints": {"content_type": 7}},
		{"upload_constraints": {"content_md5": 7}},
		{"upload_constraints": {"advisory": "max_bytes"}},
		{"upload_constraints": {"advisory": [7]}},
		{"upload_constraints": {"advisory": {"max_bytes": true}}},
		{"upload_constraints": {"max_files": 3}},
	] {
		d := upload_in("models", {}, with_team("models", object.union(upload_teams.models, patch)))
		d.reasons == {"invalid_team_config"}
	}
}

test_malformed_upload_data_does_not_stop_reads if {
	broken := with_team("models", object.union(upload_teams.models, {"max_upload_bytes": "lots"}))
	upload_in("models", {"operation": "read"}, broken).allow == true
}

test_a_read_is_never_checked_as_an_upload if {
	upload("models", {"operation": "read", "size": 5000}).allow == true
}

test_null_upload_constraints_mean_none if {
	upload_in("models", {}, with_team("models", object.union(upload_teams.models, {"upload_constraints": null}))).allow == true
}

# --- grant and reasons agree for uploads ----------------------------------------

upload_inputs := [object.union(base, {
	"subject": {"teams": [team]},
	"action": object.union({"team": team, "operation": operation}, action),
}) |
	some team in ["models", "media", "docs", "readonly", "finance"]
	some operation in ["read", "write"]
	some action in [
		{},
		{"size": 1},
		{"size": 900},
		{"size": 5000},
		{"size": 0},
		{"size": "9"},
		{"content_type": "image/png"},
		{"content_type": "application/pdf"},
		{"content_type": "text/plain", "size": 2},
	]
]

test_grant_and_reasons_agree_for_uploads if {
	outcomes := [[d, r] |
		some req in upload_inputs
		d := decision_of(req, upload_teams)
		r := reasons_of(req, upload_teams)
	]
	every o in outcomes {
		agree(o)
	}
	count([o | some o in outcomes; o[0].allow]) > 0
	count([o | some o in outcomes; not o[0].allow]) > 0
}

# --- shipped example data (policies/data.json) ----------------------------------

test_example_data_media_accepts_images_up_to_its_cap if {
	media := {"subject": {"teams": ["media"]}, "action": {"team": "media", "operation": "write"}}
	d := decide_in(media, example_teams)
	d.allow == true
	d.constraints.content_type == "image/"
	e := decide_in(object.union(media, {"action": {"content_type": "text/html"}}), example_teams)
	e.reasons == {"content_type_not_allowed"}
}

test_example_data_vision_caps_chunked_uploads if {
	vision := {"subject": {"teams": ["vision"]}, "action": {"team": "vision", "operation": "write"}}
	d := decide_in(object.union(vision, {"action": {"size": 68719476737}}), example_teams)
	d.reasons == {"upload_too_large"}
}
