// Command signgate serves policy-decided pre-signed URLs for S3, GCS and
// Azure Blob Storage.
//
//	signgate serve --dev            embedded policy, dev connectors, dev API key
//	signgate serve --config FILE    production mode
//	signgate hash-key               print the SHA-256 of an API key read from stdin
//	signgate netpolicy --team T     print the bucket-side network control of a team
//	signgate bundle build|verify    build, sign and verify policy bundles
//	signgate probe [URL]            health check: exit 0 when URL answers 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "signgate:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage:
  signgate serve --dev             run on 127.0.0.1:8080 with the embedded policy and local emulator connectors
  signgate serve --config FILE     run with a configuration file
  signgate hash-key < key.txt      print the SHA-256 to put in auth.api_keys[].sha256
  signgate netpolicy --team T (--dev | --config FILE)
                                   print the bucket-side network control for team T
  signgate bundle build DIR -o bundle.tar.gz [--revision R] [--signing-key KEY]
                                   build (and sign) a policy bundle that signgate accepts
  signgate bundle verify bundle.tar.gz --verification-key KEY
                                   verify a bundle's signature and that signgate accepts it
  signgate probe [URL]             exit 0 if URL (default http://127.0.0.1:8080/readyz) answers 200, else 1
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], stdout, stderr)
	case "netpolicy":
		return netpolicyCmd(args[1:], stdout, stderr)
	case "hash-key":
		return hashKeyCmd(stdin, stdout)
	case "bundle":
		return bundleCmd(ctx, args[1:], stdout, stderr)
	case "probe":
		os.Exit(probeMain(ctx, args[1:], stdout, stderr)) // probe.go: 0 ready, 1 not, 2 usage
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
