package signer

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// ParseEndpoint checks a connector's endpoint: an http or https URL with a
// host and nothing else, or, with withPath, also a path (Azure's
// emulator names its account there: /account). Errors name neither the provider
// nor the field; the caller wraps them.
func ParseEndpoint(endpoint string, withPath bool) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	want := "scheme://host[:port] only"
	if withPath {
		want = "scheme://host[:port][/account]"
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q: %w", endpoint, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: scheme must be http or https", endpoint)
	case u.Host == "":
		return nil, fmt.Errorf("%q: no host", endpoint)
	case (!withPath && strings.Trim(u.Path, "/") != "") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("%q: want %s", endpoint, want)
	}
	return u, nil
}

// Prepare is what every provider checks before it signs g: the grant is
// valid, ctx is not done, and the TTL in the whole seconds that URLs
// carry.
func Prepare(ctx context.Context, g Grant) (secs int64, err error) {
	if err := g.Validate(); err != nil {
		return 0, err
	}
	if secs, err = g.TTLSeconds(); err != nil {
		return 0, err
	}
	return secs, ctx.Err()
}

// errNoIPRange is the answer of a provider whose URLs cannot carry a
// client IP range.
var errNoIPRange = fmt.Errorf("%w: a pre-signed URL cannot carry a client IP range", ErrUnsupported)

// RefuseIPRange is Prepare's companion for providers whose URLs cannot
// carry a client IP range.
func RefuseIPRange(g Grant) error {
	if g.IPRange.IsValid() {
		return errNoIPRange
	}
	return nil
}
