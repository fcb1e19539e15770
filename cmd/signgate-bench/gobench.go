package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// rsaSignTime is the median time of one RSA-2048 PKCS#1 v1.5 signature of
// a SHA-256 digest in this process: what a GCS V4 URL costs at least, on
// this machine and under its current load.
func rsaSignTime() time.Duration {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	sum := sha256.Sum256([]byte("GOOG4-RSA-SHA256\n20261127T100000Z\n20261127/auto/storage/goog4_request\n"))
	const n = 200
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			panic(err)
		}
		ds = append(ds, time.Since(t0))
	}
	return medianDuration(ds)
}

// goBenchResult is one of the go test -bench ratios of the targets.
type goBenchResult struct {
	name   string // the benchmark
	pkg    string
	ratio  float64
	detail string // the benchmark's other metrics, as printed
	err    string
}

// goBenches are the two ratios measured in process, each benchmark
// timing both sides in one loop (their "ratio" metric).
var goBenches = []struct{ name, pkg string }{
	{"BenchmarkDecidePolicyRatio", "./authz/"},
	{"BenchmarkRecordDecisionRatio", "./server/audit/"},
}

// runGoBench runs the benchmarks once each, after both servers stopped, so
// that they do not compete with them for the machine.
func runGoBench(ctx context.Context, root string, w io.Writer) []goBenchResult {
	var out []goBenchResult
	for _, gb := range goBenches {
		r := goBenchResult{name: gb.name, pkg: gb.pkg}
		cmd := exec.CommandContext(ctx, "go", "test", "-buildvcs=false", "-run", "^$", "-bench", "^"+gb.name+"$",
			"-benchtime", "2000x", "-count", "1", gb.pkg)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		if err != nil {
			r.err = fmt.Sprintf("%v: %s", err, snippet(b))
			out = append(out, r)
			fmt.Fprintf(w, "go bench  %s: %s\n", gb.name, r.err)
			continue
		}
		r.ratio, r.detail, r.err = parseBenchLine(string(b), gb.name)
		fmt.Fprintf(w, "go bench  %s %s\n", gb.name, r.detail)
		out = append(out, r)
	}
	return out
}

// parseBenchLine finds name's result line in go test output and returns
// its "ratio" metric and the metrics as printed.
func parseBenchLine(out, name string) (float64, string, string) {
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], name) {
			continue
		}
		for i := 3; i < len(f); i++ {
			if f[i] == "ratio" {
				v, err := strconv.ParseFloat(f[i-1], 64)
				if err != nil {
					return 0, "", "unreadable ratio " + f[i-1]
				}
				return v, strings.Join(f[2:], " "), ""
			}
		}
		return 0, "", "no ratio metric in " + line
	}
	return 0, "", "no result line for " + name
}
