package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/signgate/signgate/server/audit"
	"github.com/signgate/signgate/server/config"
)

func TestOnePluginManagerServesTheBundleServiceAndTheAuditPipeline(t *testing.T) {
	hub := `{"services": {"hub": {"url": "http://127.0.0.1:1"}}, "bundles": {"signgate": {"service": "hub", "resource": "b.tar.gz"}}}`
	tests := []struct {
		name         string
		givenSource  string
		givenOPA     string
		givenSink    string
		wantNone     bool
		wantServices []string
		wantErr      string
	}{
		{name: "holds the policy's services and the decision-log service side by side",
			givenSource: "service", givenOPA: hub, givenSink: "service", wantServices: []string{"hub", audit.ServiceName}},
		{name: "holds the policy's services alone when records go to a file",
			givenSource: "service", givenOPA: hub, givenSink: "file", wantServices: []string{"hub"}},
		{name: "holds only the pipeline's part for an embedded policy",
			givenSource: "embedded", givenSink: "service", wantServices: []string{audit.ServiceName}},
		{name: "is not made when neither needs one",
			givenSource: "embedded", givenSink: "none", wantNone: true},
		{name: "refuses a policy service named as the decision-log service",
			givenSource: "service", givenSink: "service",
			givenOPA: `{"services": {"` + audit.ServiceName + `": {"url": "http://127.0.0.1:1"}}}`,
			wantErr:  "policy.opa_config: services." + audit.ServiceName + ": the name is taken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{
				Policy: config.Policy{Source: tt.givenSource, OPAConfig: json.RawMessage(tt.givenOPA)},
				Audit:  config.Audit{Sink: tt.givenSink, Path: t.TempDir() + "/audit.jsonl", Service: config.AuditService{URL: "http://127.0.0.1:1"}},
			}
			mgr, err := newPluginManager(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNone {
				if mgr != nil {
					t.Fatal("made a plugin manager that nothing uses")
				}
				return
			}
			defer mgr.Stop(context.Background())
			got := mgr.Services()
			slices.Sort(got)
			slices.Sort(tt.wantServices)
			if !slices.Equal(got, tt.wantServices) {
				t.Errorf("services = %v, want %v", got, tt.wantServices)
			}
		})
	}
}
