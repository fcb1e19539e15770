package config

import (
	"strings"
	"testing"
	"time"
)

const limitsBase = `
auth:
  api_keys:
    - sha256: "` + "0000000000000000000000000000000000000000000000000000000000000000" + `"
      subject: alice
connectors:
  s3:
    provider: s3
    bucket: b
    region: us-east-1
`

func TestTransportDefaults(t *testing.T) {
	c, err := Parse([]byte(limitsBase))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	for name, got := range map[string]time.Duration{
		"read_header_timeout": s.ReadHeaderTimeout.Duration - 5*time.Second,
		"body_timeout":        s.BodyTimeout.Duration - 10*time.Second,
		"write_timeout":       s.WriteTimeout.Duration - 30*time.Second,
		"idle_timeout":        s.IdleTimeout.Duration - 60*time.Second,
		"flush_timeout":       c.Audit.FlushTimeout.Duration - 10*time.Second,
	} {
		if got != 0 {
			t.Errorf("%s: off its default by %s", name, got)
		}
	}
	if s.MaxHeaderBytes != 16<<10 || s.MaxConnections != 4096 || s.MaxConnectionsPerIP != 256 {
		t.Errorf("caps: got %d, %d, %d", s.MaxHeaderBytes, s.MaxConnections, s.MaxConnectionsPerIP)
	}
	r := s.RateLimit
	if r.Store != "memory" || r.Rate != 1000 || r.Burst != 20000 || r.HMACCost != 1 || r.RSACost != 10 || r.MaxConcurrent != 64 || r.OnStoreError != "fail_closed" {
		t.Errorf("rate_limit defaults: %+v", r)
	}
}

func TestNoPerIPCapBehindTrustedProxies(t *testing.T) {
	c, err := Parse([]byte(limitsBase + "server:\n  trusted_proxies: [10.0.0.0/8]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MaxConnectionsPerIP != -1 {
		t.Errorf("max_connections_per_ip behind a proxy: %d, want -1 (off)", c.Server.MaxConnectionsPerIP)
	}
}

func TestTransportValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		given string
		want  string
	}{
		{"sets the timeouts under server", "server:\n  read_header_timeout: 2s\n  body_timeout: 3s\n", ""},
		{"refuses a header timeout of zero length", "server:\n  read_header_timeout: 1ms\n", "server.read_header_timeout: want 100ms"},
		{"refuses a per-IP cap above the total", "server:\n  max_connections: 10\n  max_connections_per_ip: 11\n", "server.max_connections_per_ip"},
		{"refuses tiny header limits", "server:\n  max_header_bytes: 10\n", "server.max_header_bytes"},
		{"refuses an unknown store", "server:\n  rate_limit:\n    store: etcd\n", "server.rate_limit.store"},
		{"needs a redis address", "server:\n  rate_limit:\n    store: redis\n", "server.rate_limit.redis.addr"},
		{"refuses a burst below the rate", "server:\n  rate_limit:\n    rate: 10\n    burst: 5\n", "server.rate_limit.burst"},
		{"refuses an unknown failure mode", "server:\n  rate_limit:\n    on_store_error: maybe\n", "server.rate_limit.on_store_error"},
		{"refuses a flush of no time", "audit:\n  flush_timeout: 1ms\n", "audit.flush_timeout"},
		{"suggests the field meant", "server:\n  idle_timeot: 1s\n", `did you mean idle_timeout`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(limitsBase + tc.given))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want no error, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}
