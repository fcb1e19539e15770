package s3

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/signer"
)

// presignRequest is one request to presign on the signer's host.
type presignRequest struct {
	method   string
	path     string // unescaped
	rawPath  string // path as signer.EscapeKey escapes it
	rawQuery string // X-Amz-Expires and any other signed parameter
	// header holds the headers the signature binds (Content-Type,
	// Content-MD5); the client must send them exactly.
	header http.Header
	// contentLength, when > 0, is bound as content-length: the body must
	// have exactly that many bytes.
	contentLength int64
}

// presign is the signing path below URL layout, shared by Sign, the
// multipart flow and its tests: it signs r on the signer's host with creds
// at at, valid for secs. The SDK's SigV4 signer computes the signature.
func (s *Signer) presign(ctx context.Context, creds aws.Credentials, r presignRequest, secs int64, at time.Time) (signer.Signed, error) {
	// A nil header stays nil: in presign mode the SDK reads the headers
	// and never sets one, and cloning nil costs nothing.
	req := &http.Request{
		Method: r.method,
		URL: &url.URL{
			Scheme:   s.scheme,
			Host:     s.host,
			Path:     r.path,
			RawPath:  r.rawPath,
			RawQuery: r.rawQuery,
		},
		Host:          s.host,
		Header:        r.header,
		ContentLength: r.contentLength,
	}
	signedURL, signedHeaders, err := s.v4.PresignHTTP(ctx, creds, req, unsignedPayload, "s3", s.region, at)
	if err != nil {
		return signer.Signed{}, err
	}
	headers := make(map[string]string, len(signedHeaders))
	for name, values := range signedHeaders {
		if name == "Host" { // the client sends it from the URL anyway
			continue
		}
		headers[name] = strings.Join(values, ",")
	}
	return signer.Signed{
		URL:       signedURL,
		Method:    r.method,
		Headers:   headers,
		ExpiresAt: at.Add(time.Duration(secs) * time.Second),
	}, nil
}
