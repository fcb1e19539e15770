package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signgate/signgate/server/config"
)

// applyTransport sets the API server's timeouts and header cap, and a
// deadline on the reading of each request's body: a client that trickles
// its headers or its body, or idles on a keep-alive, lets go of its
// connection within a bounded time (docs/operations.md).
func applyTransport(e *echo.Echo, t config.Transport) {
	e.Server.ReadHeaderTimeout = t.ReadHeaderTimeout.Duration
	e.Server.WriteTimeout = t.WriteTimeout.Duration
	e.Server.IdleTimeout = t.IdleTimeout.Duration
	e.Server.MaxHeaderBytes = t.MaxHeaderBytes
	e.Pre(bodyDeadline(t.BodyTimeout.Duration))
}

// bodyDeadline gives the reading of a request's body d from the end of its
// headers. The deadline is lifted once the body has been read, so that it
// never cuts a slow answer short (write_timeout bounds that).
func bodyDeadline(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.Body == nil || r.Body == http.NoBody {
				return next(c)
			}
			// net/http's own writer sets deadlines itself; a wrapped one
			// goes through a ResponseController, which unwraps it.
			conn, ok := c.Response().Writer.(readDeadliner)
			if !ok {
				conn = http.NewResponseController(c.Response().Writer)
			}
			if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
				return next(c) // a writer without deadlines (tests' recorders)
			}
			r.Body = &deadlineBody{ReadCloser: r.Body, conn: conn}
			return next(c)
		}
	}
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }

// deadlineBody lifts the read deadline when the body ends, once.
type deadlineBody struct {
	io.ReadCloser
	conn   readDeadliner
	lifted atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.lifted.Swap(true) {
		_ = b.conn.SetReadDeadline(time.Time{})
	}
	return n, err
}

// connMetrics count the API connections and those refused by a cap.
type connMetrics struct {
	open    prometheus.Gauge
	refused *prometheus.CounterVec // by reason: max_connections, max_connections_per_ip
}

func newConnMetrics(reg prometheus.Registerer) connMetrics {
	m := connMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "signgate_connections_open",
			Help: "Open connections on the API listener."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signgate_connections_refused_total",
			Help: "API connections closed on accept because a connection cap was reached, by cap."}, []string{"reason"}),
	}
	m.refused.WithLabelValues("max_connections")
	m.refused.WithLabelValues("max_connections_per_ip")
	reg.MustRegister(m.open, m.refused)
	return m
}

// capListener closes, as soon as they are accepted, the connections over
// max in all or over perIP (<= 0: no cap) from one socket peer. Closing at
// once, rather than leaving them in the kernel's backlog, keeps Accept
// serving the peers under their cap.
type capListener struct {
	net.Listener
	max, perIP int
	metrics    connMetrics

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

func capConnections(ln net.Listener, t config.Transport, m connMetrics) net.Listener {
	return &capListener{Listener: ln, max: t.MaxConnections, perIP: t.MaxConnectionsPerIP, metrics: m, byIP: map[netip.Addr]int{}}
}

// Accept returns the next connection under both caps.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerAddr(c)
		if reason := l.admit(ip); reason != "" {
			l.metrics.refused.WithLabelValues(reason).Inc()
			_ = c.Close()
			continue
		}
		l.metrics.open.Inc()
		return &cappedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *capListener) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.max:
		return "max_connections"
	case l.perIP > 0 && l.byIP[ip] >= l.perIP:
		return "max_connections_per_ip"
	}
	l.total++
	l.byIP[ip]++
	return ""
}

func (l *capListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.metrics.open.Dec()
}

func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// cappedConn gives its slot back once, on the first Close.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// shutdown drains the API server within drain, closing what is still open
// when it runs out, then flushes the audit records within flush: a client
// that holds a request open can use up the drain but never the flush.
func shutdown(e *echo.Echo, drain, flush time.Duration, closeAudit func(context.Context) error, log *slog.Logger) error {
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := e.Shutdown(dctx)
	if err != nil {
		log.Warn("shutdown drain incomplete; closing the remaining connections", "err", err)
		_ = e.Server.Close()
		err = nil // the drain is best effort; the flush below is what must hold
	}
	fctx, cancelFlush := context.WithTimeout(context.Background(), flush)
	defer cancelFlush()
	if aerr := closeAudit(fctx); aerr != nil {
		log.Error("audit flush incomplete", "err", aerr)
		return aerr
	}
	return err
}
