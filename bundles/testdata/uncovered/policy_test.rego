package fixture.uncovered_test

import data.fixture.uncovered

test_admin_is_allowed if {
	uncovered.allow with input as {"user": "admin"}
}
