# Upload guardrails: the size of chunked uploads (POST /v1/uploads) and the
# constraints a write's grant carries (decision.constraints). Part of the
# decision in authz.rego; see docs/policy.md.
package signgate.authz

# write_constraints adds a team's upload_constraints to a write's grant as
# decision.constraints. signgate has the storage server enforce each one,
# or refuses to sign with 422 constraint_unenforceable, unless the
# constraint is listed in upload_constraints.advisory.
write_constraints := team.upload_constraints if {
	writing
	team.upload_constraints
} else := {}

# Only a write uploads anything; reads and deletes skip every check below
# (a deny is rare, and these checks would double the cost of a read).
writing if input.action.operation == "write"

upload_ok if not writing

upload_ok if {
	size_ok
	content_type_ok
	valid_upload_config
}

# A chunked upload states the object's size in input.action.size; other
# requests have none. Both max_upload_bytes and upload_constraints.max_bytes
# cap it.
size_requested if input.action.size != null

size_ok if not size_requested

size_ok if {
	valid_size
	not size_over_limit
}

valid_size if positive_integer(input.action.size)

size_over_limit if {
	some limit in upload_limits
	input.action.size > limit
}

upload_limits contains n if n := team.max_upload_bytes

upload_limits contains n if n := team.upload_constraints.max_bytes

# A content type the caller asks for must satisfy
# upload_constraints.content_type: the same type or, when the constraint
# ends in "/" (a prefix such as "image/"), a type that starts with it.
# Without one, signgate binds the constraint's exact type itself.
#
# The comparisons come before the negations: OPA tries the bodies in order
# until one holds, and a `not` costs more than a comparison.
content_type_ok if input.action.content_type == team.upload_constraints.content_type

content_type_ok if {
	endswith(team.upload_constraints.content_type, "/")
	startswith(input.action.content_type, team.upload_constraints.content_type)
}

content_type_ok if not content_type_constrained

content_type_ok if not content_type_requested

content_type_constrained if team.upload_constraints.content_type

content_type_requested if input.action.content_type != ""

# Malformed limits would compare as "never too large" (a number is less
# than any string in Rego's order), so they deny instead.
valid_upload_config if {
	every n in upload_limits {
		positive_integer(n)
	}
	valid_upload_constraints
}

valid_upload_constraints if object.get(team, "upload_constraints", null) == null

valid_upload_constraints if {
	is_object(team.upload_constraints)
	every name, value in team.upload_constraints {
		valid_constraint(name, value)
	}
}

valid_constraint("max_bytes", n) if positive_integer(n)

valid_constraint("content_type", s) if {
	is_string(s)
	s != ""
}

valid_constraint("content_md5", s) if is_string(s)

valid_constraint("advisory", names) if {
	is_array(names)
	every name in names {
		is_string(name)
	}
}

positive_integer(n) if {
	is_number(n)
	n > 0
	floor(n) == n
}

reasons contains "invalid_size" if {
	writing
	size_requested
	not valid_size
}

reasons contains "upload_too_large" if {
	writing
	valid_size
	size_over_limit
}

reasons contains "content_type_not_allowed" if {
	writing
	not content_type_ok
}

reasons contains "invalid_team_config" if {
	writing
	team
	not valid_upload_config
}
