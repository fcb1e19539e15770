package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Transport bounds what one client can hold of the API listener: how long
// it may take to send a request, how long an idle keep-alive lives, how
// large its headers may be and how many connections it may keep open. Its
// fields sit directly under server: (docs/operations.md).
type Transport struct {
	// ReadHeaderTimeout bounds the reading of a request's headers.
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	// BodyTimeout bounds the reading of a request's body, from the end of
	// its headers; a client that trickles its body is cut off.
	BodyTimeout Duration `json:"body_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its response.
	WriteTimeout Duration `json:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no request.
	IdleTimeout Duration `json:"idle_timeout"`
	// MaxHeaderBytes caps the size of a request's headers.
	MaxHeaderBytes int `json:"max_header_bytes"`
	// MaxConnections caps the open API connections; MaxConnectionsPerIP
	// caps those of one socket peer (a proxy counts as one peer). A
	// connection over either cap is closed as soon as it is accepted.
	// -1 turns the per-IP cap off; it is the default behind trusted
	// proxies, whose connections carry every client's requests.
	MaxConnections      int `json:"max_connections"`
	MaxConnectionsPerIP int `json:"max_connections_per_ip"`
	// RateLimit limits each principal's requests, weighted by cost.
	RateLimit RateLimit `json:"rate_limit"`
}

// RateLimit limits requests per principal: a cost budget that refills at
// Rate units a second up to Burst (GCRA), and a cap on the requests one
// principal has in flight. Over either, the answer is 429.
type RateLimit struct {
	// Store is memory (default: each replica limits on its own), redis
	// (replicas share one budget) or none (no per-principal limit).
	Store string `json:"store"`
	// Rate is the cost units refilled each second; Burst the most a
	// principal may spend at once. Default 1000 and 20000.
	Rate  int `json:"rate"`
	Burst int `json:"burst"`
	// HMACCost is the cost of one item signed with a shared key (S3,
	// Azure) or decided without signing; RSACost of one GCS item signed
	// with RSA. Default 1 and 10. An upload costs one item per part.
	HMACCost int `json:"hmac_cost"`
	RSACost  int `json:"rsa_cost"`
	// MaxConcurrent caps the requests one principal has in flight
	// (default 64, -1: no cap). Counted per replica.
	MaxConcurrent int `json:"max_concurrent"`
	// MaxPrincipals bounds the principals the memory store remembers
	// (least recently used first out). Default 100000.
	MaxPrincipals int `json:"max_principals"`
	// OnStoreError is fail_closed (default: 503 rate_limit_unavailable
	// while Redis cannot be asked) or fail_open (serve unlimited).
	OnStoreError string     `json:"on_store_error"`
	Redis        RedisStore `json:"redis"`
}

// RedisStore is the Redis server that replicas share limits through.
type RedisStore struct {
	Addr        string   `json:"addr"`         // host:port
	PasswordEnv string   `json:"password_env"` // the password, from the environment
	DB          int      `json:"db"`
	KeyPrefix   string   `json:"key_prefix"` // default "signgate:"
	Timeout     Duration `json:"timeout"`    // per command; default 100ms
	TLS         bool     `json:"tls"`
}

// Transport and rate-limit defaults.
const (
	defaultReadHeaderTimeout = 5 * time.Second
	defaultBodyTimeout       = 10 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxHeaderBytes    = 16 << 10
	defaultMaxConnections    = 4096
	defaultMaxConnsPerIP     = 256
	defaultRate              = 1000
	defaultBurst             = 20000
	defaultRSACost           = 10
	defaultMaxConcurrent     = 64
	defaultMaxPrincipals     = 100_000
	defaultRedisTimeout      = 100 * time.Millisecond
	defaultFlushTimeout      = 10 * time.Second
)

func (t *Transport) setDefaults(behindProxy bool) {
	setDuration(&t.ReadHeaderTimeout, defaultReadHeaderTimeout)
	setDuration(&t.BodyTimeout, defaultBodyTimeout)
	setDuration(&t.WriteTimeout, defaultWriteTimeout)
	setDuration(&t.IdleTimeout, defaultIdleTimeout)
	setInt(&t.MaxHeaderBytes, defaultMaxHeaderBytes)
	setInt(&t.MaxConnections, defaultMaxConnections)
	if behindProxy {
		setInt(&t.MaxConnectionsPerIP, -1)
	}
	setInt(&t.MaxConnectionsPerIP, defaultMaxConnsPerIP)
	r := &t.RateLimit
	if r.Store == "" {
		r.Store = "memory"
	}
	setInt(&r.Rate, defaultRate)
	setInt(&r.Burst, defaultBurst)
	setInt(&r.HMACCost, 1)
	setInt(&r.RSACost, defaultRSACost)
	setInt(&r.MaxConcurrent, defaultMaxConcurrent)
	setInt(&r.MaxPrincipals, defaultMaxPrincipals)
	if r.OnStoreError == "" {
		r.OnStoreError = "fail_closed"
	}
	if r.Redis.KeyPrefix == "" {
		r.Redis.KeyPrefix = "signgate:"
	}
	setDuration(&r.Redis.Timeout, defaultRedisTimeout)
}

func (t *Transport) validate(p string, bad func(path, format string, args ...any)) {
	within := func(f string, d Duration, lo, hi time.Duration) {
		if d.Duration < lo || d.Duration > hi {
			bad(p+"."+f, "want %s to %s, got %s", lo, hi, d.Duration)
		}
	}
	within("read_header_timeout", t.ReadHeaderTimeout, 100*time.Millisecond, 5*time.Minute)
	within("body_timeout", t.BodyTimeout, 100*time.Millisecond, 30*time.Minute)
	within("write_timeout", t.WriteTimeout, time.Second, 30*time.Minute)
	within("idle_timeout", t.IdleTimeout, time.Second, time.Hour)
	if t.MaxHeaderBytes < 1<<10 || t.MaxHeaderBytes > 1<<20 {
		bad(p+".max_header_bytes", "want 1024 to %d, got %d", 1<<20, t.MaxHeaderBytes)
	}
	if t.MaxConnections < 1 {
		bad(p+".max_connections", "want at least 1, got %d", t.MaxConnections)
	}
	if n := t.MaxConnectionsPerIP; n < -1 || n == 0 || n > t.MaxConnections {
		bad(p+".max_connections_per_ip", "want -1 (off) or 1 to max_connections (%d), got %d", t.MaxConnections, n)
	}
	t.RateLimit.validate(p+".rate_limit", bad)
}

func (r *RateLimit) validate(p string, bad func(path, format string, args ...any)) {
	switch r.Store {
	case "memory", "none":
	case "redis":
		if _, _, err := net.SplitHostPort(r.Redis.Addr); err != nil {
			bad(p+".redis.addr", "want host:port, got %q", r.Redis.Addr)
		}
		if d := r.Redis.Timeout.Duration; d < time.Millisecond || d > 10*time.Second {
			bad(p+".redis.timeout", "want 1ms to 10s, got %s", d)
		}
		if strings.ContainsAny(r.Redis.KeyPrefix, " \n") {
			bad(p+".redis.key_prefix", "must not hold spaces or newlines")
		}
	default:
		bad(p+".store", "want memory, redis or none, got %q", r.Store)
	}
	if r.Rate < 1 {
		bad(p+".rate", "want at least 1, got %d", r.Rate)
	}
	if r.HMACCost < 1 {
		bad(p+".hmac_cost", "want at least 1, got %d", r.HMACCost)
	}
	if r.RSACost < 1 {
		bad(p+".rsa_cost", "want at least 1, got %d", r.RSACost)
	}
	if r.Burst < r.Rate {
		bad(p+".burst", "want at least rate (%d), got %d", r.Rate, r.Burst)
	}
	if n := r.MaxConcurrent; n < -1 || n == 0 {
		bad(p+".max_concurrent", "want -1 (off) or at least 1, got %d", n)
	}
	if r.MaxPrincipals < 1 {
		bad(p+".max_principals", "want at least 1, got %d", r.MaxPrincipals)
	}
	if r.OnStoreError != "fail_open" && r.OnStoreError != "fail_closed" {
		bad(p+".on_store_error", "want fail_open or fail_closed, got %q", r.OnStoreError)
	}
}

func validateFlushTimeout(p string, d Duration, bad func(path, format string, args ...any)) {
	if d.Duration < 100*time.Millisecond || d.Duration > 10*time.Minute {
		bad(p, "want 100ms to 10m, got %s", d.Duration)
	}
}

func setDuration(d *Duration, def time.Duration) {
	if d.Duration == 0 {
		d.Duration = def
	}
}

func setInt(n *int, def int) {
	if *n == 0 {
		*n = def
	}
}

// String is the rate limit for the start-up log line.
func (r RateLimit) String() string {
	if r.Store == "none" {
		return "none"
	}
	return fmt.Sprintf("%s %d/s burst %d", r.Store, r.Rate, r.Burst)
}
