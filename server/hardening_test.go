package server_test

import "testing"

// TestFormKeysRefuseAFilenameVariable: S3 and GCS replace ${filename} in a
// POST policy's key with the name of the file the client sends, so a form
// key with "${" would be the client's choice.
func TestFormKeysRefuseAFilenameVariable(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, givenObject string
		givenForm         bool
		wantStatus        int
	}{
		{name: "refuses ${filename} in a form's object", givenObject: "uploads/${filename}", givenForm: true, wantStatus: 400},
		{name: "refuses a bare ${ in a form's object", givenObject: "a${b", givenForm: true, wantStatus: 400},
		{name: "signs a form whose object has a lone $", givenObject: "uploads/$1.bin", givenForm: true, wantStatus: 200},
		{name: "leaves a URL's object alone: no expansion there", givenObject: "uploads/${filename}", wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := "false"
			if tc.givenForm {
				form = "true"
			}
			r := h.do(t, "POST", "/v1/sign", aliceKey, `{"team":"vision","operation":"write","object":"`+tc.givenObject+`","form":`+form+`}`)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.raw)
			}
			if tc.wantStatus == 400 && r.body["code"] != "invalid_request" {
				t.Fatalf("code %v, want invalid_request", r.body["code"])
			}
		})
	}
}
