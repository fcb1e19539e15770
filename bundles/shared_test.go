package bundles_test

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
)

// neighbour is another user's plugin on a shared manager.
type neighbour struct{ stopped bool }

func (*neighbour) Start(context.Context) error      { return nil }
func (n *neighbour) Stop(context.Context)           { n.stopped = true }
func (*neighbour) Reconfigure(context.Context, any) {}

func TestAServiceOnASharedPluginManagerLeavesItToItsOwner(t *testing.T) {
	cfg := []byte(`{"services": {"hub": {"url": "http://127.0.0.1:1"}}, "bundles": {"signgate": {"service": "hub"}}}`)
	mgr, err := plugins.New(cfg, "replica-1", inmem.New())
	if err != nil {
		t.Fatal(err)
	}
	n := &neighbour{}
	mgr.Register("neighbour", n)
	svc, err := bundles.NewService(authz.New(), cfg, bundles.WithPluginManager(mgr))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := svc.Source(), "service:http://127.0.0.1:1/bundles/signgate"; got != want {
		t.Errorf("Source() = %q, want %q: the bundle of the shared manager's configuration", got, want)
	}
	svc.Stop(context.Background())
	if n.stopped {
		t.Error("the service's Stop stopped the shared manager and its other plugins")
	}
	mgr.Stop(context.Background())
	if !n.stopped {
		t.Error("the owner's Stop did not reach the plugins: the check above proves nothing")
	}
}
