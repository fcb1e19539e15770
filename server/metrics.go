package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signgate/signgate/authz"
)

// WithMetrics records the server's Prometheus metrics in reg: decisions,
// decision and signing latency, signer errors, HTTP requests, and the
// active policy revision. Without it nothing is measured.
func WithMetrics(reg prometheus.Registerer) Option { return func(s *Server) { s.metricsReg = reg } }

// WithMetricsRoute serves g as GET /metrics on the API's own listener,
// without credentials (metrics.listen: main).
func WithMetricsRoute(g prometheus.Gatherer) Option { return func(s *Server) { s.metricsRoute = g } }

// MetricsHandler serves g in the Prometheus text format, for a separate
// admin listener.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// Label values of signgate_decisions_total.
const (
	resultAllow    = "allow"
	resultDeny     = "deny"
	resultError    = "error"
	resultCanceled = "canceled" // the client went away before the answer
)

// metrics are the server's collectors. A nil *metrics measures nothing.
//
// On the request path each update is an atomic add: label values come from
// small known sets and their children are looked up once, then kept in a
// sync.Map, whose reads take no lock.
type metrics struct {
	decisions    *prometheus.CounterVec
	decisionTime prometheus.Histogram
	signTime     *prometheus.HistogramVec
	signerErrors *prometheus.CounterVec
	requests     *prometheus.CounterVec
	requestTime  *prometheus.HistogramVec

	children sync.Map // childKey -> prometheus.Counter or prometheus.Observer

	statusLabels [600]string // "100" to "599", so that no request formats its status
}

type childKey struct {
	kind       int
	a, b, c, d string
}

const (
	kindDecision = iota
	kindSignTime
	kindSignerError
	kindRequest
	kindRequestTime
)

// latencyBuckets run from 10µs to about 160ms: a decision or a signature
// takes tens of microseconds, a credential refresh milliseconds.
var latencyBuckets = prometheus.ExponentialBuckets(10e-6, 2, 15)

func newMetrics(reg prometheus.Registerer, engine *authz.Engine) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signgate_decisions_total",
			Help: "Policy decisions, by result (allow, deny, error, canceled), operation, provider (of an allowed decision) and endpoint.",
		}, []string{"result", "operation", "provider", "endpoint"}),
		decisionTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signgate_decision_duration_seconds",
			Help:    "Time to evaluate the policy for one decision.",
			Buckets: latencyBuckets,
		}),
		signTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signgate_sign_duration_seconds",
			Help:    "Time to sign one URL, by provider.",
			Buckets: latencyBuckets,
		}, []string{"provider"}),
		signerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signgate_signer_errors_total",
			Help: "Signer failures (signer_error: no URL), by provider.",
		}, []string{"provider"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signgate_http_requests_total",
			Help: "HTTP requests, by route (the route pattern, never the raw path) and status.",
		}, []string{"route", "status"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signgate_http_request_duration_seconds",
			Help:    "HTTP request latency, by route.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}, []string{"route"}),
	}
	for code := 100; code < len(m.statusLabels); code++ {
		m.statusLabels[code] = strconv.Itoa(code)
	}
	reg.MustRegister(m.decisions, m.decisionTime, m.signTime, m.signerErrors, m.requests, m.requestTime,
		policyCollector{engine})
	return m
}

func (m *metrics) counter(k childKey, vec *prometheus.CounterVec, values ...string) prometheus.Counter {
	if c, ok := m.children.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.children.LoadOrStore(k, vec.WithLabelValues(values...))
	return c.(prometheus.Counter)
}

func (m *metrics) observer(k childKey, vec *prometheus.HistogramVec, values ...string) prometheus.Observer {
	if o, ok := m.children.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o, _ := m.children.LoadOrStore(k, vec.WithLabelValues(values...))
	return o.(prometheus.Observer)
}

// decision counts one decision and its latencies. errCode is the problem
// code of a request that failed in the policy or after it.
func (m *metrics) decision(endpoint string, dc *decision, provider, errCode string) {
	if m == nil {
		return
	}
	result := resultDeny
	switch {
	case errCode == codePolicyError || errCode == codeNotReady:
		result = resultError // the policy could not decide
	case errCode == codeClientClosed:
		result = resultCanceled
	case dc.d.Allow:
		result = resultAllow
	}
	op := dc.input.Action.Operation
	m.counter(childKey{kindDecision, result, op, provider, endpoint}, m.decisions, result, op, provider, endpoint).Inc()
	if dc.evalTime > 0 {
		m.decisionTime.Observe(dc.evalTime.Seconds())
	}
	if dc.signTime > 0 && provider != "" {
		m.observer(childKey{kind: kindSignTime, a: provider}, m.signTime, provider).Observe(dc.signTime.Seconds())
	}
	if errCode == codeSignerError && provider != "" {
		m.counter(childKey{kind: kindSignerError, a: provider}, m.signerErrors, provider).Inc()
	}
}

// request counts one HTTP request under its route pattern.
func (m *metrics) request(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	st := ""
	if status >= 100 && status < len(m.statusLabels) {
		st = m.statusLabels[status]
	} else {
		st = strconv.Itoa(status)
	}
	m.counter(childKey{kind: kindRequest, a: route, b: st}, m.requests, route, st).Inc()
	m.observer(childKey{kind: kindRequestTime, a: route}, m.requestTime, route).Observe(d.Seconds())
}

// policyCollector reports the engine's policy lifecycle (authz.Report)
// at scrape time, so that bundles needs to know nothing about metrics.
type policyCollector struct{ engine *authz.Engine }

var (
	descRevision = prometheus.NewDesc("signgate_policy_revision_info",
		"The active policy revision (value 1; absent while no policy is active).", []string{"revision", "source"}, nil)
	descLoaded = prometheus.NewDesc("signgate_policy_last_load_timestamp_seconds",
		"When the active policy revision was loaded and activated (Unix time).", nil, nil)
	descChecked = prometheus.NewDesc("signgate_policy_last_check_timestamp_seconds",
		"When a policy source last looked for a new revision, whatever it found (Unix time).", nil, nil)
	descActivations = prometheus.NewDesc("signgate_policy_activations_total",
		"Policy revisions activated since start.", nil, nil)
	descUpdateFailures = prometheus.NewDesc("signgate_policy_update_failures_total",
		"Policy updates refused since start (the active revision stayed), by stage.", []string{"stage"}, nil)
)

func (p policyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRevision, descLoaded, descChecked, descActivations, descUpdateFailures} {
		ch <- d
	}
}

func (p policyCollector) Collect(ch chan<- prometheus.Metric) {
	r := p.engine.Report()
	ch <- prometheus.MustNewConstMetric(descActivations, prometheus.CounterValue, float64(r.Activations))
	for stage, n := range r.Failures {
		ch <- prometheus.MustNewConstMetric(descUpdateFailures, prometheus.CounterValue, float64(n), string(stage))
	}
	if !r.LastCheck.IsZero() {
		ch <- prometheus.MustNewConstMetric(descChecked, prometheus.GaugeValue, unixSeconds(r.LastCheck))
	}
	if !r.Ready {
		return
	}
	ch <- prometheus.MustNewConstMetric(descRevision, prometheus.GaugeValue, 1, r.Active.Revision, r.Active.Source)
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, unixSeconds(r.Active.ActivatedAt))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// handleMetrics serves /metrics on the API listener.
func (s *Server) handleMetrics(c echo.Context) error {
	s.metricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}
