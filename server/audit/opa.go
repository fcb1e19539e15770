package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/signgate/signgate/bundles"
	"github.com/signgate/signgate/server/config"
)

// ServiceName names the decision-log service in the plugin manager's
// configuration (PluginConfig); no other service may take it.
const ServiceName = "signgate_decision_logs"

// OPA's decision-log plugin counters that the pipeline reports.
const (
	opaDroppedBufferFull = "decision_logs_dropped_buffer_size_limit_exceeded"
	opaChunksUploaded    = "decision_logs_chunks_uploaded"
	opaChunksFailed      = "decision_logs_chunks_upload_failed"
)

// opaLogs is OPA's decision-log plugin (v1/plugins/logs), driven the way
// OPA drives it: by a plugin manager that holds the policy (for the drop
// and mask policies, data.system.log.drop and data.system.log.mask), the
// decision-log service, and the sink plugin the events end in.
type opaLogs struct {
	mgr     *plugins.Manager
	own     bool // the pipeline made mgr, and stops it
	plugin  *logs.Plugin
	metrics metrics.Metrics // the plugin's counters: drops, uploads
}

// PluginConfig is what a pipeline for cfg needs of OPA's plugin manager:
// the instance id and the labels its records carry (labels.id, .app), and,
// for the service sink, the decision-log service ServiceName with token as
// its bearer token. A process that shares one manager between the pipeline
// and other users (WithPluginManager) makes it from this configuration.
func PluginConfig(cfg config.Audit, token string) (id string, conf map[string]any) {
	id = cfg.InstanceID
	if id == "" {
		id, _ = os.Hostname()
	}
	conf = map[string]any{"labels": map[string]string{"app": "signgate"}}
	if cfg.Sink == "service" {
		svc := map[string]any{
			"url":                             cfg.Service.URL,
			"response_header_timeout_seconds": int64(cfg.Service.Timeout.Seconds()),
		}
		if token != "" {
			svc["credentials"] = map[string]any{"bearer": map[string]any{"token": token}}
		}
		conf["services"] = map[string]any{ServiceName: svc}
	}
	return id, conf
}

// newOPALogs starts the decision_logs plugin, on mgr when it is given and
// otherwise on a manager of its own. Strict mode uploads only when the
// pipeline triggers it (trigger: manual), so that a group of records is
// acknowledged by one upload; best_effort lets OPA upload on its own
// schedule (trigger: periodic).
func newOPALogs(ctx context.Context, cfg config.Audit, token string, mgr *plugins.Manager, s *sink, log *slog.Logger) (*opaLogs, error) {
	decisionLogs := map[string]any{
		"plugin": sinkPlugin,
		"reporting": map[string]any{
			"buffer_type":              "event",
			"buffer_size_limit_events": cfg.BufferSize,
			"min_delay_seconds":        int64(cfg.Service.MinDelay.Seconds()),
			"max_delay_seconds":        int64(cfg.Service.MaxDelay.Seconds()),
		},
	}
	if cfg.Sink == "service" {
		decisionLogs["service"] = ServiceName
		decisionLogs["resource"] = cfg.Service.Resource
	}
	ol := bundles.NewOPALogger(log.With("component", "opa"))
	own := mgr == nil
	if own {
		id, conf := PluginConfig(cfg, token)
		raw, err := json.Marshal(conf)
		if err != nil {
			return nil, err
		}
		if mgr, err = plugins.New(raw, id, inmem.New(), plugins.Logger(ol), plugins.ConsoleLogger(ol)); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if err := mgr.Init(ctx); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	} else if cfg.Sink == "service" && !slices.Contains(mgr.Services(), ServiceName) {
		return nil, fmt.Errorf("audit: the plugin manager has no service %q (see PluginConfig)", ServiceName)
	}
	mgr.Register(sinkPlugin, s)

	trigger := plugins.TriggerPeriodic
	if cfg.Mode == "strict" {
		trigger = plugins.TriggerManual
	}
	rawLogs, err := json.Marshal(decisionLogs)
	if err != nil {
		return nil, err
	}
	parsed, err := logs.NewConfigBuilder().
		WithBytes(rawLogs).
		WithServices(mgr.Services()).
		WithPlugins([]string{sinkPlugin}).
		WithTriggerMode(&trigger).
		WithLogger(ol).
		Parse()
	if err != nil {
		return nil, fmt.Errorf("audit: decision_logs: %w", err)
	}
	m := metrics.New()
	plugin := logs.New(parsed, mgr).WithMetrics(m)
	if own {
		mgr.Register(logs.Name, plugin)
		if err := mgr.Start(ctx); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	} else if err := plugin.Start(ctx); err != nil {
		// Not registered with a shared manager: its owner's Stop would stop
		// the plugin a second time, which OPA's plugin does not survive.
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &opaLogs{mgr: mgr, own: own, plugin: plugin, metrics: m}, nil
}

// usePolicy compiles b's modules and uses them as useCompiled does, so
// that the drop and mask policies of the serving bundle apply. It is for
// bundles that no engine compiled.
func (o *opaLogs) usePolicy(ctx context.Context, b *bundle.Bundle) (*ast.Compiler, error) {
	modules := make(map[string]*ast.Module, len(b.Modules))
	for _, m := range b.Modules {
		parsed := m.Parsed
		if parsed == nil {
			var err error
			if parsed, err = ast.ParseModuleWithOpts(m.Path, string(m.Raw), o.mgr.ParserOptions()); err != nil {
				return nil, fmt.Errorf("audit: read the policy bundle for the mask policy: %w", err)
			}
		}
		modules[m.Path] = parsed
	}
	c := ast.NewCompiler().WithDefaultRegoVersion(o.mgr.ParserOptions().RegoVersion)
	if c.Compile(modules); c.Failed() {
		return nil, fmt.Errorf("audit: compile the policy bundle for the mask policy: %w", c.Errors)
	}
	return c, o.useCompiled(ctx, c, b.Data)
}

// useCompiled makes the drop and mask policies (data.system.log.drop,
// data.system.log.mask) of a compiled policy apply, as OPA's bundle plugin
// would: its data goes into the manager's store, and c is handed to the
// manager on the transaction, whose compiler trigger makes the plugin
// prepare its queries again. The engine that activated a revision passes
// its own compiler, so that a revision is compiled once.
func (o *opaLogs) useCompiled(ctx context.Context, c *ast.Compiler, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	params := storage.TransactionParams{Write: true, Context: storage.NewContext()}
	err := storage.Txn(ctx, o.mgr.Store, params, func(txn storage.Transaction) error {
		// The store copies data on write, so the bundle stays the engine's.
		if err := o.mgr.Store.Write(ctx, txn, storage.AddOp, storage.RootPath, data); err != nil {
			return err
		}
		plugins.SetCompilerOnContext(params.Context, c)
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: use the active policy for the mask policy: %w", err)
	}
	return nil
}

func (o *opaLogs) counter(name string) uint64 {
	v, _ := o.metrics.Counter(name).Value().(uint64)
	return v
}

// buffered is how many items wait in OPA's upload buffer.
func (o *opaLogs) buffered() int64 {
	_, n := o.plugin.BufferSize()
	return n
}

// stop stops the decision_logs plugin, and the manager if it is the
// pipeline's own.
func (o *opaLogs) stop(ctx context.Context) {
	if o.own {
		o.mgr.Stop(ctx)
		return
	}
	o.plugin.Stop(ctx)
}
