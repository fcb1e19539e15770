// Package gcsverify checks GCS V4 signed URLs (GOOG4-RSA-SHA256) from the
// receiving side, as Google's servers do, and shares no code with the
// signing side: it rebuilds the canonical request and string-to-sign from
// the request as received (per cloud.google.com/storage/docs/authentication
// /canonical-requests and .../signatures) and checks the RSA signature and
// the validity window. A verifying proxy in front of an emulator such as
// fake-gcs-server uses it; so do the signer's tests.
package gcsverify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The errors Verify and Parse wrap; test for them with errors.Is.
var (
	ErrMalformed     = errors.New("gcsverify: malformed signed URL")
	ErrAlgorithm     = errors.New("gcsverify: unsupported signing algorithm")
	ErrMissingHeader = errors.New("gcsverify: signed header missing from request")
	ErrBadSignature  = errors.New("gcsverify: signature does not match")
	ErrNotYetValid   = errors.New("gcsverify: signed in the future")
	ErrExpired       = errors.New("gcsverify: signed URL expired")
)

const (
	algorithm  = "GOOG4-RSA-SHA256"
	dateFormat = "20060102T150405Z"
	maxExpires = 7 * 24 * 60 * 60 // seconds, GCS's limit
)

// Request is what the verifier needs of an incoming request.
type Request struct {
	Method string
	URL    *url.URL    // path and query as received (RawPath is honoured)
	Host   string      // the Host header; its port is not signed (see Parse)
	Header http.Header // may be nil when no header but host is signed
}

// FromHTTP takes a Request from a server-side *http.Request.
func FromHTTP(r *http.Request) Request {
	return Request{Method: r.Method, URL: r.URL, Host: r.Host, Header: r.Header}
}

// Signed is a parsed signed request, with what the verifier rebuilt.
type Signed struct {
	AccessID         string    // the signer's email, from X-Goog-Credential
	Scope            string    // date/location/storage/goog4_request
	Date             time.Time // X-Goog-Date
	ExpiresAt        time.Time // Date + X-Goog-Expires; invalid from then on
	SignedHeaders    []string  // from X-Goog-SignedHeaders
	Signature        []byte    // from X-Goog-Signature
	CanonicalRequest string
	StringToSign     string
}

// Parse reads the signature parameters of r and rebuilds its canonical
// request and string-to-sign. It checks form only, not the signature or
// the time. Following Google's clients and the conformance vectors, the
// signed host is the Host header without its port.
func Parse(r Request) (*Signed, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrMalformed, err)
	}
	param := func(name string) (string, error) {
		if len(q[name]) != 1 || q[name][0] == "" {
			return "", fmt.Errorf("%w: want exactly one %s", ErrMalformed, name)
		}
		return q[name][0], nil
	}
	var p [6]string
	for i, name := range []string{"X-Goog-Algorithm", "X-Goog-Credential", "X-Goog-Date", "X-Goog-Expires", "X-Goog-SignedHeaders", "X-Goog-Signature"} {
		if p[i], err = param(name); err != nil {
			return nil, err
		}
	}
	alg, credential, date, expires, signedHeaders, signature := p[0], p[1], p[2], p[3], p[4], p[5]
	if alg != algorithm {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
	}
	s := &Signed{}
	if s.Date, err = time.Parse(dateFormat, date); err != nil {
		return nil, fmt.Errorf("%w: X-Goog-Date %q", ErrMalformed, date)
	}
	secs, err := strconv.Atoi(expires)
	if err != nil || secs < 1 || secs > maxExpires {
		return nil, fmt.Errorf("%w: X-Goog-Expires %q not in 1..%d", ErrMalformed, expires, maxExpires)
	}
	s.ExpiresAt = s.Date.Add(time.Duration(secs) * time.Second)
	parts := strings.Split(credential, "/")
	if n := len(parts); n < 5 || parts[n-4] != date[:8] || parts[n-2] != "storage" || parts[n-1] != "goog4_request" {
		return nil, fmt.Errorf("%w: X-Goog-Credential %q does not end in /%s/<location>/storage/goog4_request", ErrMalformed, credential, date[:8])
	}
	s.AccessID = strings.Join(parts[:len(parts)-4], "/")
	s.Scope = strings.Join(parts[len(parts)-4:], "/")
	if s.Signature, err = hex.DecodeString(signature); err != nil {
		return nil, fmt.Errorf("%w: X-Goog-Signature is not hex", ErrMalformed)
	}
	s.SignedHeaders = strings.Split(signedHeaders, ";")
	if !slices.IsSorted(s.SignedHeaders) || !slices.Contains(s.SignedHeaders, "host") || strings.ToLower(signedHeaders) != signedHeaders {
		return nil, fmt.Errorf("%w: X-Goog-SignedHeaders %q: want sorted lower-case names including host", ErrMalformed, signedHeaders)
	}

	headers, payload, err := canonicalHeaders(r, s.SignedHeaders)
	if err != nil {
		return nil, err
	}
	delete(q, "X-Goog-Signature")
	s.CanonicalRequest = strings.Join([]string{
		r.Method,
		canonicalPath(r.URL),
		canonicalQuery(q),
		headers,
		signedHeaders,
		payload,
	}, "\n")
	sum := sha256.Sum256([]byte(s.CanonicalRequest))
	s.StringToSign = strings.Join([]string{algorithm, date, s.Scope, hex.EncodeToString(sum[:])}, "\n")
	return s, nil
}

// Verify checks that r is a validly signed request by the holder of pub's
// private key at time now. It returns the parsed signature either way when
// the request could be parsed, so that a caller can log who signed it.
func Verify(r Request, pub *rsa.PublicKey, now time.Time) (*Signed, error) {
	s, err := Parse(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(s.StringToSign))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], s.Signature); err != nil {
		return s, ErrBadSignature
	}
	switch {
	case now.Before(s.Date):
		return s, fmt.Errorf("%w: X-Goog-Date %s is after %s", ErrNotYetValid, s.Date.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case !now.Before(s.ExpiresAt):
		return s, fmt.Errorf("%w: at %s", ErrExpired, s.ExpiresAt.Format(time.RFC3339))
	}
	return s, nil
}

// canonicalHeaders returns the canonical headers block (each signed header
// as name:value, then an empty line) and the payload hash.
func canonicalHeaders(r Request, signed []string) (block, payload string, err error) {
	var b strings.Builder
	payload = "UNSIGNED-PAYLOAD"
	for _, name := range signed {
		var value string
		if name == "host" {
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			value = (&url.URL{Host: host}).Hostname()
		} else {
			values := headerValues(r.Header, name)
			if values == nil {
				return "", "", fmt.Errorf("%w: %s", ErrMissingHeader, name)
			}
			for i, v := range values {
				values[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(values, ",")
		}
		if name == "x-goog-content-sha256" {
			payload = value
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	return b.String(), payload, nil
}

// headerValues finds a header by case-insensitive name, including names
// that http.CanonicalHeaderKey leaves alone (such as "a/b").
func headerValues(h http.Header, name string) []string {
	var values []string
	for k, v := range h {
		if strings.EqualFold(k, name) {
			values = append(values, v...)
		}
	}
	return values
}

// canonicalPath re-escapes each segment of the received path, so that a
// client escaping more or less than the signer did still matches.
func canonicalPath(u *url.URL) string {
	segments := strings.Split(u.EscapedPath(), "/")
	for i, seg := range segments {
		if raw, err := url.PathUnescape(seg); err == nil {
			seg = raw
		}
		segments[i] = escape(seg)
	}
	if p := strings.Join(segments, "/"); p != "" {
		return p
	}
	return "/"
}

// canonicalQuery escapes every name and value and sorts the pairs by name,
// then value.
func canonicalQuery(q url.Values) string {
	pairs := make([]string, 0, len(q)+1)
	for name, values := range q {
		for _, v := range values {
			pairs = append(pairs, escape(name)+"="+escape(v))
		}
	}
	slices.SortFunc(pairs, func(a, b string) int {
		an, av, _ := strings.Cut(a, "=")
		bn, bv, _ := strings.Cut(b, "=")
		if c := strings.Compare(an, bn); c != 0 {
			return c
		}
		return strings.Compare(av, bv)
	})
	return strings.Join(pairs, "&")
}

// escape percent-encodes every byte outside RFC 3986's unreserved set.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
