package server

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signgate/signgate/signer"
)

// Readiness checks of the connectors run in the background, at most once
// per readinessTTL, each bounded by readinessTimeout: a probe answers from
// the last result at once, and no probe makes a signBlob or STS call of
// its own.
const (
	readinessTTL     = 15 * time.Second
	readinessTimeout = 5 * time.Second
)

// ConnectorStatus is one connector's readiness, as /v1/connectors and
// /readyz report it; it names the kind of credential, never a secret.
type ConnectorStatus struct {
	Provider   string     `json:"provider"`
	Bucket     string     `json:"bucket,omitempty"` // only on /v1/connectors
	Ready      bool       `json:"ready"`
	Credential string     `json:"credential,omitempty"` // only on /v1/connectors
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Error      string     `json:"error,omitempty"` // only on /v1/connectors
	CheckedAt  time.Time  `json:"checked_at"`
}

// ConnectorsResponse is the 200 answer of GET /v1/connectors.
type ConnectorsResponse struct {
	Connectors map[string]ConnectorStatus `json:"connectors"`
}

// connectorReadiness caches the last check of every connector.
type connectorReadiness struct {
	mu      sync.Mutex
	last    map[string]ConnectorStatus
	at      time.Time
	running bool
	first   chan struct{} // closed when the first check is done
}

// WithRequireSigners keeps /readyz at 503 while any connector cannot sign.
func WithRequireSigners(on bool) Option { return func(s *Server) { s.requireSigners = on } }

// connectorStatuses returns the last readiness of every connector, starting
// a check when it is older than readinessTTL; before the first check is
// done it waits for it, for as long as ctx allows.
func (s *Server) connectorStatuses(ctx context.Context) map[string]ConnectorStatus {
	r := &s.readiness
	r.mu.Lock()
	if r.first == nil {
		r.first = make(chan struct{})
	}
	first := r.first
	if time.Since(r.at) > readinessTTL && !r.running {
		r.running = true
		go s.checkConnectors()
	}
	r.mu.Unlock()
	select {
	case <-first:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last // replaced, never changed in place
}

// checkConnectors checks every connector concurrently and stores the result.
func (s *Server) checkConnectors() {
	out := make(map[string]ConnectorStatus, len(s.signers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, sg := range s.signers {
		wg.Go(func() {
			st := checkConnector(sg)
			mu.Lock()
			out[name] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	r := &s.readiness
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.at, r.running = out, time.Now(), false
	select {
	case <-r.first:
	default:
		close(r.first)
	}
}

func checkConnector(sg signer.Signer) (st ConnectorStatus) {
	st = ConnectorStatus{Provider: sg.Provider(), Bucket: sg.Bucket(), Ready: true, CheckedAt: time.Now().UTC()}
	defer func() {
		if p := recover(); p != nil {
			st.Ready, st.Error = false, "readiness check failed"
		}
	}()
	c, ok := sg.(signer.Checker)
	if !ok {
		st.Credential = "not checked"
		return st
	}
	ctx, cancel := context.WithTimeout(context.Background(), readinessTimeout)
	defer cancel()
	rd := c.Check(ctx)
	st.Ready, st.Credential = rd.Ready, rd.Credential
	if !rd.ValidUntil.IsZero() {
		t := rd.ValidUntil.UTC()
		st.ValidUntil = &t
	}
	if rd.Err != nil {
		st.Ready, st.Error = false, rd.Err.Error()
	}
	return st
}

// handleConnectors answers GET /v1/connectors: every connector's readiness
// with the kind of credential and, when it cannot sign, why.
func (s *Server) handleConnectors(c echo.Context) error {
	return c.JSON(http.StatusOK, ConnectorsResponse{Connectors: s.connectorStatuses(c.Request().Context())})
}

// readyConnectors is /readyz's view: readiness and expiry only, for an
// unauthenticated probe, and the names of the connectors that cannot sign.
func (s *Server) readyConnectors(ctx context.Context) (map[string]ConnectorStatus, []string) {
	all := s.connectorStatuses(ctx)
	out := make(map[string]ConnectorStatus, len(all))
	var down []string
	for name, st := range all {
		out[name] = ConnectorStatus{Provider: st.Provider, Ready: st.Ready, ValidUntil: st.ValidUntil, CheckedAt: st.CheckedAt}
		if !st.Ready {
			down = append(down, name)
		}
	}
	if len(all) < len(s.signers) { // the first check has not finished
		for name := range s.signers {
			if _, ok := all[name]; !ok {
				down = append(down, name)
			}
		}
	}
	sort.Strings(down)
	return out, down
}
