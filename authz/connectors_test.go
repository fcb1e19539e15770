package authz

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestActivationRefusesARevisionNamingAnUnknownConnector(t *testing.T) {
	ctx := context.Background()
	good := policyBundle(t, allowRead)
	good.Data = map[string]any{"signgate": map[string]any{"teams": map[string]any{
		"vision": map[string]any{"connector": "c1"},
		"odd":    map[string]any{"connector": 7}, // left to the policy
	}}}
	typo := policyBundle(t, allowRead)
	typo.Manifest.Revision = "typo"
	typo.Data = map[string]any{"signgate": map[string]any{"teams": map[string]any{
		"vision": map[string]any{"connector": "c1"},
		"web":    map[string]any{"connector": "web-azur"},
	}}}

	e := New()
	if err := e.SetConnectors([]string{"c1"}); err != nil {
		t.Fatalf("no revision is active yet: %v", err)
	}
	if err := e.Activate(ctx, good, "test"); err != nil {
		t.Fatalf("activate good: %v", err)
	}
	err := e.Activate(ctx, typo, "test")
	if !errors.Is(err, ErrUnknownConnector) || !strings.Contains(err.Error(), `team "web" names connector "web-azur"`) {
		t.Fatalf("err = %v, want the team and the connector named", err)
	}
	if st, _ := e.Status(); st.Revision != Revision(good) {
		t.Fatalf("active revision %s, want the good one to stay", st.Revision)
	}
	if f := e.Report().LastError; f == nil || f.Stage != StageDecision || f.Revision != "typo" {
		t.Fatalf("last error %+v", f)
	}

	t.Run("a revision already active is reported, not dropped", func(t *testing.T) {
		e := New()
		if err := e.Activate(ctx, typo, "test"); err != nil {
			t.Fatalf("nothing to check against yet: %v", err)
		}
		err := e.SetConnectors([]string{"c1"})
		if !errors.Is(err, ErrUnknownConnector) || !strings.Contains(err.Error(), "web-azur") {
			t.Fatalf("err = %v", err)
		}
		if !e.Ready() {
			t.Fatal("the active revision was dropped")
		}
		if _, err := e.Decide(ctx, input("read")); err != nil {
			t.Fatalf("team vision on c1 still decides: %v", err)
		}
	})
}
