package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/signgate/signgate/server/config"
)

// auditBase is the smallest valid configuration; the tests append sections.
const auditBase = `
auth:
  api_keys:
    - sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
      subject: alice
connectors:
  vision-s3: {provider: s3, bucket: acme-vision, region: us-east-1}
`

func TestAuditAndMetricsDefaults(t *testing.T) {
	c, err := config.Parse([]byte(auditBase))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Audit
	checks := []struct {
		name      string
		got, want any
	}{
		{"audit.mode", a.Mode, "best_effort"},
		{"audit.sink", a.Sink, "console"},
		{"audit.buffer_size", a.BufferSize, 10000},
		{"audit.strict_timeout", a.StrictTimeout.Duration, 5 * time.Second},
		{"audit.rotation.max_size_mb", a.Rotation.MaxSizeMB, 100},
		{"audit.rotation.max_backups", a.Rotation.MaxBackups, 0},
		{"audit.service.resource", a.Service.Resource, "/logs"},
		{"audit.service.min_delay", a.Service.MinDelay.Duration, time.Second},
		{"audit.service.max_delay", a.Service.MaxDelay.Duration, 10 * time.Second},
		{"audit.service.timeout", a.Service.Timeout.Duration, 4 * time.Second},
		{"metrics.listen", c.Metrics.Listen, "main"},
		{"metrics on the main listener", c.MetricsOnMain(), true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestAuditAndMetricsValidation(t *testing.T) {
	tests := []struct {
		name      string
		givenYAML string
		wantErr   string // "" for a valid configuration
	}{
		{name: "accepts a strict file sink", givenYAML: "audit: {mode: strict, sink: file, path: /var/log/signgate/audit.jsonl}"},
		{name: "accepts a strict service sink on https", givenYAML: "audit: {mode: strict, sink: service, service: {url: 'https://logs.example.com', token_env: LOGS_TOKEN}}"},
		{name: "accepts a service on loopback http", givenYAML: "audit: {sink: service, service: {url: 'http://127.0.0.1:8181'}}"},
		{name: "accepts a separate metrics listener", givenYAML: "metrics: {listen: '127.0.0.1:9090'}"},
		{name: "accepts keeping every rotated file", givenYAML: "audit: {sink: file, path: /tmp/a.jsonl, rotation: {max_backups: -1}}"},
		{name: "refuses an unknown mode", givenYAML: "audit: {mode: paranoid}", wantErr: "audit.mode: want best_effort or strict"},
		{name: "refuses an unknown sink", givenYAML: "audit: {sink: syslog}", wantErr: "audit.sink: want console, file, service or none"},
		{name: "refuses strict on the console", givenYAML: "audit: {mode: strict}", wantErr: "audit.sink: strict needs a sink that acknowledges"},
		{name: "refuses strict with no sink", givenYAML: "audit: {mode: strict, sink: none}", wantErr: "audit.sink: strict needs"},
		{name: "refuses a file sink without a path", givenYAML: "audit: {sink: file}", wantErr: "audit.path: required"},
		{name: "refuses a negative max_backups", givenYAML: "audit: {sink: file, path: /tmp/a, rotation: {max_backups: -2}}", wantErr: "audit.rotation.max_backups"},
		{name: "refuses a service without a url", givenYAML: "audit: {sink: service}", wantErr: "audit.service.url: required"},
		{name: "refuses a service on plain http off loopback", givenYAML: "audit: {sink: service, service: {url: 'http://logs.example.com'}}", wantErr: "audit.service.url: want https"},
		{name: "refuses two token sources", givenYAML: "audit: {sink: service, service: {url: 'https://l.example.com', token_env: A, token_file: /b}}", wantErr: "at most one of token_env and token_file"},
		{name: "refuses a max_delay under min_delay", givenYAML: "audit: {sink: service, service: {url: 'https://l.example.com', min_delay: 5s, max_delay: 2s}}", wantErr: "audit.service.max_delay"},
		{name: "refuses a fractional upload delay", givenYAML: "audit: {sink: service, service: {url: 'https://l.example.com', min_delay: 1500ms}}", wantErr: "audit.service.min_delay: want whole seconds"},
		{name: "refuses an oversized buffer", givenYAML: "audit: {buffer_size: 2000000}", wantErr: "audit.buffer_size"},
		{name: "refuses a tiny strict timeout", givenYAML: "audit: {strict_timeout: 1ms}", wantErr: "audit.strict_timeout"},
		{name: "accepts pprof on a separate metrics listener", givenYAML: "metrics: {listen: '127.0.0.1:9090', pprof: true}"},
		{name: "refuses pprof on the API listener", givenYAML: "metrics: {pprof: true}", wantErr: "metrics.pprof: needs metrics.listen on an admin address"},
		{name: "refuses a metrics address that is no address", givenYAML: "metrics: {listen: admin}", wantErr: `metrics.listen: want "main" or host:port`},
		{name: "refuses the API's own address as the metrics address", givenYAML: "listen: 127.0.0.1:8080\nmetrics: {listen: '127.0.0.1:8080'}", wantErr: "metrics.listen: is the API's own address"},
		{name: "refuses an unknown audit field", givenYAML: "audit: {sinks: file}", wantErr: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(auditBase + tt.givenYAML + "\n"))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
