package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/server/ratelimit"
)

// Codes of the per-principal limits (docs/operations.md).
const (
	// CodeRateLimited: the principal is over its cost budget or has too
	// many requests in flight. Retry-After says when to try again.
	CodeRateLimited = "rate_limited"
	// CodeRateLimitUnavailable: the shared limit store cannot be asked and
	// the limit fails closed.
	CodeRateLimitUnavailable = "rate_limit_unavailable"
)

// RateLimits limit each principal's requests: a cost budget and a cap on
// the requests it has in flight. An item decided or signed with a shared
// key (HMAC: S3, Azure) costs HMACCost, one signed with RSA (GCS) RSACost;
// a batch costs its items and an upload its parts.
type RateLimits struct {
	Limiter  ratelimit.Limiter // nil: no cost budget
	Limit    ratelimit.Limit   // what Limiter enforces, for the headers
	HMACCost int
	RSACost  int
	// MaxConcurrent caps the requests of one principal in flight in this
	// process; <= 0: no cap.
	MaxConcurrent int
	// FailOpen serves, unlimited, while Limiter fails; otherwise 503.
	FailOpen bool
}

// WithRateLimits limits each principal's requests (limits.go).
func WithRateLimits(l RateLimits) Option { return func(s *Server) { s.rateLimits = &l } }

// limits is the running state of RateLimits.
type limits struct {
	RateLimits
	log     *slog.Logger
	metrics *limitMetrics

	mu       sync.Mutex
	inFlight map[string]int

	storeDown atomic.Bool // the last call to the store failed: logged once
}

// limitMetrics count what the limits refused and spent.
type limitMetrics struct {
	limited     *prometheus.CounterVec // by reason: rate, concurrency, cost_over_burst
	spent       prometheus.Counter
	storeErrors *prometheus.CounterVec // by on_error: fail_open, fail_closed
}

func newLimitMetrics(reg prometheus.Registerer) *limitMetrics {
	m := &limitMetrics{
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signgate_rate_limited_total",
			Help: "Requests and batch items answered 429 by the per-principal limits, by reason."}, []string{"reason"}),
		spent: prometheus.NewCounter(prometheus.CounterOpts{Name: "signgate_rate_limit_cost_spent_total",
			Help: "Cost units that principals spent within their budgets."}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signgate_rate_limit_store_errors_total",
			Help: "Calls to the rate-limit store that failed, by what the request got (on_error)."}, []string{"on_error"}),
	}
	for _, r := range []string{"rate", "concurrency", "cost_over_burst"} {
		m.limited.WithLabelValues(r)
	}
	m.storeErrors.WithLabelValues("fail_open")
	m.storeErrors.WithLabelValues("fail_closed")
	reg.MustRegister(m.limited, m.spent, m.storeErrors)
	return m
}

// initLimits builds the limits of WithRateLimits, once the logger and
// the metrics registry are known.
func (s *Server) initLimits() {
	if s.rateLimits == nil {
		return
	}
	l := *s.rateLimits
	l.HMACCost, l.RSACost = max(l.HMACCost, 1), max(l.RSACost, 1)
	s.limits = &limits{RateLimits: l, log: s.log.With("component", "ratelimit"), inFlight: map[string]int{}}
	if s.metricsReg != nil {
		s.limits.metrics = newLimitMetrics(s.metricsReg)
	}
}

func (l *limits) count(reason string) {
	if l.metrics != nil {
		l.metrics.limited.WithLabelValues(reason).Inc()
	}
}

// quotaKey carries a request's quota in its context.
type quotaKey struct{}

// quota is one request's account with its principal's budget: each spend
// also sets the RateLimit headers of the answer.
type quota struct {
	l      *limits
	key    string
	mu     sync.Mutex // batch items spend concurrently
	header http.Header
}

// limitRequests is the per-principal limit of an authenticated route:
// it holds one of the principal's in-flight slots for the request and
// spends base (a number of HMAC items) up front; the handlers spend the
// rest once they know the cost (spend).
func (s *Server) limitRequests(base int) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if s.limits == nil {
			return next
		}
		l := s.limits
		return func(c echo.Context) error {
			key := principal(c).ID
			if !l.acquire(key) {
				l.count("concurrency")
				c.Response().Header().Set("Retry-After", "1")
				return problem(http.StatusTooManyRequests, CodeRateLimited,
					fmt.Sprintf("more than %d requests of this principal in flight", l.MaxConcurrent), nil)
			}
			defer l.release(key)
			q := &quota{l: l, key: key, header: c.Response().Header()}
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), quotaKey{}, q)))
			if err := q.spend(r.Context(), base*l.HMACCost); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func (l *limits) acquire(key string) bool {
	if l.MaxConcurrent <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[key] >= l.MaxConcurrent {
		return false
	}
	l.inFlight[key]++
	return true
}

func (l *limits) release(key string) {
	if l.MaxConcurrent <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[key]--; l.inFlight[key] <= 0 {
		delete(l.inFlight, key)
	}
}

// spendItems spends n items of the request in ctx, each at the cost of
// provider ("" or an HMAC provider: HMACCost; gcs: RSACost), less the
// HMAC cost already spent for each (already items). No quota: free.
func spendItems(ctx context.Context, provider string, n, already int) error {
	q, _ := ctx.Value(quotaKey{}).(*quota)
	if q == nil {
		return nil
	}
	unit := q.l.HMACCost
	if provider == "gcs" {
		unit = q.l.RSACost
	}
	return q.spend(ctx, n*unit-already*q.l.HMACCost)
}

// spend takes cost from the principal's budget, or answers why not.
func (q *quota) spend(ctx context.Context, cost int) error {
	l := q.l
	if cost <= 0 || l.Limiter == nil {
		return nil
	}
	if cost > l.Limit.Burst {
		l.count("cost_over_burst")
		q.setHeaders(ratelimit.Result{Remaining: -1})
		return problem(http.StatusTooManyRequests, CodeRateLimited,
			fmt.Sprintf("the request costs %d, more than the budget of %d: split it", cost, l.Limit.Burst), nil)
	}
	res, err := l.Limiter.AllowN(ctx, q.key, cost)
	if err != nil {
		return l.storeFailed(q, err)
	}
	if l.storeDown.CompareAndSwap(true, false) {
		l.log.Info("rate-limit store answers again")
	}
	q.setHeaders(res)
	if !res.Allowed {
		l.count("rate")
		return problem(http.StatusTooManyRequests, CodeRateLimited,
			fmt.Sprintf("over the budget of %d units a second (burst %d); this request costs %d", l.Limit.Rate, l.Limit.Burst, cost), nil)
	}
	if l.metrics != nil {
		l.metrics.spent.Add(float64(cost))
	}
	return nil
}

func (l *limits) storeFailed(q *quota, err error) error {
	onError := "fail_closed"
	if l.FailOpen {
		onError = "fail_open"
	}
	if l.metrics != nil {
		l.metrics.storeErrors.WithLabelValues(onError).Inc()
	}
	if l.storeDown.CompareAndSwap(false, true) {
		l.log.Error("rate-limit store unavailable", "on_error", onError, "err", err)
	}
	if l.FailOpen {
		return nil
	}
	q.mu.Lock()
	q.header.Set("Retry-After", "1")
	q.mu.Unlock()
	return problem(http.StatusServiceUnavailable, CodeRateLimitUnavailable, "the rate limit cannot be checked; try again", err)
}

// setHeaders writes the IETF RateLimit and RateLimit-Policy fields
// (draft-ietf-httpapi-ratelimit-headers) and, when refused, Retry-After.
// A negative Remaining writes the policy alone.
func (q *quota) setHeaders(res ratelimit.Result) {
	lim := q.l.Limit
	q.mu.Lock()
	defer q.mu.Unlock()
	q.header.Set("RateLimit-Policy", fmt.Sprintf(`"principal";q=%d;w=%d`, lim.Burst, lim.Window()))
	if res.Remaining < 0 {
		return
	}
	t := res.ResetAfter
	if !res.Allowed {
		t = res.RetryAfter
		q.header.Set("Retry-After", strconv.Itoa(ceilSeconds(res.RetryAfter)))
	}
	q.header.Set("RateLimit", fmt.Sprintf(`"principal";r=%d;t=%d`, res.Remaining, ceilSeconds(t)))
}

func ceilSeconds(d time.Duration) int { return max(int(math.Ceil(d.Seconds())), 0) }
