package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// probeDefaultURL is the readiness route of a signgate on its default
// listen address.
const probeDefaultURL = "http://127.0.0.1:8080/readyz"

const probeUsage = `usage: signgate probe [URL] [--timeout D] [--ca-file FILE] [--insecure-skip-verify]

Ask URL (default ` + probeDefaultURL + `) once and exit 0 if it answers
200, 1 if it answers anything else or not at all, 2 if the command line is
wrong. For container health checks without curl or a shell.
`

// Exit statuses of signgate probe.
const (
	probeHealthy   = 0
	probeUnhealthy = 1
	probeBadUsage  = 2
)

// probeMain runs signgate probe and returns its exit status. It never
// follows a redirect and never uses a proxy from the environment: the
// answer must come from the process asked.
func probeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long, the whole exchange included")
	caFile := fs.String("ca-file", "", "https: PEM certificates to trust instead of the system roots")
	insecure := fs.Bool("insecure-skip-verify", false, "https: accept any server certificate (not recommended)")

	pos, err := probeParse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, probeUsage, "\nflags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return probeHealthy
	}
	badUsage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "signgate probe: "+format+"\nRun 'signgate probe --help' for usage.\n", a...)
		return probeBadUsage
	}
	if err != nil {
		return badUsage("%v", err)
	}
	if len(pos) > 1 {
		return badUsage("unexpected argument %q", pos[1])
	}
	target := probeDefaultURL
	if len(pos) == 1 {
		target = pos[0]
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badUsage("want an http:// or https:// URL, got %q", target)
	}
	if *timeout <= 0 {
		return badUsage("--timeout must be positive")
	}
	if u.Scheme != "https" && (*caFile != "" || *insecure) {
		return badUsage("--ca-file and --insecure-skip-verify are for https:// URLs")
	}

	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: *insecure} //nolint:gosec // only on request
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return badUsage("--ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return badUsage("--ca-file %s: no PEM certificate in it", *caFile)
		}
		tlsConf.RootCAs = pool
	}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsConf, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return badUsage("%v", err)
	}
	req.Header.Set("User-Agent", "signgate-probe")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "signgate probe: %s: %v\n", u.Redacted(), probeCause(err))
		return probeUnhealthy
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "signgate probe: %s: %s\n", u.Redacted(), resp.Status)
		return probeUnhealthy
	}
	return probeHealthy
}

// probeParse parses fs's flags wherever they stand and returns the
// positional arguments.
func probeParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		if fs.Arg(0) == "--" {
			return append(pos, fs.Args()[1:]...), nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// probeCause drops url.Error's repetition of the method and URL.
func probeCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
