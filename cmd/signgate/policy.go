package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/policies"
	"github.com/signgate/signgate/server/config"
)

// startPolicy puts the configured policy source to work on engine and
// returns how to stop it.
//
//   - embedded: the policy compiled into the binary, activated once.
//   - directory: the first load must succeed, or start-up fails; then every
//     change is loaded (see bundles.WatchDir). The embedded policy never
//     serves.
//   - service: downloads in the background. Until the first good bundle,
//     the embedded policy serves, or, with require_bundle or when the
//     embedded example data names connectors the configuration does not
//     have, nothing does and /readyz stays 503.
//
// The bundle service runs on mgr, the process's OPA plugin manager
// (opa.go). reload reads a watched directory again (on SIGHUP); it is nil
// for the other sources.
func startPolicy(ctx context.Context, engine *authz.Engine, cfg *config.Config, mgr *plugins.Manager) (stop func(), reload func(context.Context) error, err error) {
	p := cfg.Policy
	vc, err := verificationConfig(p.Verification)
	if err != nil {
		return nil, nil, err
	}
	var opts []bundles.LoadOption
	if vc != nil {
		opts = append(opts, bundles.WithVerification(vc))
	}
	switch p.Source {
	case "directory":
		opts = append(opts, bundles.WithDebounce(p.WatchDebounce.Duration))
		dw, err := bundles.WatchDir(ctx, engine, p.Directory, opts...)
		if err != nil {
			return nil, nil, err
		}
		return func() { _ = dw.Close() }, dw.Reload, nil
	case "service":
		raw, err := p.ExpandOPAConfig()
		if err != nil {
			return nil, nil, err
		}
		svc, err := bundles.NewService(engine, raw, append(opts, bundles.WithPluginManager(mgr))...)
		if err != nil {
			return nil, nil, fmt.Errorf("config: policy.opa_config: %w", err)
		}
		if !p.RequireBundle {
			// A fallback whose example teams name connectors this
			// configuration lacks would fail every request: the engine
			// refuses and logs it, and nothing serves until the service
			// delivers, as with require_bundle.
			if err := activateEmbedded(ctx, engine); err != nil && !errors.Is(err, authz.ErrUnknownConnector) {
				svc.Stop(context.Background())
				return nil, nil, err
			}
		}
		svc.Start(ctx)
		return func() { svc.Stop(context.Background()) }, nil, nil
	}
	return func() {}, nil, activateEmbedded(ctx, engine)
}

func activateEmbedded(ctx context.Context, engine *authz.Engine) error {
	b, err := bundles.LoadFS(policies.FS)
	if err != nil {
		return err
	}
	return engine.Activate(ctx, b, "embedded")
}

// verificationConfig maps policy.verification onto OPA's verification
// config, reading key files and variables. Keys are checked here, so that
// a key OPA could never use fails start-up instead of every bundle.
func verificationConfig(v *config.Verification) (*bundle.VerificationConfig, error) {
	if v == nil {
		return nil, nil
	}
	keys := make(map[string]*bundle.KeyConfig, len(v.Keys))
	for id, k := range v.Keys {
		key := k.Key
		if key == "" {
			s, err := config.Secret(k.KeyEnv, k.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("policy.verification.keys.%s: %w", id, err)
			}
			key = s
		}
		if !strings.HasPrefix(k.Algorithm, "HS") {
			if block, _ := pem.Decode([]byte(key)); block == nil {
				return nil, fmt.Errorf("policy.verification.keys.%s: not a PEM key", id)
			}
		}
		keys[id] = &bundle.KeyConfig{Key: key, Algorithm: k.Algorithm}
	}
	return bundle.NewVerificationConfig(keys, v.KeyID, v.Scope, v.ExcludeFiles), nil
}
