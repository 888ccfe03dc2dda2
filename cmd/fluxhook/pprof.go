//go:build pprof

// Built with -tags pprof, the all-in-one serves net/http/pprof on
// FLUXHOOK_PPROF_ADDR (e.g. 127.0.0.1:6060), for profiling under `make
// bench` (FLUXHOOK_BENCH_BINARY). Release builds do not contain it.
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("FLUXHOOK_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
