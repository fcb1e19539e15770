package main

import (
	"net/http"
	"net/http/pprof"
)

// handlePprof adds Go's profiling endpoints under /debug/pprof/ to the
// admin listener's mux (metrics.pprof). They are registered explicitly on
// this mux, never on http.DefaultServeMux, so that no other listener can
// serve them.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // heap, goroutine, allocs, block, mutex, threadcreate
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
