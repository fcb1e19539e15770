// Package server is signgate's HTTP face: the Echo app with its routes,
// authentication, request validation and error mapping, and the one exit
// of every deciding request (exit.go), which writes its decision record.
// It asks authz to decide and signer to sign; nothing imports it.
package server

import (
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/signgate/signgate/authz"
	"github.com/signgate/signgate/signer"
)

// Server holds the dependencies of the handlers.
type Server struct {
	engine  *authz.Engine
	signers map[string]signer.Signer
	auth    Authenticator
	auditor Auditor
	log     *slog.Logger
	// requestLogJSON, when set, receives the request lines in the
	// logger's JSON form, bypassing its handler (requestline.go).
	requestLogJSON io.Writer
	now            func() time.Time
	bodyLimit      int64
	trusted        []netip.Prefix
	realIP         bool
	explainers     map[string]bool     // subjects allowed ?explain=full (policy.go)
	cors           echo.MiddlewareFunc // nil: off (cors.go)

	rateLimits *RateLimits // limits.go: as configured
	limits     *limits     // and as running; nil: none

	requireSigners bool               // readiness.go
	readiness      connectorReadiness // readiness.go

	metrics        *metrics // nil: nothing measured
	metricsReg     prometheus.Registerer
	metricsRoute   prometheus.Gatherer
	metricsHandler http.Handler
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock used for input time and records.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger sets the logger for request logs and failures.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithAuditor sets where decision records go (default: discard).
func WithAuditor(a Auditor) Option { return func(s *Server) { s.auditor = a } }

// WithBodyLimit caps request bodies (default 64 KiB).
func WithBodyLimit(n int64) Option { return func(s *Server) { s.bodyLimit = n } }

// WithTrustedProxies lists the peers whose forwarding headers are believed.
func WithTrustedProxies(p []netip.Prefix) Option { return func(s *Server) { s.trusted = p } }

// WithRealIPHeader makes trusted proxies' X-Real-IP, instead of
// X-Forwarded-For, the source of the client IP.
func WithRealIPHeader() Option { return func(s *Server) { s.realIP = true } }

// New builds the Echo app. engine decides, signers maps connector names to
// signers, and auth authenticates every /v1 request. New tells engine the
// connectors of signers (authz.Engine.SetConnectors): activate the first
// policy revision after New, so that it is checked against them too.
func New(engine *authz.Engine, signers map[string]signer.Signer, auth Authenticator, opts ...Option) *echo.Echo {
	s := &Server{
		engine:    engine,
		signers:   signers,
		auth:      auth,
		auditor:   Discard{},
		log:       slog.New(slog.NewJSONHandler(io.Discard, nil)),
		now:       time.Now,
		bodyLimit: 64 << 10,
	}
	for _, o := range opts {
		o(s)
	}
	// Only the server knows which connectors can sign: from now on the
	// engine refuses revisions and decisions that name any other.
	if err := engine.SetConnectors(slices.Sorted(maps.Keys(signers))); err != nil {
		s.log.Error("the active policy names connectors that are not configured; its decisions for those teams fail closed", "err", err)
	}
	s.metrics = newMetrics(s.metricsReg, engine)
	s.initLimits()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s.routeEchoLogs(e) // echolog.go
	e.HTTPErrorHandler = errorHandler(s.log)
	e.JSONSerializer = jsonSerializer{}
	e.IPExtractor = ipExtractor(s.trusted, s.realIP)
	e.Use(s.requestLog, s.recoverPanics())
	if s.cors != nil {
		e.Use(s.cors)
	}
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	if s.metricsRoute != nil {
		s.metricsHandler = MetricsHandler(s.metricsRoute)
		e.GET("/metrics", s.handleMetrics)
	}
	// Authentication is per route, not group middleware: echo routes a
	// group's unmatched methods to 404, and a wrong method must be a 405.
	// Then the principal's limits: one item up front, the rest once the
	// handler knows the cost (limits.go). Each chain is built once here:
	// Echo would build a route's middleware anew for every request.
	requireAuth, limit, limitBatch := authenticate(s.auth, s.log), s.limitRequests(1), s.limitRequests(0)
	e.POST("/v1/sign", withMiddleware(s.deciding("/v1/sign", s.sign), requireAuth, limit))
	e.POST("/v1/sign/batch", withMiddleware(s.handleSignBatch, requireAuth, limitBatch)) // each item a deciding request of its own
	e.POST("/v1/uploads", withMiddleware(s.deciding("/v1/uploads", s.upload), requireAuth, limit))
	e.POST("/v1/decide", withMiddleware(s.deciding("/v1/decide", s.decide), requireAuth, limit))
	e.GET("/v1/policy", withMiddleware(s.handlePolicy, requireAuth, limit))
	e.GET("/v1/connectors", withMiddleware(s.handleConnectors, requireAuth, limit))
	return e
}

// withMiddleware wraps h in mw as Echo wraps a route's handler in its middleware:
// the first one outermost.
func withMiddleware(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// ipExtractor trusts forwarding headers only from the configured proxies;
// with none configured, the client IP is the socket peer.
func ipExtractor(trusted []netip.Prefix, realIP bool) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	if realIP {
		return echo.ExtractIPFromRealIPHeader(opts...)
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

const decisionKey = "signgate.decision_id"

var wellFormedRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// setRequestID honours a well-formed X-Request-Id and otherwise makes one.
func setRequestID(c echo.Context) {
	id := c.Request().Header.Get(echo.HeaderXRequestID)
	if !wellFormedRequestID.MatchString(id) {
		id = newID() // ids.go
	}
	c.Response().Header().Set(echo.HeaderXRequestID, id)
}

// requestLog gives each request its id, then writes one line per request.
// It never logs bodies, URLs it issued or credentials. (One middleware,
// not two: Echo wraps each anew for every request.)
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setRequestID(c)
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		latency := time.Since(start)
		s.metrics.request(c.Path(), c.Response().Status, latency)
		s.logRequest(c, latency) // requestlog.go
		return nil
	}
}
