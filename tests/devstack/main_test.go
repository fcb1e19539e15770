package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/signgate/signgate/tests/storage"
)

func TestRunRefusesBeforeStarting(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)

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
			name:      "a taken port",
			givenArgs: []string{"--azure-port", busyPort},
			wantErr:   []string{"--azure-port: 127.0.0.1:" + busyPort + " is taken"},
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
			// Free ports unless the case gives one: the defaults may be in use.
			args := append([]string{"--s3-port", freePort(t), "--gcs-port", freePort(t), "--azure-port", freePort(t)}, tc.givenArgs...)
			ctx, cancel := context.WithCancel(t.Context())
			cancel() // were anything started, it would stop at once
			err := run(ctx, args, io.Discard, io.Discard)
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

func freePort(t *testing.T) string {
	t.Helper()
	port, err := storage.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(port)
}
