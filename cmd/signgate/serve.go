package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/netip"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
)

const serveUsage = `usage: signgate serve (--dev [--dev-key KEY] [--dev-*-endpoint URL] | --config FILE) [--listen HOST:PORT] [--log-level L] [--log-format F]

Serve the HTTP API. Decision records go to stdout with the console audit
sink; signgate's own log goes to stderr.
`

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dev := fs.Bool("dev", false, "run with the embedded policy, local emulator connectors and a dev API key")
	cfgPath := fs.String("config", "", "path to the YAML configuration")
	listen := fs.String("listen", "", "override the listen address (host:port)")
	logFlags := addLogFlags(fs)
	devOpts := addDevFlags(fs) // dev.go
	if _, err := parseArgs(fs, args, stdout, serveUsage, 0); err != nil {
		return err
	}
	if *dev == (*cfgPath != "") {
		return usagef(fs.Name(), "serve needs exactly one of --dev and --config FILE")
	}
	if err := checkDevFlags(fs, *dev); err != nil {
		return err
	}
	logs, err := newLogSetup(stderr, logFlags, fs.Name()) // logging.go
	if err != nil {
		return err
	}
	defer logs.Close()
	defer func() { err = logs.fail(err) }() // a failure is one log line, in the log's format
	log := logs.logger

	var (
		cfg     *config.Config
		dm      *devMode
		secrets secretSource = secret
	)
	if *dev {
		if dm, err = newDevMode(*devOpts); err == nil {
			cfg, secrets = dm.cfg, dm.secret
		}
	} else {
		cfg, err = config.Load(*cfgPath)
	}
	if err != nil {
		return err
	}
	log = logs.start(cfg.Log)
	if *listen != "" {
		cfg.Listen = *listen
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	if *dev {
		if ap, _ := netip.ParseAddrPort(cfg.Listen); !ap.Addr().IsLoopback() {
			return errors.New("--dev only listens on a loopback address")
		}
	}

	tuneGC(cfg.Server)
	if err := checkSecretFiles(cfg, log); err != nil {
		return err
	}

	signers, err := buildSigners(ctx, cfg, secrets)
	if err != nil {
		return err
	}
	reg := newRegistry()
	mgr, err := newPluginManager(ctx, cfg, log) // opa.go
	if err != nil {
		return err
	}
	if mgr != nil {
		defer mgr.Stop(context.Background()) // last: after the audit pipeline and the bundle service
	}
	auditor, followPolicy, closeAudit, err := openAudit(ctx, cfg, mgr, stdout, log, reg)
	if err != nil {
		return err
	}
	defer closeAudit(context.Background()) // on early returns; Close is idempotent
	engine := authz.New(authz.WithObserver(followPolicy), authz.WithLogger(log.With("component", "policy")))
	auth, err := buildAuth(ctx, cfg, log) // reload.go
	if err != nil {
		return err
	}
	live := server.NewLiveAuthenticator(auth)
	var trusted []netip.Prefix
	for _, p := range cfg.Server.TrustedProxies {
		trusted = append(trusted, netip.MustParsePrefix(p))
	}
	opts := []server.Option{
		server.WithLogger(log),
		server.WithAuditor(auditor),
		server.WithBodyLimit(cfg.Server.BodyLimitBytes),
		server.WithTrustedProxies(trusted),
		server.WithMetrics(reg),
		server.WithExplainSubjects(cfg.Policy.Admins()),
		server.WithRequireSigners(cfg.Server.RequireSigners),
		server.WithCORS(server.CORS{AllowedOrigins: cfg.Server.CORS.AllowedOrigins, AllowedHeaders: cfg.Server.CORS.AllowedHeaders, AllowedMethods: cfg.Server.CORS.AllowedMethods, MaxAge: cfg.Server.CORS.MaxAge.Duration}),
	}
	if cfg.MetricsOnMain() {
		opts = append(opts, server.WithMetricsRoute(reg))
	} else {
		stopMetrics, err := serveMetrics(cfg.Metrics.Listen, cfg.Metrics.Pprof, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics(context.Background())
	}
	limitOpts, closeLimits, err := rateLimits(cfg.Server.RateLimit, log) // ratelimit.go
	if err != nil {
		return err
	}
	defer closeLimits()
	opts = append(opts, limitOpts...)
	opts = append(opts, logs.serverOptions()...) // logging.go
	if cfg.Server.ClientIPHeader == "x-real-ip" {
		opts = append(opts, server.WithRealIPHeader())
	}
	e := server.New(engine, signers, live, opts...)
	// After server.New, which tells the engine the configured connectors.
	stopPolicy, reloadPolicy, err := startPolicy(ctx, engine, cfg, mgr) // policy.go
	if err != nil {
		return err
	}
	defer stopPolicy()
	rl := newReloader(ctx, log, reg, cfg, live, reloadPolicy, auditor) // reload.go
	rl.appliers = append(rl.appliers, logApplier(logs))
	if !*dev {
		rl.load = loadConfig(*cfgPath, *listen)
	}

	conns := newConnMetrics(reg)
	ln, err := openListener(cfg, log, rl, func(ln net.Listener) net.Listener { // tls.go: TCP, and TLS with server.tls
		return capConnections(ln, cfg.Server.Transport, conns)
	})
	if err != nil {
		return err
	}
	defer rl.onSIGHUP(ctx)() // reload.go
	st, _ := engine.Status()
	releaseStartupMemory() // gc.go
	log.Info("signgate listening", "addr", ln.Addr().String(), "policy_revision", st.Revision, "policy_source", st.Source, "connectors", len(signers), "audit", cfg.Audit.String(), "rate_limit", cfg.Server.RateLimit.String())
	if dm != nil {
		logs.flush()
		dm.printHelp(stderr, ln.Addr().String())
	}

	e.Listener = ln
	applyTransport(e, cfg.Server.Transport) // transport.go
	errc := make(chan error, 1)
	go func() { errc <- e.Start("") }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.String(), "flush_timeout", cfg.Audit.FlushTimeout.String())
	// In-flight requests finish first, then their records are flushed,
	// each within its own budget.
	return shutdown(e, cfg.Server.ShutdownTimeout.Duration, cfg.Audit.FlushTimeout.Duration, closeAudit, log)
}
