package gcs

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/signgate/signgate/signer"
	"github.com/signgate/signgate/signer/signertest"
)

// postVector is one of googleapis/conformance-tests' postPolicyV4Tests.
type postVector struct {
	Description string `json:"description"`
	PolicyInput struct {
		Scheme     string            `json:"scheme"`
		URLStyle   string            `json:"urlStyle"`
		Bucket     string            `json:"bucket"`
		Object     string            `json:"object"`
		Expiration int64             `json:"expiration"`
		Timestamp  time.Time         `json:"timestamp"`
		Fields     map[string]string `json:"fields"`
		Conditions struct {
			StartsWith         []string `json:"startsWith"`
			ContentLengthRange []uint64 `json:"contentLengthRange"`
		} `json:"conditions"`
	} `json:"policyInput"`
	PolicyOutput struct {
		URL                   string            `json:"url"`
		Fields                map[string]string `json:"fields"`
		ExpectedDecodedPolicy string            `json:"expectedDecodedPolicy"`
	} `json:"policyOutput"`
}

func loadPostVectors(t *testing.T) ([]postVector, []byte, *rsa.PublicKey) {
	t.Helper()
	dir := signertest.VectorDir(t, "googleapis-conformance-tests")
	b, err := os.ReadFile(filepath.Join(dir, "v4_signatures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		PostPolicyV4Tests []postVector `json:"postPolicyV4Tests"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if n := len(file.PostPolicyV4Tests); n != 11 {
		t.Fatalf("%d postPolicyV4Tests, want Google's 11", n)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "test_service_account.not-a-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ParseServiceAccountJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return file.PostPolicyV4Tests, raw, &sa.Key.PublicKey
}

// verifyPolicySignature checks a hex x-goog-signature over a base64 policy.
func verifyPolicySignature(pub *rsa.PublicKey, policy, sigHex string) error {
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(policy))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// TestPostVectorSignaturesAreTheDummyKeys checks the data first: each
// vector's x-goog-signature is the dummy key's signature of its policy.
func TestPostVectorSignaturesAreTheDummyKeys(t *testing.T) {
	vectors, _, pub := loadPostVectors(t)
	ran := 0
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			if err := verifyPolicySignature(pub, v.PolicyOutput.Fields["policy"], v.PolicyOutput.Fields["x-goog-signature"]); err != nil {
				t.Error(err)
			}
			ran++
		})
	}
	signertest.WantCases(t, "GCS POST policy cases", ran, 11)
}

// TestSignPolicyReproducesPostVectors signs each vector now
// (the storage library reads the wall clock) with the dummy key through
// the signer's one POST-policy call, and checks it structurally against
// the vector with only the time changed: the URL, the decoded policy, the
// form fields, and the signature, which must verify with the dummy key.
// Vectors the signer's grants can express also go through SignForm.
func TestSignPolicyReproducesPostVectors(t *testing.T) {
	vectors, raw, pub := loadPostVectors(t)
	ran := 0
	for _, v := range vectors {
		t.Run(v.Description, func(t *testing.T) {
			in := v.PolicyInput
			s, err := New(Config{Bucket: in.Bucket, ServiceAccountJSON: raw})
			if err != nil {
				t.Fatal(err)
			}
			fields, conds := vectorPolicy(t, v)
			expires := time.Now().UTC().Truncate(time.Second).Add(time.Duration(in.Expiration) * time.Second)
			pp, err := s.signPolicy(s.signBytes, in.Object, expires, fields, conds)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstVector(t, v, pp.URL, pp.Fields, expires, pub)
			if len(in.Fields) == 0 && len(conds) == 0 {
				form, err := s.SignForm(context.Background(), signer.FormGrant{Key: in.Object, TTL: time.Duration(in.Expiration) * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				checkAgainstVector(t, v, form.URL, form.Fields, form.ExpiresAt, pub)
			}
			ran++
		})
	}
	signertest.WantCases(t, "GCS POST policy cases through signPolicy", ran, 11)
}

// vectorPolicy maps a vector's input onto the storage library's options.
func vectorPolicy(t *testing.T, v postVector) (*storage.PolicyV4Fields, []storage.PostPolicyV4Condition) {
	t.Helper()
	in := v.PolicyInput
	f := &storage.PolicyV4Fields{Metadata: map[string]string{}}
	for k, val := range in.Fields {
		switch {
		case k == "acl":
			f.ACL = val
		case k == "cache-control":
			f.CacheControl = val
		case k == "content-type":
			f.ContentType = val
		case k == "content-disposition":
			f.ContentDisposition = val
		case k == "content-encoding":
			f.ContentEncoding = val
		case k == "success_action_redirect":
			f.RedirectToURLOnSuccess = val
		case k == "success_action_status":
			n, err := strconv.Atoi(val)
			if err != nil {
				t.Fatal(err)
			}
			f.StatusCodeOnSuccess = n
		case strings.HasPrefix(k, "x-goog-meta-"):
			f.Metadata[k] = val
		default:
			t.Fatalf("unknown vector field %q", k)
		}
	}
	var conds []storage.PostPolicyV4Condition
	if sw := in.Conditions.StartsWith; len(sw) == 2 {
		conds = append(conds, storage.ConditionStartsWith(sw[0], sw[1]))
	}
	if r := in.Conditions.ContentLengthRange; len(r) == 2 {
		conds = append(conds, storage.ConditionContentLengthRange(r[0], r[1]))
	}
	return f, conds
}

// checkAgainstVector compares a signed policy with a vector. The policy
// does not depend on the URL style, so vectors of other styles (the signer
// makes path-style URLs only) are compared on everything but the URL.
func checkAgainstVector(t *testing.T, v postVector, gotURL string, got map[string]string, expires time.Time, pub *rsa.PublicKey) {
	t.Helper()
	if style := v.PolicyInput.URLStyle; style != "" && style != "PATH_STYLE" {
		t.Logf("%s: URL not compared; the signer makes path-style URLs only", style)
	} else if gotURL != v.PolicyOutput.URL {
		t.Errorf("URL %s, want %s", gotURL, v.PolicyOutput.URL)
	}
	date := got["x-goog-date"]
	if len(date) != len("20060102T150405Z") {
		t.Fatalf("x-goog-date %q", date)
	}
	now := strings.NewReplacer(
		v.PolicyInput.Timestamp.Format("20060102T150405Z"), date,
		v.PolicyInput.Timestamp.Format("20060102"), date[:8],
		v.PolicyInput.Timestamp.Add(time.Duration(v.PolicyInput.Expiration)*time.Second).Format(time.RFC3339), expires.Format(time.RFC3339),
	)
	policy, err := base64.StdEncoding.DecodeString(got["policy"])
	if err != nil {
		t.Fatal(err)
	}
	var gotPolicy, wantPolicy any
	if err := json.Unmarshal(policy, &gotPolicy); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(now.Replace(v.PolicyOutput.ExpectedDecodedPolicy)), &wantPolicy); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotPolicy, wantPolicy) {
		t.Errorf("policy\n%s\nwant\n%s", policy, now.Replace(v.PolicyOutput.ExpectedDecodedPolicy))
	}
	for k, want := range v.PolicyOutput.Fields {
		switch k {
		case "policy", "x-goog-signature":
			continue
		}
		if got[k] != now.Replace(want) {
			t.Errorf("field %s = %q, want %q", k, got[k], now.Replace(want))
		}
	}
	if len(got) != len(v.PolicyOutput.Fields) {
		t.Errorf("%d fields %v, want %d", len(got), got, len(v.PolicyOutput.Fields))
	}
	if err := verifyPolicySignature(pub, got["policy"], got["x-goog-signature"]); err != nil {
		t.Errorf("x-goog-signature does not verify with the dummy key: %v", err)
	}
}
