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

// probeCmd runs signgate probe: nil when the URL answered 200. It never
// follows a redirect and never uses a proxy from the environment: the
// answer must come from the process asked.
func probeCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long, the whole exchange included")
	caFile := fs.String("ca-file", "", "https: PEM certificates to trust instead of the system roots")
	insecure := fs.Bool("insecure-skip-verify", false, "https: accept any server certificate (not recommended)")
	pos, err := parseArgs(fs, args, stdout, probeUsage, 1)
	if err != nil {
		return err
	}
	target := probeDefaultURL
	if len(pos) == 1 {
		target = pos[0]
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("probe", "probe: want an http:// or https:// URL, got %q", target)
	}
	if *timeout <= 0 {
		return usagef("probe", "probe: --timeout must be positive")
	}
	if u.Scheme != "https" && (*caFile != "" || *insecure) {
		return usagef("probe", "probe: --ca-file and --insecure-skip-verify are for https:// URLs")
	}

	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: *insecure} //nolint:gosec // only on request
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return usagef("probe", "probe: --ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usagef("probe", "probe: --ca-file %s: no PEM certificate in it", *caFile)
		}
		tlsConf.RootCAs = pool
	}
	client := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}, // no Proxy
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return usagef("probe", "probe: %v", err)
	}
	req.Header.Set("User-Agent", "signgate-probe")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %s: %w", u.Redacted(), probeCause(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s: %s", u.Redacted(), resp.Status)
	}
	return nil
}

// probeCause drops url.Error's repetition of the method and URL.
func probeCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
