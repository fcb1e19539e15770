package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Audit says where decision records go and how hard signgate tries to keep
// them (docs/audit.md).
type Audit struct {
	// Mode is best_effort (default: a bounded buffer, a request never waits
	// for the sink, a full buffer drops its oldest record) or strict (a
	// response waits until its record is stored; without the sink, 503).
	Mode string `json:"mode"`
	// Sink is console (default: JSON lines on stdout), file, service (an
	// OPA decision-log service) or none.
	Sink     string       `json:"sink"`
	Path     string       `json:"path"` // for sink: file; opened for append, mode 0600
	Rotation Rotation     `json:"rotation"`
	Service  AuditService `json:"service"`
	// BufferSize bounds the records held in memory: the queue in front of
	// the sink and, for the service sink, OPA's upload buffer. Default 10000.
	BufferSize int `json:"buffer_size"`
	// StrictTimeout bounds how long a strict request waits for its record
	// to be stored before it gets a 503. Default 5s.
	StrictTimeout Duration `json:"strict_timeout"`
	// FlushTimeout bounds the flush of queued records at shutdown, after
	// server.shutdown_timeout has drained the requests. Default 10s.
	FlushTimeout Duration `json:"flush_timeout"`
	// InstanceID is this replica's labels.id in every record. Default: the
	// host name.
	InstanceID string `json:"instance_id"`
}

// Rotation is when the file sink starts a new file, and which rotated files
// it removes. By default it removes none: how many records are written is
// in callers' hands (each denied batch item is one), so a count of files
// would let a caller push the record of its own URL out.
type Rotation struct {
	MaxSizeMB int `json:"max_size_mb"` // rotate past this size; default 100
	// MaxBackups is how many rotated files are kept; 0 (default) or -1
	// keeps all. Setting it lets record volume decide what is deleted.
	MaxBackups int `json:"max_backups"`
	// MaxAge removes rotated files older than this, at each rotation; 0
	// (default) keeps them.
	MaxAge Duration `json:"max_age"`
}

// AuditService is an OPA decision-log service: records are uploaded as
// gzipped JSON arrays by OPA's decision-log plugin (POST url+resource).
type AuditService struct {
	URL       string `json:"url"`        // https (http only on 127.0.0.1 / localhost)
	Resource  string `json:"resource"`   // default /logs
	TokenEnv  string `json:"token_env"`  // bearer token, from the environment
	TokenFile string `json:"token_file"` // or from a file
	// MinDelay and MaxDelay space best_effort uploads (OPA's
	// min_delay_seconds and max_delay_seconds). Default 1s and 10s.
	MinDelay Duration `json:"min_delay"`
	MaxDelay Duration `json:"max_delay"`
	// Timeout bounds the wait for the service's response headers. Default 4s.
	Timeout Duration `json:"timeout"`
}

// Metrics says where GET /metrics is served.
type Metrics struct {
	// Listen is "main" (default: on the API's own listener) or an IP
	// address and port of a separate admin listener.
	Listen string `json:"listen"`
	// Pprof serves Go's profiling endpoints (/debug/pprof/) beside
	// /metrics on the admin listener. It is refused with listen: main, so
	// profiles are never reachable from the API's own address.
	Pprof bool `json:"pprof"`
}

// Audit and metrics defaults and limits.
const (
	defaultAuditBuffer   = 10000
	maxAuditBuffer       = 1_000_000
	defaultStrictTimeout = 5 * time.Second
	defaultMaxSizeMB     = 100
	defaultUploadMin     = time.Second
	defaultUploadMax     = 10 * time.Second
	defaultUploadTimeout = 4 * time.Second
)

func (a *Audit) setDefaults() {
	if a.Mode == "" {
		a.Mode = "best_effort"
	}
	if a.Sink == "" {
		a.Sink = "console"
	}
	if a.BufferSize == 0 {
		a.BufferSize = defaultAuditBuffer
	}
	if a.StrictTimeout.Duration == 0 {
		a.StrictTimeout.Duration = defaultStrictTimeout
	}
	setDuration(&a.FlushTimeout, defaultFlushTimeout)
	if a.Rotation.MaxSizeMB == 0 {
		a.Rotation.MaxSizeMB = defaultMaxSizeMB
	}
	s := &a.Service
	if s.Resource == "" {
		s.Resource = "/logs"
	}
	if s.MinDelay.Duration == 0 {
		s.MinDelay.Duration = defaultUploadMin
	}
	if s.MaxDelay.Duration == 0 {
		s.MaxDelay.Duration = max(defaultUploadMax, s.MinDelay.Duration)
	}
	if s.Timeout.Duration == 0 {
		s.Timeout.Duration = defaultUploadTimeout
	}
}

func (a *Audit) validate(p string, bad func(path, format string, args ...any)) {
	switch a.Mode {
	case "best_effort", "strict":
	default:
		bad(p+".mode", "want best_effort or strict, got %q", a.Mode)
	}
	switch a.Sink {
	case "console", "none":
		if a.Mode == "strict" {
			bad(p+".sink", "strict needs a sink that acknowledges a record: file or service, got %q", a.Sink)
		}
	case "file":
		if a.Path == "" {
			bad(p+".path", "required when audit.sink is file")
		}
		if a.Rotation.MaxSizeMB < 1 || a.Rotation.MaxSizeMB > 1<<20 {
			bad(p+".rotation.max_size_mb", "want 1 to %d, got %d", 1<<20, a.Rotation.MaxSizeMB)
		}
		if a.Rotation.MaxBackups < -1 {
			bad(p+".rotation.max_backups", "want 0 or -1 (keep all) or more, got %d", a.Rotation.MaxBackups)
		}
		if a.Rotation.MaxAge.Duration < 0 {
			bad(p+".rotation.max_age", "want 0 (keep all) or a positive duration, got %s", a.Rotation.MaxAge.Duration)
		}
	case "service":
		a.Service.validate(p+".service", bad)
	default:
		bad(p+".sink", "want console, file, service or none, got %q", a.Sink)
	}
	if a.BufferSize < 1 || a.BufferSize > maxAuditBuffer {
		bad(p+".buffer_size", "want 1 to %d, got %d", maxAuditBuffer, a.BufferSize)
	}
	if d := a.StrictTimeout.Duration; d < 100*time.Millisecond || d > 5*time.Minute {
		bad(p+".strict_timeout", "want 100ms to 5m, got %s", d)
	}
	validateFlushTimeout(p+".flush_timeout", a.FlushTimeout, bad)
}

func (s *AuditService) validate(p string, bad func(path, format string, args ...any)) {
	if s.URL == "" {
		bad(p+".url", "required when audit.sink is service")
	} else {
		validateJWKSURL(p+".url", s.URL, bad) // the same rule: https, or http on loopback
	}
	if s.Resource == "" || s.Resource[0] != '/' {
		bad(p+".resource", "want a path starting with /, got %q", s.Resource)
	}
	if s.TokenEnv != "" && s.TokenFile != "" {
		bad(p, "set at most one of token_env and token_file")
	}
	if s.MinDelay.Duration < time.Second || s.MinDelay.Duration%time.Second != 0 {
		bad(p+".min_delay", "want whole seconds, at least 1s, got %s", s.MinDelay.Duration)
	}
	if s.MaxDelay.Duration < s.MinDelay.Duration || s.MaxDelay.Duration%time.Second != 0 {
		bad(p+".max_delay", "want whole seconds, at least min_delay, got %s", s.MaxDelay.Duration)
	}
	if s.Timeout.Duration < time.Second || s.Timeout.Duration%time.Second != 0 {
		bad(p+".timeout", "want whole seconds, at least 1s, got %s", s.Timeout.Duration)
	}
}

func (m *Metrics) setDefaults() {
	if m.Listen == "" {
		m.Listen = "main"
	}
}

func (m *Metrics) validate(p, mainListen string, bad func(path, format string, args ...any)) {
	if m.Listen == "main" {
		if m.Pprof {
			bad(p+".pprof", `needs metrics.listen on an admin address: profiles are never served on the API listener ("main")`)
		}
		return
	}
	ap, err := netip.ParseAddrPort(m.Listen)
	switch {
	case err != nil:
		bad(p+".listen", `want "main" or host:port with an IP address, got %q`, m.Listen)
	case m.Listen == mainListen && ap.Port() != 0:
		bad(p+".listen", "is the API's own address; use \"main\" to serve /metrics there")
	}
}

// MetricsOnMain reports whether /metrics is served on the API listener.
func (c *Config) MetricsOnMain() bool { return c.Metrics.Listen == "main" }

// String describes where records go, for the start-up log line.
func (a Audit) String() string {
	switch a.Sink {
	case "file":
		return fmt.Sprintf("%s file %s", a.Mode, a.Path)
	case "service":
		return fmt.Sprintf("%s service %s", a.Mode, a.Service.URL)
	}
	return a.Mode + " " + a.Sink
}
