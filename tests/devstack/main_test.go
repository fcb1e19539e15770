package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRunRefusesBeforeStarting(t *testing.T) {
	tests := []struct {
		name      string
		givenArgs []string
		givenBin  string // $SIGNGATE_TEST_BIN; empty: the repository's
		wantErr   []string
		wantUsage bool // exit status 2 rather than 1
	}{
		{
			name:      "a port out of range",
			givenArgs: []string{"--gcs-port", "70000"},
			wantErr:   []string{"--gcs-port: want a port from 1 to 65535, got 70000"},
			wantUsage: true,
		},
		{
			name:      "a stray argument",
			givenArgs: []string{"start"},
			wantErr:   []string{`unexpected arguments ["start"]`},
			wantUsage: true,
		},
		{
			name:     "missing emulators, with the steps that install them",
			givenBin: "empty",
			wantErr: []string{
				"versitygw not installed", "fake-gcs-server not installed",
				"(cd tests/tools && go build -o ../.bin/ github.com/versity/versitygw/cmd/versitygw github.com/fsouza/fake-gcs-server)",
				"(cd tests && npm ci", "go run ./tests/devstack --install",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.givenBin != "" {
				t.Setenv("SIGNGATE_TEST_BIN", t.TempDir())
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // were anything started, it would stop at once
			err := run(ctx, tc.givenArgs, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run: no error")
			}
			if usage := errors.As(err, new(usageError)); usage != tc.wantUsage {
				t.Errorf("error %q: a usage error %v, want %v", err, usage, tc.wantUsage)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nwant it to contain %q", err, want)
				}
			}
		})
	}
}
