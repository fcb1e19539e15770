package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"
)

// postJSON posts v and reads the whole answer; a 200 is decoded into out
// when out is not nil.
func postJSON(ctx context.Context, c *http.Client, url, auth string, v, out any) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(mustJSON(v)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", benchUserAgent)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, raw, err
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %s answer: %w", url, err)
		}
	}
	return resp.StatusCode, raw, nil
}

func snippet(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// sanity fails fast unless the generated setup works: signgate signs for
// each provider, signgate and OPA reach the same decision for the same
// request, and signgate's own decision record holds the input the harness
// gives OPA (a mismatch is a warning: the comparison would be unfair).
func (b *bench) sanity(ctx context.Context) error {
	c := newClient(2)
	defer c.CloseIdleConnections()
	b.sg.stdout.Capture()
	defer b.sg.stdout.StopCapture()

	var firstID string
	for _, tc := range []struct{ team, provider string }{
		{benchS3Team, "s3"}, {benchAzureTeam, "azure"}, {benchGCSTeam, "gcs"},
	} {
		var got struct {
			Provider   string `json:"provider"`
			DecisionID string `json:"decision_id"`
		}
		status, raw, err := postJSON(ctx, c, b.sign.url, b.sign.auth, signRequest(tc.team, objectName(0)), &got)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("sanity: signgate /v1/sign for %s (%s): status %d, %v: %s", tc.team, tc.provider, status, err, snippet(raw))
		}
		b.decisions.Add(1)
		if got.Provider != tc.provider {
			return fmt.Errorf("sanity: /v1/sign for %s answered provider %q, want %q", tc.team, got.Provider, tc.provider)
		}
		if firstID == "" {
			firstID = got.DecisionID
		}
	}

	req := signRequest(benchS3Team, objectName(0))
	var sgd map[string]any
	status, raw, err := postJSON(ctx, c, b.sg.base+"/v1/decide", b.sign.auth, req, &sgd)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("sanity: signgate /v1/decide: status %d, %v: %s", status, err, snippet(raw))
	}
	b.decisions.Add(1)
	var od struct {
		Result map[string]any `json:"result"`
	}
	status, raw, err = postJSON(ctx, c, b.decide.url, "", map[string]any{"input": policyInput(b.fx, req, time.Now().UTC().Format(time.RFC3339))}, &od)
	if err != nil || status != http.StatusOK || od.Result == nil {
		return fmt.Errorf("sanity: OPA decision: status %d, %v (an undefined decision has no result): %s", status, err, snippet(raw))
	}
	for _, k := range []string{"allow", "connector", "key", "operation", "ttl_seconds"} {
		if !reflect.DeepEqual(sgd[k], od.Result[k]) {
			return fmt.Errorf("sanity: signgate and OPA disagree on %s: %v vs %v", k, sgd[k], od.Result[k])
		}
	}
	if sgd["allow"] != true {
		return fmt.Errorf("sanity: the bench request is denied: %v", sgd["reasons"])
	}
	fmt.Fprintf(b.w, "sanity    s3, azure and gcs signed; signgate and OPA agree: connector %v, key %v, ttl %v s\n",
		od.Result["connector"], od.Result["key"], od.Result["ttl_seconds"])

	if b.o.auditSink == "none" {
		return nil
	}
	rec, ok := b.findRecord(ctx, firstID)
	want := normalize(policyInput(b.fx, req, ""))
	switch {
	case !ok:
		fmt.Fprintf(b.w, "WARNING   no decision record with decision_id %s on signgate's stdout within 3 s: is the console audit sink on?\n", firstID)
	case !reflect.DeepEqual(withoutTime(rec), withoutTime(want)):
		fmt.Fprintf(b.w, "WARNING   signgate's input differs from the one sent to OPA; update policyInput:\n  signgate %s\n  opa      %s\n",
			mustJSON(withoutTime(rec)), mustJSON(withoutTime(want)))
	default:
		fmt.Fprintln(b.w, "sanity    the OPA input equals the input in signgate's decision record (time aside)")
	}
	return nil
}

// findRecord waits up to 3 s for the decision record with decision id on
// signgate's stdout, and returns its input.
func (b *bench) findRecord(ctx context.Context, id string) (map[string]any, bool) {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for line := range bytes.SplitSeq(b.sg.stdout.Captured(), []byte{'\n'}) {
			if !bytes.Contains(line, []byte(id)) {
				continue
			}
			var rec struct {
				DecisionID string         `json:"decision_id"`
				Input      map[string]any `json:"input"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.DecisionID == id && rec.Input != nil {
				return normalize(rec.Input), true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, false
}

// normalize gives v the types encoding/json decodes to, for comparison.
func normalize(v map[string]any) map[string]any {
	var out map[string]any
	_ = json.Unmarshal(mustJSON(v), &out)
	return out
}

func withoutTime(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if k != "time" {
			out[k] = v
		}
	}
	return out
}

// auditResult compares signgate's decision records with its decisions.
type auditResult struct {
	records, bytes, decisions int64
}

// auditCheck counts the records once signgate has stopped and flushed.
func (b *bench) auditCheck() auditResult {
	n, lines := b.sg.stdout.Counts()
	return auditResult{records: lines, bytes: n, decisions: b.decisions.Load()}
}
