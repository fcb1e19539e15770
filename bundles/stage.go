package bundles

import (
	"errors"
	"strings"

	"github.com/open-policy-agent/opa/v1/download"

	"github.com/signgate/signgate/authz"
)

// readStage tells a signature failure from any other failure to read a
// bundle. OPA's reader returns untyped errors, so this goes by their
// wording; it only picks the stage label, never whether a bundle is
// accepted.
func readStage(err error) authz.Stage {
	var he download.HTTPError
	if errors.As(err, &he) || strings.HasPrefix(err.Error(), "request failed") {
		return authz.StageDownload
	}
	msg := err.Error()
	for _, s := range []string{"signature", "JWT", "scope mismatch", "digest mismatch", "verification key", "PEM block"} {
		if strings.Contains(msg, s) {
			return authz.StageVerify
		}
	}
	return authz.StageRead
}
