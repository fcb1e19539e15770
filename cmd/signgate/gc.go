package main

import (
	"os"
	"runtime/debug"

	"github.com/signgate/signgate/server/config"
)

// tuneGC applies the configured collector settings. A request allocates
// mostly short-lived policy values; collecting less often than Go's
// default (GOGC 200 here) saves CPU per request for a few MiB of heap
// (docs/performance.md has the measured trade-off), and the soft memory limit makes the collector work harder, not the
// heap grow, when the process nears it. GOGC and GOMEMLIMIT in the
// environment win, as they do for every Go program.
func tuneGC(s config.Server) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(s.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(s.MemoryLimitMiB) << 20)
	}
}

// releaseStartupMemory collects what start-up left behind (the parsed
// configuration, the policy's compilation, the connectors' set-up) and
// gives the freed pages back to the operating system, once, before the
// first request: an idle instance then holds its live heap, not four
// times it. It costs one collection of a heap of a few MiB.
func releaseStartupMemory() { debug.FreeOSMemory() }
