package server_test

import (
	"testing"
)

// FuzzBodies sends arbitrary bodies to every JSON route: bad input is a
// 4xx problem, never a 5xx or a URL.
func FuzzBodies(f *testing.F) {
	seeds := []string{
		`{"team":"vision","operation":"read","object":"a"}`,
		`{"team":"vision","operation":"write","object":"a","content_type":"text/plain","expires_in":60}`,
		`{"team":"research","operation":"write","object":"a"}`,
		`{"team":"vision","operation":"read","object":"a","form":true}`,
		`{"team":"vision","object":"big.bin","size":12582912,"part_size":5242880}`,
		`{"items":[{"team":"vision","operation":"read","object":"a"},{"team":"nlp","operation":"read","object":"b"}]}`,
		`[]`, `{`, `null`, `{"expires_in":1e400}`, `{"team":{}}`, "\xff", `{"items":[[]]}`, `{"size":-1}`,
	}
	for route := range routes {
		for _, b := range seeds {
			f.Add(uint8(route), b)
		}
	}
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		path := routes[int(route)%len(routes)]
		r := h.do(t, "POST", path, aliceKey, body)
		// A valid S3 upload makes signgate call CreateMultipartUpload on the
		// connector's endpoint, which nothing serves here: that 502 is the
		// storage server's absence, not bad input.
		backendDown := path == "/v1/uploads" && r.status == 502 && r.body["code"] == "signer_error"
		if r.status >= 500 && !backendDown {
			t.Fatalf("%s: status %d for %q: %s", path, r.status, body, r.raw)
		}
		if r.status != 200 {
			if _, ok := r.body["url"]; ok {
				t.Fatalf("%s: status %d carries a URL: %s", path, r.status, r.raw)
			}
			if r.body["code"] == nil {
				t.Fatalf("%s: status %d is not a problem document: %s", path, r.status, r.raw)
			}
		}
	})
}

var routes = []string{"/v1/sign", "/v1/decide", "/v1/uploads", "/v1/sign/batch"}
