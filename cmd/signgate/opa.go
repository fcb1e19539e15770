package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/server/audit"
	"github.com/signgate/signgate/server/config"
)

// newPluginManager makes the process's one OPA plugin manager, for what
// runs on OPA's plugins: the decision-log pipeline (its labels and, for the
// service sink, its service) and the bundle service (policy.opa_config's
// services, bundles and keys). It is nil when neither is configured. The
// caller stops it after the pipeline and the bundle service have stopped.
func newPluginManager(ctx context.Context, cfg *config.Config, log *slog.Logger) (*plugins.Manager, error) {
	withAudit, withService := cfg.Audit.Sink != "none", cfg.Policy.Source == "service"
	if !withAudit && !withService {
		return nil, nil
	}
	token, err := auditToken(cfg)
	if err != nil {
		return nil, err
	}
	id, conf := audit.PluginConfig(cfg.Audit, token)
	if withService {
		raw, err := cfg.Policy.ExpandOPAConfig()
		if err != nil {
			return nil, err
		}
		if err := mergeOPAConfig(conf, raw); err != nil {
			return nil, fmt.Errorf("config: policy.opa_config: %w", err)
		}
	}
	raw, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	ol := bundles.NewOPALogger(log.With("component", "opa"))
	mgr, err := plugins.New(raw, id, inmem.New(), plugins.Logger(ol), plugins.ConsoleLogger(ol))
	if err != nil {
		return nil, fmt.Errorf("config: policy.opa_config: %w", err)
	}
	if err := mgr.Init(ctx); err != nil {
		return nil, err
	}
	return mgr, nil
}

// mergeOPAConfig adds the services, bundles and keys of policy.opa_config
// to conf, the decision-log pipeline's part of the manager's
// configuration. Their services live side by side; a name can be used only
// once. Other sections are left out here and refused by
// bundles.NewService, which names them.
func mergeOPAConfig(conf map[string]any, raw []byte) error {
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sections); err != nil {
		return err
	}
	for name, section := range sections {
		switch name {
		case "bundles", "keys":
			conf[name] = section
			continue
		case "services":
		default:
			continue
		}
		var services map[string]json.RawMessage
		if err := json.Unmarshal(section, &services); err != nil {
			return fmt.Errorf("services: %w", err)
		}
		merged, _ := conf["services"].(map[string]any)
		if merged == nil {
			merged = map[string]any{}
		}
		for svc, v := range services {
			if _, taken := merged[svc]; taken {
				return fmt.Errorf("services.%s: the name is taken by the decision-log service", svc)
			}
			merged[svc] = v
		}
		conf["services"] = merged
	}
	return nil
}

// auditToken is the decision-log service's bearer token, if any.
func auditToken(cfg *config.Config) (string, error) {
	s := cfg.Audit.Service
	if cfg.Audit.Sink != "service" || (s.TokenEnv == "" && s.TokenFile == "") {
		return "", nil
	}
	token, err := secret(s.TokenEnv, s.TokenFile)
	if err != nil {
		return "", fmt.Errorf("audit.service: token: %w", err)
	}
	return token, nil
}
