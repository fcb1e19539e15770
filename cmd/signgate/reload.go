package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/audit"
	"github.com/signgate/signgate/server/config"
)

// SIGHUP reloads what can change under a running server without dropping a
// request or a record: the configuration file's auth section (API keys,
// OIDC), the policy directory, the audit file (reopened, for logrotate) and
// the TLS certificate. Everything else keeps its running value until a
// restart; a reload names each such field that changed.

// liveFields are the configuration sections a reload applies. Every other
// field needs a restart (see restartFields).
var liveFields = []string{
	"auth",
	"log.level", // applied by the log-level applier (see newReloader); log.format needs a restart
}

// ignoredFields are read by other commands, not by serve.
var ignoredFields = []string{"network"}

// reloadApplier applies one part of a reloaded configuration. It keeps the
// running state when it fails.
type reloadApplier struct {
	name  string
	apply func(*config.Config) error
}

// reloader re-reads the configuration on SIGHUP and hands it to each
// applier. One reload runs at a time.
type reloader struct {
	log *slog.Logger
	// load reads and validates the configuration file as start-up did; nil
	// in --dev mode, which has no file.
	load     func() (*config.Config, error)
	started  *config.Config // the values in force for the restart-only fields
	appliers []reloadApplier
	metrics  reloadMetrics
}

// reloadMetrics say how the last reloads went, for alerts.
type reloadMetrics struct {
	reloads        *prometheus.CounterVec // by result: applied, partial, refused
	lastSuccessful prometheus.Gauge
	restartPending prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) reloadMetrics {
	m := reloadMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signgate_config_reloads_total",
			Help: "Configuration reloads (SIGHUP) by result: applied, partial (a part kept its running value) or refused (invalid file)."},
			[]string{"result"}),
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{Name: "signgate_config_last_reload_successful",
			Help: "1 when the last configuration reload was applied in full (or none was asked for), 0 otherwise."}),
		restartPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "signgate_config_restart_pending",
			Help: "1 when the configuration file changes a setting that only a restart applies."}),
	}
	for _, r := range []string{"applied", "partial", "refused"} {
		m.reloads.WithLabelValues(r)
	}
	m.lastSuccessful.Set(1)
	reg.MustRegister(m.reloads, m.lastSuccessful, m.restartPending)
	return m
}

func (m reloadMetrics) observe(result string) {
	m.reloads.WithLabelValues(result).Inc()
	m.lastSuccessful.Set(oneIf(result == "applied"))
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// reload runs one reload and reports whether the configuration was
// accepted and applied in full.
func (r *reloader) reload() bool {
	if r.load == nil {
		r.log.Info("SIGHUP: --dev mode has no configuration file; nothing reloaded")
		return false
	}
	r.log.Info("SIGHUP: reloading the configuration")
	cfg, err := r.load()
	if err != nil {
		r.metrics.observe("refused")
		r.log.Error("configuration reload refused; the running configuration stays", "err", err.Error())
		return false
	}
	fields := restartFields(r.started, cfg)
	if len(fields) > 0 {
		r.log.Warn("configuration changes need a restart; their running values stay", "fields", fields)
	}
	r.metrics.restartPending.Set(oneIf(len(fields) > 0))
	var applied, failed []string
	for _, a := range r.appliers {
		if err := a.apply(cfg); err != nil {
			r.log.Error("reload: "+a.name+" not applied; the running one stays", "err", err.Error())
			failed = append(failed, a.name)
			continue
		}
		applied = append(applied, a.name)
	}
	if len(failed) > 0 {
		r.metrics.observe("partial")
		r.log.Warn("configuration reloaded in part", "applied", applied, "failed", failed)
		return false
	}
	r.metrics.observe("applied")
	r.log.Info("configuration reloaded", "applied", applied)
	return true
}

// reloadRecovered is reload for the signal loop: a panic in one applier is
// logged, and the next SIGHUP is handled as usual.
func (r *reloader) reloadRecovered() {
	defer func() {
		if v := recover(); v != nil {
			r.metrics.observe("partial")
			r.log.Error("reload panicked; what it had not applied keeps its running value", "panic", fmt.Sprint(v))
		}
	}()
	r.reload()
}

// onSIGHUP runs a reload on each SIGHUP until ctx ends or the returned
// function is called; that function waits for a reload under way.
func (r *reloader) onSIGHUP(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				r.reloadRecovered()
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}

// buildAuth is the authenticator of cfg.auth: API keys, then OIDC tokens.
func buildAuth(ctx context.Context, cfg *config.Config, log *slog.Logger) (server.Authenticator, error) {
	apiKeys, err := server.NewAPIKeys(cfg.Auth.APIKeys)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.OIDC == nil {
		return apiKeys, nil
	}
	jwt, err := server.NewJWT(ctx, *cfg.Auth.OIDC, server.WithJWTLogger(log))
	if err != nil {
		return nil, err
	}
	return server.Chain(apiKeys, jwt), nil
}

// authApplier rebuilds the authenticator from auth; a JWKS that cannot be
// loaded keeps the running one.
func authApplier(ctx context.Context, live *server.LiveAuthenticator, log *slog.Logger) reloadApplier {
	return reloadApplier{name: "auth", apply: func(cfg *config.Config) error {
		a, err := buildAuth(ctx, cfg, log)
		if err != nil {
			return err
		}
		live.Store(a)
		return nil
	}}
}

// auditApplier reopens the file sink's path, for logrotate.
func auditApplier(ctx context.Context, auditor server.Auditor) (reloadApplier, bool) {
	p, ok := auditor.(*audit.Pipeline)
	if !ok {
		return reloadApplier{}, false
	}
	return reloadApplier{name: "audit file", apply: func(*config.Config) error { return p.Reopen(ctx) }}, true
}

// restartFields lists the field paths whose value in next differs from the
// running one and that only a restart applies.
func restartFields(running, next *config.Config) []string {
	var out []string
	diffFields("", reflect.ValueOf(*running), reflect.ValueOf(*next), &out)
	return slices.DeleteFunc(out, func(p string) bool {
		for _, f := range slices.Concat(liveFields, ignoredFields) {
			if p == f || strings.HasPrefix(p, f+".") || strings.HasPrefix(p, f+"[") {
				return true
			}
		}
		return false
	})
}

// diffFields appends the paths, in the YAML's own names, where a and b
// differ. A struct without YAML fields (Duration) is one value.
func diffFields(path string, a, b reflect.Value, out *[]string) {
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, path)
			}
			return
		}
		diffFields(path, a.Elem(), b.Elem(), out)
		return
	case reflect.Struct:
		t, tagged := a.Type(), false
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" && t.Field(i).Anonymous { // an embedded struct's fields are its parent's
				tagged = true
				diffFields(path, a.Field(i), b.Field(i), out)
				continue
			}
			if name == "" || name == "-" || !t.Field(i).IsExported() {
				continue
			}
			tagged = true
			diffFields(join(name), a.Field(i), b.Field(i), out)
		}
		if tagged {
			return
		}
	case reflect.Map:
		keys := map[string]bool{}
		for _, k := range slices.Concat(a.MapKeys(), b.MapKeys()) {
			keys[k.String()] = true
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			kv := reflect.ValueOf(k).Convert(a.Type().Key())
			av, bv := a.MapIndex(kv), b.MapIndex(kv)
			if !av.IsValid() || !bv.IsValid() {
				*out = append(*out, join(k))
				continue
			}
			diffFields(join(k), av, bv, out)
		}
		return
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, path)
	}
}

// newReloader wires what a SIGHUP reloads: the authenticator, the policy
// directory (reloadPolicy, nil for other sources) and the audit file.
func newReloader(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, started *config.Config, live *server.LiveAuthenticator,
	reloadPolicy func(context.Context) error, auditor server.Auditor) *reloader {
	r := &reloader{log: log.With("component", "reload"), started: started, metrics: newReloadMetrics(reg)}
	r.appliers = append(r.appliers, authApplier(ctx, live, log))
	if reloadPolicy != nil {
		r.appliers = append(r.appliers, reloadApplier{name: "policy directory", apply: func(*config.Config) error {
			return reloadPolicy(ctx) // a refused revision is logged by the engine; the active one stays
		}})
	}
	if a, ok := auditApplier(ctx, auditor); ok {
		r.appliers = append(r.appliers, a)
	}
	// serve adds the log level (logApplier) and openListener the TLS files.
	return r
}

// logApplier sets the running log level from log.level; a --log-level flag
// still wins, and a changed log.format is reported as restart-only.
func logApplier(logs *logSetup) reloadApplier {
	return reloadApplier{name: "log level", apply: func(c *config.Config) error {
		logs.apply(c.Log)
		return nil
	}}
}

// loadConfig reads the configuration file as start-up did, --listen
// override included, so that the flag is not reported as a change.
func loadConfig(path, listen string) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		c, err := config.Load(path)
		if err != nil || listen == "" {
			return c, err
		}
		c.Listen = listen
		return c, c.Validate()
	}
}
