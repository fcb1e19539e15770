package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// provider is one column of the matrix: what differs between S3, GCS and
// Azure in how a URL carries its signature and expiry, and direct access to
// the server for set-up and checks (never through signgate).
type provider struct {
	name      string // s3, gcs or azure
	server    string // the program standing in for the provider
	team      team   // alice's: every operation
	otherTeam team   // bob's: read only, on another bucket
	sigParam  string // the query parameter holding the signature

	// serverErr says why the server is not running, or nil.
	serverErr func() error
	put       func(ctx context.Context, bucket, key string, data []byte) error
	get       func(ctx context.Context, bucket, key string) (data []byte, found bool, err error)

	// expiry reads the expiry signed into a URL's query.
	expiry func(q map[string]string) (time.Time, error)
	// laterExpiry is the edited expiry parameter: name and a later value.
	laterExpiry func(q map[string]string) (param, value string)
}

const (
	amzTime  = "20060102T150405Z" // X-Amz-Date and X-Goog-Date
	sasTime  = "2006-01-02T15:04:05Z"
	extraTTL = time.Hour
)

func teamByName(name string) team {
	for _, tm := range teams {
		if tm.name == name {
			return tm
		}
	}
	panic("no team " + name)
}

// v4Expiry is the expiry of a SigV4 or GOOG4 query signature: the signing
// time plus the lifetime in seconds.
func v4Expiry(dateParam, expiresParam string) func(q map[string]string) (time.Time, error) {
	return func(q map[string]string) (time.Time, error) {
		date, err := time.Parse(amzTime, q[dateParam])
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", dateParam, err)
		}
		secs, err := strconv.Atoi(q[expiresParam])
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", expiresParam, err)
		}
		return date.Add(time.Duration(secs) * time.Second), nil
	}
}

func v4LaterExpiry(expiresParam string) func(q map[string]string) (string, string) {
	return func(q map[string]string) (string, string) {
		secs, _ := strconv.Atoi(q[expiresParam])
		return expiresParam, strconv.Itoa(secs + int(extraTTL/time.Second))
	}
}

var providers = []*provider{
	{
		name: "s3", server: "versitygw", team: teamByName("vision"), otherTeam: teamByName("audio"),
		sigParam:  "X-Amz-Signature",
		serverErr: func() error { return suite.servers.S3Err },
		put: func(ctx context.Context, bucket, key string, data []byte) error {
			return suite.servers.S3.PutObject(ctx, bucket, key, data)
		},
		get: func(ctx context.Context, bucket, key string) ([]byte, bool, error) {
			return suite.servers.S3.GetObject(ctx, bucket, key)
		},
		expiry:      v4Expiry("X-Amz-Date", "X-Amz-Expires"),
		laterExpiry: v4LaterExpiry("X-Amz-Expires"),
	},
	{
		name: "gcs", server: "fake-gcs-server", team: teamByName("nlp"), otherTeam: teamByName("search"),
		sigParam:  "X-Goog-Signature",
		serverErr: func() error { return suite.servers.GCSErr },
		put: func(ctx context.Context, bucket, key string, data []byte) error {
			return suite.servers.GCS.PutObject(ctx, bucket, key, data)
		},
		get: func(ctx context.Context, bucket, key string) ([]byte, bool, error) {
			return suite.servers.GCS.GetObject(ctx, bucket, key)
		},
		expiry:      v4Expiry("X-Goog-Date", "X-Goog-Expires"),
		laterExpiry: v4LaterExpiry("X-Goog-Expires"),
	},
	{
		name: "azure", server: "azurite-blob", team: teamByName("web"), otherTeam: teamByName("mobile"),
		sigParam:  "sig",
		serverErr: func() error { return suite.servers.AzureErr },
		put: func(ctx context.Context, bucket, key string, data []byte) error {
			return suite.servers.Azure.PutObject(ctx, bucket, key, data)
		},
		get: func(ctx context.Context, bucket, key string) ([]byte, bool, error) {
			return suite.servers.Azure.GetObject(ctx, bucket, key)
		},
		expiry: func(q map[string]string) (time.Time, error) {
			return time.Parse(time.RFC3339, q["se"])
		},
		laterExpiry: func(q map[string]string) (string, string) {
			se, _ := time.Parse(time.RFC3339, q["se"])
			return "se", se.Add(extraTTL).UTC().Format(sasTime)
		},
	},
}

// The helpers below edit a URL the way an attacker would: one part of the
// raw string, leaving every other byte as signgate wrote it.

// queryParams decodes a URL's query, one value per name.
func queryParams(rawURL string) (map[string]string, error) {
	_, rawQuery, _ := strings.Cut(rawURL, "?")
	out := map[string]string{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, value, _ := strings.Cut(part, "=")
		n, err := unescape(name)
		if err != nil {
			return nil, err
		}
		v, err := unescape(value)
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}

// withParam replaces the value of one query parameter in rawURL.
func withParam(rawURL, name, value string) (string, error) {
	base, rawQuery, _ := strings.Cut(rawURL, "?")
	parts := strings.Split(rawQuery, "&")
	found := false
	for i, part := range parts {
		n, _, _ := strings.Cut(part, "=")
		if un, _ := unescape(n); un == name {
			parts[i] = n + "=" + escape(value)
			found = true
		}
	}
	if !found {
		return "", fmt.Errorf("no %s parameter in %s", name, rawURL)
	}
	return base + "?" + strings.Join(parts, "&"), nil
}

// withFlippedSignature changes one character of the signature parameter:
// the first letter or digit, which carries signature bits in hex and in
// base64 alike (a last base64 character may only carry padding bits).
func withFlippedSignature(rawURL, param string) (string, error) {
	base, rawQuery, _ := strings.Cut(rawURL, "?")
	parts := strings.Split(rawQuery, "&")
	for i, part := range parts {
		n, v, _ := strings.Cut(part, "=")
		if n != param {
			continue
		}
		for j := 0; j < len(v); j++ {
			c := v[j]
			if isAlnum(c) {
				flipped := byte('a')
				if c == 'a' {
					flipped = 'b'
				}
				parts[i] = n + "=" + v[:j] + string(flipped) + v[j+1:]
				return base + "?" + strings.Join(parts, "&"), nil
			}
		}
	}
	return "", fmt.Errorf("no %s parameter to tamper with in %s", param, rawURL)
}

// withPathSegment replaces the first path segment equal to from with to
// (a bucket, a container, or the last segment of a key).
func withPathSegment(rawURL, from, to string) (string, error) {
	base, rawQuery, _ := strings.Cut(rawURL, "?")
	scheme, rest, _ := strings.Cut(base, "://")
	host, path, _ := strings.Cut(rest, "/")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == from {
			segs[i] = to
			return scheme + "://" + host + "/" + strings.Join(segs, "/") + "?" + rawQuery, nil
		}
	}
	return "", fmt.Errorf("no path segment %q in %s", from, rawURL)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func unescape(s string) (string, error) { return url.QueryUnescape(s) }

func escape(s string) string { return url.QueryEscape(s) }
