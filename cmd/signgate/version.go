package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	opaversion "github.com/open-policy-agent/opa/v1/version"
	"github.com/prometheus/client_golang/prometheus"
)

// version is signgate's release version. A release build stamps it:
//
//	go build -ldflags "-X main.version=v1.4.0" ./cmd/signgate
//
// Unstamped, it is the module version that the Go toolchain recorded, or
// "dev" for a build from a working tree.
var version = ""

// build describes this binary.
type build struct {
	Version   string // signgate's version
	Revision  string // VCS commit, "+dirty" when built from a modified tree
	Time      string // VCS commit time (RFC 3339)
	GoVersion string
	OPA       string // the OPA library compiled in
}

func readBuild() build {
	b := build{Version: version, GoVersion: runtime.Version(), OPA: opaversion.Version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "dev"
		}
		return b
	}
	if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Revision != "" {
		b.Revision += "+dirty"
	}
	return b
}

// logAttrs are the build's fields for the first log line.
func (b build) logAttrs() []any {
	return []any{"version", b.Version, "revision", orUnknown(b.Revision), "vcs_time", orUnknown(b.Time), "go", b.GoVersion, "opa", b.OPA}
}

func (b build) String() string {
	return fmt.Sprintf("signgate %s\nrevision: %s\ncommit time: %s\ngo: %s\nopa: %s\n",
		b.Version, orUnknown(b.Revision), orUnknown(b.Time), b.GoVersion, b.OPA)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// registerBuildInfo adds signgate_build_info, a constant 1 whose labels
// say which build is running, for joining with other series.
func registerBuildInfo(reg prometheus.Registerer, b build) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "signgate_build_info",
		Help:        "A constant 1, labelled with the version, VCS revision and Go version of the running signgate.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": orUnknown(b.Revision), "goversion": b.GoVersion},
	})
	g.Set(1)
	reg.MustRegister(g)
}

const versionUsage = `usage: signgate version

Print signgate's version, VCS revision and commit time, and the Go and OPA
versions it was built with. signgate --version does the same.
`

func versionCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if _, err := parseArgs(fs, args, stdout, versionUsage, 0); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, readBuild().String())
	return err
}
