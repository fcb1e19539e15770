package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/audit"
	"github.com/signgate/signgate/server/config"
)

// openAudit builds the auditor of cfg.audit: a pipeline on mgr, the
// process's OPA plugin manager (opa.go), or Discard for sink none. The returned observer hands every bundle the engine activates,
// the first one included, to the pipeline, so that records are masked by
// the data.system.log.mask of the policy that decided them, as OPA does;
// the pipeline evaluates the mask with the engine's compiled modules.
// The returned close flushes the pipeline within its context; it may be
// called more than once.
func openAudit(ctx context.Context, cfg *config.Config, mgr *plugins.Manager, stdout io.Writer, log *slog.Logger, reg prometheus.Registerer) (server.Auditor, authz.Observer, func(context.Context) error, error) {
	if cfg.Audit.Sink == "none" {
		return server.Discard{}, func(authz.Event) {}, func(context.Context) error { return nil }, nil
	}
	p, err := audit.New(context.WithoutCancel(ctx), cfg.Audit,
		audit.WithLogger(log), audit.WithRegisterer(reg), audit.WithStdout(stdout), audit.WithPluginManager(mgr))
	if err != nil {
		return nil, nil, nil, err
	}
	return p, p.Follow, p.Close, nil
}

// newRegistry is the one Prometheus registry of the process: signgate's
// metrics, and the Go runtime's and the process's.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg, readBuild()) // version.go
	return reg
}

// serveMetrics serves GET /metrics on the separate admin address of
// metrics.listen, and Go's profiling endpoints when pprof is on
// (metrics.pprof, pprof.go). The returned function shuts the listener down.
func serveMetrics(addr string, pprof bool, g prometheus.Gatherer, log *slog.Logger) (func(context.Context) error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", server.MetricsHandler(g))
	if pprof {
		handlePprof(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "pprof", pprof)
	return srv.Shutdown, nil
}
