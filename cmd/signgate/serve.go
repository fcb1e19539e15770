package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/server"
	"github.com/signgate/signgate/server/config"
)

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "run with the embedded policy, local emulator connectors and a fresh dev API key")
	cfgPath := fs.String("config", "", "path to the YAML configuration")
	listen := fs.String("listen", "", "override the listen address (host:port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dev == (*cfgPath != "") {
		return errors.New("serve needs exactly one of --dev and --config FILE")
	}
	logOut := newLogWriter(stderr, 100*time.Millisecond)
	defer logOut.Close()
	log := slog.New(slog.NewJSONHandler(logOut, nil))

	var (
		cfg    *config.Config
		devKey string
		err    error
	)
	if *dev {
		cfg, devKey, err = devConfig()
	} else {
		cfg, err = config.Load(*cfgPath)
	}
	if err != nil {
		return err
	}
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

	signers, err := buildSigners(ctx, cfg)
	if err != nil {
		return err
	}
	reg := newRegistry()
	auditor, followPolicy, closeAudit, err := openAudit(ctx, cfg, stdout, log, reg)
	if err != nil {
		return err
	}
	defer closeAudit(context.Background()) // on early returns; Close is idempotent
	engine := authz.New(authz.WithObserver(followPolicy), authz.WithLogger(log.With("component", "policy")))
	apiKeys, err := server.NewAPIKeys(cfg.Auth.APIKeys)
	if err != nil {
		return err
	}
	var auth server.Authenticator = apiKeys
	if cfg.Auth.OIDC != nil {
		jwt, err := server.NewJWT(ctx, *cfg.Auth.OIDC, server.WithJWTLogger(log))
		if err != nil {
			return err
		}
		auth = server.Chain(apiKeys, jwt)
	}
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
		server.WithExplainSubjects(cfg.Policy.ExplainSubjects),
	}
	if cfg.MetricsOnMain() {
		opts = append(opts, server.WithMetricsRoute(reg))
	} else {
		stopMetrics, err := serveMetrics(cfg.Metrics.Listen, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics(context.Background())
	}
	if cfg.Server.ClientIPHeader == "x-real-ip" {
		opts = append(opts, server.WithRealIPHeader())
	}
	e := server.New(engine, signers, auth, opts...)
	// After server.New, which tells the engine the configured connectors.
	stopPolicy, err := startPolicy(ctx, engine, cfg) // policy.go
	if err != nil {
		return err
	}
	defer stopPolicy()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	st, _ := engine.Status()
	log.Info("signgate listening", "addr", ln.Addr().String(), "policy_revision", st.Revision, "policy_source", st.Source, "connectors", len(signers), "audit", cfg.Audit.String())
	if *dev {
		logOut.flush()
		printDevHelp(stderr, ln.Addr().String(), devKey)
	}

	e.Listener = ln
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
	log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	// In-flight requests finish first, then their records are flushed,
	// both within the one shutdown budget.
	err = e.Shutdown(sctx)
	if aerr := closeAudit(sctx); aerr != nil {
		log.Error("audit flush incomplete", "err", aerr)
		err = errors.Join(err, aerr)
	}
	return err
}

func hashKeyCmd(stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(stdin, 4096))
	if err != nil {
		return err
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return errors.New("hash-key: no key on stdin")
	}
	sum := sha256.Sum256([]byte(key))
	fmt.Fprintln(stdout, hex.EncodeToString(sum[:]))
	return nil
}
