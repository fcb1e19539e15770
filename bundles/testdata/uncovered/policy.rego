# A fixture for opa-test.sh: one rule has no test, so the coverage gate
# must fail even though every test passes.
package fixture.uncovered

allow if input.user == "admin"

# No test exercises this rule.
deny_reason := "not_admin" if input.user != "admin"
