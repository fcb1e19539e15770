package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/server/config"
)

// sharedManager is a plugin manager made as a process that shares one
// would make it: from PluginConfig, initialised, stopped by its owner.
func sharedManager(t *testing.T, a config.Audit) *plugins.Manager {
	t.Helper()
	id, conf := PluginConfig(a, "")
	raw, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	ol := bundles.NewOPALogger(slog.New(slog.DiscardHandler))
	mgr, err := plugins.New(raw, id, inmem.New(), plugins.Logger(ol), plugins.ConsoleLogger(ol))
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return mgr
}

func TestASharedPluginManagerWritesTheSameRecords(t *testing.T) {
	written := map[string][]byte{}
	for _, name := range []string{"own manager", "shared manager"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			a := auditConfig(t, config.Audit{Mode: "strict", Sink: "file", Path: path, InstanceID: "replica-1"})
			opts := []Option{WithClock(func() time.Time { return testNow })}
			var mgr *plugins.Manager
			if name == "shared manager" {
				mgr = sharedManager(t, a)
				opts = append(opts, WithPluginManager(mgr))
			}
			p, err := New(context.Background(), a, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.UsePolicy(context.Background(), embeddedPolicy(t)); err != nil {
				t.Fatal(err)
			}
			if err := p.Record(context.Background(), record("d-1")); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if mgr != nil {
				// The owner stops the manager after Close. OPA's decision-log
				// plugin blocks on a second Stop, so this returns only if the
				// pipeline left nothing of its own for the manager to stop.
				stopped := make(chan struct{})
				go func() { mgr.Stop(context.Background()); close(stopped) }()
				select {
				case <-stopped:
				case <-time.After(10 * time.Second):
					t.Fatal("the owner's Stop of the shared manager did not return after the pipeline's Close")
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), `"id":"replica-1"`) || strings.Contains(string(raw), "alice@example.com") {
				t.Errorf("the record lacks the instance id or the mask: %s", raw)
			}
			written[name] = raw
		})
	}
	if own, shared := written["own manager"], written["shared manager"]; string(own) != string(shared) {
		t.Errorf("a shared manager changes the record:\nown:    %s\nshared: %s", own, shared)
	}
}

func TestASharedPluginManagerNeedsTheDecisionLogService(t *testing.T) {
	a := auditConfig(t, config.Audit{Sink: "service", Service: config.AuditService{URL: "http://127.0.0.1:1"}})
	mgr := sharedManager(t, auditConfig(t, config.Audit{Sink: "console"})) // made without the service
	defer mgr.Stop(context.Background())
	_, err := New(context.Background(), a, WithPluginManager(mgr))
	if err == nil || !strings.Contains(err.Error(), ServiceName) {
		t.Fatalf("New on a manager without the decision-log service: err = %v, want one naming %q", err, ServiceName)
	}
}
