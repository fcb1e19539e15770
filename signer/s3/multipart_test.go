package s3

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/signgate/signgate/signer"
)

var testAt = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newTestSigner(t *testing.T, endpoint string) *Signer {
	t.Helper()
	s, err := New(Config{Bucket: "examplebucket", Region: "us-east-1", Endpoint: endpoint, Credentials: StaticCredentials(exampleKeyID, exampleSecret)},
		WithClock(func() time.Time { return testAt.Add(400 * time.Millisecond) }))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignFlowBindsPartNumberUploadIDAndLength(t *testing.T) {
	s := newTestSigner(t, "http://127.0.0.1:7070")
	parts, _, err := signer.PlanParts(12<<20, 5<<20)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := s.creds.Retrieve(context.Background())
	g := signer.UploadGrant{Key: "vision/ckpt 1.bin", Size: 12 << 20, TTL: time.Hour, DecisionID: "d-1"}
	up, err := s.signFlow(context.Background(), creds, g, "up/1+2=", parts, 3600, testAt)
	if err != nil {
		t.Fatal(err)
	}
	if up.Flow != signer.FlowS3Multipart || up.UploadID != "up/1+2=" || !up.ExpiresAt.Equal(testAt.Add(time.Hour)) {
		t.Fatalf("upload %s %q expires %s", up.Flow, up.UploadID, up.ExpiresAt)
	}
	for _, p := range up.Parts {
		u, q := parse(t, p.URL)
		want := map[string]string{
			"partNumber": strconv.Itoa(p.Number), "uploadId": "up/1+2=", "X-Amz-Expires": "3600",
			"X-Amz-SignedHeaders": "content-length;host", "X-Amz-Date": "20261127T100000Z", signer.DecisionParam: "d-1",
		}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("part %d: %s = %q, want %q", p.Number, k, q.Get(k), v)
			}
		}
		if u.EscapedPath() != "/examplebucket/vision/ckpt%201.bin" || p.Method != "PUT" {
			t.Errorf("part %d: %s %s", p.Number, p.Method, u.EscapedPath())
		}
		if !reflect.DeepEqual(p.Headers, map[string]string{"Content-Length": strconv.FormatInt(p.Length, 10)}) {
			t.Errorf("part %d headers %v, want its exact Content-Length", p.Number, p.Headers)
		}
	}
	for _, c := range []struct {
		call   *signer.Call
		method string
	}{{up.Complete, "POST"}, {up.Abort, "DELETE"}} {
		_, q := parse(t, c.call.URL)
		if c.call.Method != c.method || q.Get("uploadId") != "up/1+2=" || q.Has("partNumber") || q.Get("X-Amz-SignedHeaders") != "host" {
			t.Errorf("%s call: %s %s", c.method, c.call.Method, c.call.URL)
		}
	}
	wantBody := `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		"<Part><PartNumber>1</PartNumber><ETag>{etag:1}</ETag></Part>" +
		"<Part><PartNumber>2</PartNumber><ETag>{etag:2}</ETag></Part>" +
		"<Part><PartNumber>3</PartNumber><ETag>{etag:3}</ETag></Part></CompleteMultipartUpload>"
	if up.Complete.BodyTemplate != wantBody {
		t.Errorf("body template %s\nwant %s", up.Complete.BodyTemplate, wantBody)
	}
}

// TestSignFlowAgreesWithPresignUploadPart compares a part URL with the S3
// client's own PresignUploadPart on everything but the time (which the
// presigner cannot be given) and its x-id parameter.
func TestSignFlowAgreesWithPresignUploadPart(t *testing.T) {
	for _, endpoint := range []string{"", "http://127.0.0.1:7070"} {
		t.Run("endpoint "+endpoint, func(t *testing.T) {
			opts := awss3.Options{Region: "us-east-1", Credentials: StaticCredentials(exampleKeyID, exampleSecret)}
			if endpoint != "" {
				opts.BaseEndpoint, opts.UsePathStyle = aws.String(endpoint), true
			}
			want, err := awss3.NewPresignClient(awss3.New(opts)).PresignUploadPart(context.Background(), &awss3.UploadPartInput{
				Bucket: aws.String("examplebucket"), Key: aws.String("a b/ü.bin"), UploadId: aws.String("abc"),
				PartNumber: aws.Int32(2), ContentLength: aws.Int64(5 << 20),
			}, awss3.WithPresignExpires(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			s := newTestSigner(t, endpoint)
			creds, _ := s.creds.Retrieve(context.Background())
			up, err := s.signFlow(context.Background(), creds, signer.UploadGrant{Key: "a b/ü.bin"}, "abc",
				[]signer.Part{{Number: 2, Length: 5 << 20}}, 3600, testAt)
			if err != nil {
				t.Fatal(err)
			}
			gotU, got := parse(t, up.Parts[0].URL)
			wantU, wantQ := parse(t, want.URL)
			if gotU.Scheme != wantU.Scheme || gotU.Host != wantU.Host || gotU.EscapedPath() != wantU.EscapedPath() {
				t.Errorf("URL %s, presigner %s", up.Parts[0].URL, want.URL)
			}
			for _, p := range []string{"partNumber", "uploadId", "X-Amz-Algorithm", "X-Amz-Expires", "X-Amz-SignedHeaders"} {
				if got.Get(p) != wantQ.Get(p) {
					t.Errorf("%s = %q, presigner %q", p, got.Get(p), wantQ.Get(p))
				}
			}
			if want.SignedHeader.Get("Content-Length") != up.Parts[0].Headers["Content-Length"] {
				t.Errorf("Content-Length %q, presigner %q", up.Parts[0].Headers["Content-Length"], want.SignedHeader.Get("Content-Length"))
			}
		})
	}
}

func TestSignFormConditions(t *testing.T) {
	s := newTestSigner(t, "http://127.0.0.1:7070")
	tests := []struct {
		name       string
		given      signer.FormGrant
		wantConds  []string
		wantFields map[string]string
	}{
		{"binds only bucket and key without limits", signer.FormGrant{Key: "k", TTL: time.Minute}, nil, map[string]string{"key": "k"}},
		{"bounds the size", signer.FormGrant{Key: "k", TTL: time.Minute, MaxBytes: 1024}, []string{`["content-length-range",0,1024]`}, nil},
		{"binds an exact content type and fills its field", signer.FormGrant{Key: "k", TTL: time.Minute, ContentType: "image/png"},
			[]string{`["eq","$Content-Type","image/png"]`}, map[string]string{"Content-Type": "image/png"}},
		{"binds a content type prefix", signer.FormGrant{Key: "k", TTL: time.Minute, ContentType: "image/", ContentTypePrefix: true},
			[]string{`["starts-with","$Content-Type","image/"]`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := s.SignForm(context.Background(), tt.given)
			if err != nil {
				t.Fatal(err)
			}
			if form.URL != "http://127.0.0.1:7070/examplebucket" || !form.ExpiresAt.Equal(testAt.Add(time.Minute)) {
				t.Errorf("form %s expires %s", form.URL, form.ExpiresAt)
			}
			p := decodePolicy(t, form.Fields["policy"])
			conds := map[string]bool{}
			for _, c := range p.Conditions {
				conds[jsonString(t, c)] = true
			}
			for _, want := range append([]string{`{"bucket":"examplebucket"}`, `{"key":"` + tt.given.Key + `"}`}, tt.wantConds...) {
				if !conds[want] {
					t.Errorf("conditions %v lack %s", conds, want)
				}
			}
			if len(conds) != 5+len(tt.wantConds) {
				t.Errorf("%d conditions %v, want the SDK's 5 and %v", len(conds), conds, tt.wantConds)
			}
			for k, v := range tt.wantFields {
				if form.Fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, form.Fields[k], v)
				}
			}
			if form.Fields["X-Amz-Date"] != "20261127T100000Z" || form.Fields["X-Amz-Signature"] == "" {
				t.Errorf("fields %v", form.Fields)
			}
		})
	}
}

func TestSignBindsContentMD5(t *testing.T) {
	s := newTestSigner(t, "")
	signed, err := s.Sign(context.Background(), signer.Grant{Key: "k", Operation: signer.OpWrite, TTL: time.Minute, ContentMD5: "1B2M2Y8AsgTpgAmY7PhCfg=="})
	if err != nil {
		t.Fatal(err)
	}
	_, q := parse(t, signed.URL)
	if q.Get("X-Amz-SignedHeaders") != "content-md5;host" || signed.Headers["Content-Md5"] != "1B2M2Y8AsgTpgAmY7PhCfg==" {
		t.Errorf("signed headers %q, headers %v", q.Get("X-Amz-SignedHeaders"), signed.Headers)
	}
}

func TestEnforces(t *testing.T) {
	s := newTestSigner(t, "")
	want := map[signer.Flow][]signer.Constraint{
		signer.FlowURL:    {signer.ContentType, signer.ContentMD5},
		signer.FlowForm:   {signer.MaxBytes, signer.ContentType},
		signer.FlowUpload: {signer.MaxBytes, signer.ContentType},
	}
	for f, cs := range want {
		for _, c := range []signer.Constraint{signer.MaxBytes, signer.ContentType, signer.ContentMD5} {
			wantOK := strings.Contains(strings.Join(toStrings(cs), ","), string(c))
			if got := s.Enforces(f, c); got != wantOK {
				t.Errorf("Enforces(%s, %s) = %v, want %v", f, c, got, wantOK)
			}
		}
	}
}

func toStrings(cs []signer.Constraint) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func parse(t *testing.T, raw string) (*url.URL, url.Values) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u, u.Query()
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
