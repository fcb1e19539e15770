// Package decisionlog is the receiving end of OPA's decision-log service
// protocol, for tests that run signgate against a decision-log service.
package decisionlog

import (
	"compress/gzip"
	"encoding/json"
	"net/http"
)

// ReadBatch reads one upload as OPA's plugin sends it: a gzipped JSON array
// of events POSTed to /logs, decoded into E. When r is not one, it answers
// 400 itself and returns false.
func ReadBatch[E any](w http.ResponseWriter, r *http.Request) ([]E, bool) {
	if r.Method != http.MethodPost || r.URL.Path != "/logs" || r.Header.Get("Content-Encoding") != "gzip" {
		http.Error(w, "want a gzipped POST /logs", http.StatusBadRequest)
		return nil, false
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	var batch []E
	if err := json.NewDecoder(zr).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return batch, true
}
