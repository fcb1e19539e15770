package s3

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/signertest"
)

// TestAWSDocPresignedGET reproduces the presigned GET that the S3 API
// reference works through, byte for byte, through Sign.
func TestAWSDocPresignedGET(t *testing.T) {
	var doc struct {
		Credentials struct {
			AccessKeyID     string `json:"access_key_id"`
			SecretAccessKey string `json:"secret_access_key"`
		} `json:"credentials"`
		Tests []struct {
			Description    string    `json:"description"`
			Method         string    `json:"method"`
			Host           string    `json:"host"`
			Bucket         string    `json:"bucket"`
			Key            string    `json:"key"`
			Region         string    `json:"region"`
			Timestamp      time.Time `json:"timestamp"`
			ExpiresSeconds int64     `json:"expiresSeconds"`
			ExpectedURL    string    `json:"expectedUrl"`
		} `json:"presignedUrlTests"`
	}
	readJSON(t, filepath.Join(signertest.VectorDir(t, "aws-s3-docs-examples"), "s3_sigv4_doc_examples.transcribed.json"), &doc)
	ran := 0
	for _, v := range doc.Tests {
		t.Run(v.Description, func(t *testing.T) {
			s, err := New(Config{
				Bucket:      v.Bucket,
				Region:      v.Region,
				Credentials: StaticCredentials(doc.Credentials.AccessKeyID, doc.Credentials.SecretAccessKey),
			}, WithClock(func() time.Time { return v.Timestamp }))
			if err != nil {
				t.Fatal(err)
			}
			// The example uses the legacy global host; New would pick the
			// regional one, bucket.s3.us-east-1.amazonaws.com.
			s.host = v.Host
			got, err := s.Sign(context.Background(), signer.Grant{
				Key:       v.Key,
				Operation: signer.OpRead,
				TTL:       time.Duration(v.ExpiresSeconds) * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != v.Method {
				t.Errorf("Method = %q, want %q", got.Method, v.Method)
			}
			if got.URL != v.ExpectedURL {
				t.Errorf("URL =\n%s\nwant\n%s", got.URL, v.ExpectedURL)
			}
			if want := v.Timestamp.Add(time.Duration(v.ExpiresSeconds) * time.Second); !got.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %s, want %s", got.ExpiresAt, want)
			}
			ran++
		})
	}
	signertest.WantCases(t, "AWS docs presigned GET examples", ran, 1)
}

// normalizedPath is why the suite's path-normalising cases do not apply:
// their twins named -unnormalized are the S3 cases.
const normalizedPath = "expects dot segments or repeated slashes normalised away; S3 signs the path as sent"

// skippedSigV4Cases are the suite's cases that do not describe S3.
var skippedSigV4Cases = map[string]string{
	"get-relative-normalized":            normalizedPath,
	"get-relative-relative-normalized":   normalizedPath,
	"get-slash-dot-slash-normalized":     normalizedPath,
	"get-slash-normalized":               normalizedPath,
	"get-slash-pointless-dot-normalized": normalizedPath,
	"get-slashes-normalized":             normalizedPath,
	"post-sts-header-after":              "the session token is added after signing; an S3 presigned URL signs X-Amz-Security-Token",
}

// TestAWSSigV4SuiteQueryCases presigns each case of AWS's SigV4 test suite
// with the v4 signer configured as Sign configures it, the path escaped by
// signer.EscapeKey as Sign escapes it, and compares query-signature.txt.
func TestAWSSigV4SuiteQueryCases(t *testing.T) {
	dir := signertest.VectorDir(t, "aws-c-auth-sigv4-test-suite", "v4")
	cases, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range cases {
		name := c.Name()
		t.Run(name, func(t *testing.T) {
			if reason, ok := skippedSigV4Cases[name]; ok {
				t.Skip(reason)
			}
			var ctx struct {
				Credentials struct {
					AccessKeyID     string `json:"access_key_id"`
					SecretAccessKey string `json:"secret_access_key"`
					Token           string `json:"token"`
				} `json:"credentials"`
				Expiration int64     `json:"expiration_in_seconds"`
				Region     string    `json:"region"`
				Service    string    `json:"service"`
				SignBody   bool      `json:"sign_body"`
				Timestamp  time.Time `json:"timestamp"`
			}
			readJSON(t, filepath.Join(dir, name, "context.json"), &ctx)
			req, body := parseRequest(t, filepath.Join(dir, name, "request.txt"))
			q := req.URL.Query()
			q.Set("X-Amz-Expires", strconv.FormatInt(ctx.Expiration, 10))
			req.URL.RawQuery = q.Encode()
			if !ctx.SignBody {
				body = nil
			}
			sum := sha256.Sum256(body)
			creds := aws.Credentials{
				AccessKeyID:     ctx.Credentials.AccessKeyID,
				SecretAccessKey: ctx.Credentials.SecretAccessKey,
				SessionToken:    ctx.Credentials.Token,
			}
			signed, _, err := newV4Signer().PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), ctx.Service, ctx.Region, ctx.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(signed)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(readFile(t, filepath.Join(dir, name, "query-signature.txt")))
			if got := u.Query().Get("X-Amz-Signature"); got != want {
				t.Errorf("X-Amz-Signature = %s, want %s (URL %s)", got, want, signed)
			}
			ran++
		})
	}
	if len(cases) != 38 {
		t.Errorf("%d case directories, want AWS's 38", len(cases))
	}
	signertest.WantCases(t, "SigV4 query cases", ran, 38-len(skippedSigV4Cases))
}

// parseRequest reads a raw HTTP/1.1 request as the suite writes it: the
// path may hold spaces and is unescaped, header lines may be folded.
func parseRequest(t *testing.T, path string) (*http.Request, []byte) {
	t.Helper()
	head, body, _ := strings.Cut(readFile(t, path), "\n\n")
	sc := bufio.NewScanner(strings.NewReader(head))
	sc.Scan()
	line := sc.Text()
	method, rest, _ := strings.Cut(line, " ")
	target := rest[:strings.LastIndex(rest, " ")]
	rawPath, rawQuery, _ := strings.Cut(target, "?")
	decoded, err := url.PathUnescape(rawPath)
	if err != nil {
		t.Fatalf("path %q: %v", rawPath, err)
	}
	var names, values []string
	for sc.Scan() {
		l := sc.Text()
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			values[len(values)-1] += " " + strings.TrimSpace(l)
			continue
		}
		name, value, _ := strings.Cut(l, ":")
		names, values = append(names, name), append(values, value)
	}
	req := &http.Request{
		Method: method,
		URL:    &url.URL{Scheme: "https", Path: decoded, RawPath: signer.EscapeKey(decoded), RawQuery: rawQuery},
		Header: http.Header{},
	}
	for i, name := range names {
		switch strings.ToLower(name) {
		case "host":
			req.Host, req.URL.Host = values[i], values[i]
		case "content-length":
			req.ContentLength = int64(len(body))
		default:
			req.Header.Add(name, values[i])
		}
	}
	return req, []byte(body)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
