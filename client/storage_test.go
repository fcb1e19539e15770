package client

import (
	"testing"
)

func TestXMLError(t *testing.T) {
	tests := []struct {
		name     string
		givenXML string
		wantCode string
	}{
		{"a 200 CompleteMultipartUpload that failed", `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`, "InternalError"},
		{"a completed upload", `<?xml version="1.0"?><CompleteMultipartUploadResult><ETag>"x-3"</ETag></CompleteMultipartUploadResult>`, ""},
		{"not XML", `{"kind":"storage#object"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := xmlError([]byte(tt.givenXML))
			switch {
			case tt.wantCode == "" && e != nil:
				t.Fatalf("error %v, want none", e)
			case tt.wantCode != "" && (e == nil || e.Code != tt.wantCode):
				t.Fatalf("error %v, want code %s", e, tt.wantCode)
			}
		})
	}
}

func TestFillTemplateAndRangeEnd(t *testing.T) {
	got := fillTemplate("<Part><PartNumber>1</PartNumber><ETag>{etag:1}</ETag></Part><Part><PartNumber>10</PartNumber><ETag>{etag:10}</ETag></Part>",
		map[int]string{1: `"a"`, 10: `"b"`})
	if want := `<Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part><Part><PartNumber>10</PartNumber><ETag>"b"</ETag></Part>`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	for given, want := range map[string]int64{"bytes=0-262143": 262144, "": 0, "bytes=0-0": 1, "junk": 0} {
		if got := rangeEnd(given); got != want {
			t.Errorf("rangeEnd(%q) = %d, want %d", given, got, want)
		}
	}
}
