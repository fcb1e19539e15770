// Package policies holds signgate's authorization policy: the Rego module
// that answers data.signgate.authz.decision and the example team data the
// dev configuration ships with. docs/policy.md is the author's guide.
package policies

import "embed"

// FS holds every *.rego file, tests included, and data.json. Loaders must
// skip *_test.rego, as opa build --ignore '*_test.rego' does in opa-test.sh.
//
//go:embed *.rego data.json
var FS embed.FS
