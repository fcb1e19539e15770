// Command signgate serves policy-decided pre-signed URLs for S3, GCS and
// Azure Blob Storage.
//
//	signgate serve --dev            embedded policy, dev connectors, dev API key
//	signgate serve --config FILE    production mode
//	signgate hash-key               print the SHA-256 of an API key read from stdin
//	signgate netpolicy --team T     print the bucket-side network control of a team
//	signgate bundle build|verify    build, sign and verify policy bundles
//	signgate url TEAM:OBJECT        print one signed URL
//	signgate cp SRC DST             upload or download through signed URLs
//	signgate version                print the version of this build
//	signgate probe [URL]            health check: exit 0 when URL answers 200
//
// Exit status: 0 done, 1 failed, 2 the command line is wrong (cli.go).
//
// This package only wires the rooms together: the configuration, the
// policy source (package bundles) and its engine (authz), the signers, the
// audit pipeline and the HTTP server. The logic lives in those packages.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

const usage = `usage: signgate COMMAND [flags]

commands:
  signgate serve --dev             run on 127.0.0.1:8080 with the embedded policy and local emulator connectors
  signgate serve --config FILE     run with a configuration file
  signgate hash-key < key.txt      print the SHA-256 to put in auth.api_keys[].sha256
  signgate netpolicy --team T (--dev | --config FILE)
                                   print the bucket-side network control for team T
  signgate cors --team T (--dev | --config FILE) [--origin O]
                                   print the bucket CORS rules browsers need for team T
  signgate bundle build DIR -o bundle.tar.gz [--revision R] [--signing-key KEY]
                                   build (and sign) a policy bundle that signgate accepts
  signgate bundle verify bundle.tar.gz --verification-key KEY
                                   verify a bundle's signature and that signgate accepts it
  signgate audit query|outstanding search decision records; list issued URLs not yet expired
  signgate policy replay --candidate DIR RECORDS...  what a candidate policy would decide otherwise
  signgate url TEAM:OBJECT [--write] [--expires 15m]
                                   print one signed URL (SIGNGATE_URL, SIGNGATE_KEY)
  signgate cp FILE TEAM:OBJECT | TEAM:OBJECT FILE [--parallel N] [--part-size S] [--resume] [--dry-run]
                                   upload or download in parallel parts, with progress
  signgate version                 print the version, VCS revision, Go and OPA versions
  signgate probe [URL]             exit 0 if URL (default http://127.0.0.1:8080/readyz) answers 200, else 1

Run 'signgate COMMAND --help' for a command's flags.
Exit status: 0 done, 1 failed, 2 wrong usage.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("", "missing command")
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], stdout, stderr)
	case "netpolicy":
		return netpolicyCmd(args[1:], stdout, stderr)
	case "hash-key":
		return hashKeyCmd(args[1:], stdin, stdout)
	case "bundle":
		return bundleCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCmd(args[1:], stdin, stdout)
	case "policy":
		return policyCmd(ctx, args[1:], stdin, stdout)
	case "probe":
		return probeCmd(ctx, args[1:], stdout) // probe.go
	case "url":
		return urlCmd(ctx, args[1:], stdout, stderr)
	case "cp":
		return cpCmd(ctx, args[1:], stdout, stderr)
	case "cors":
		return corsCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		return versionCmd(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && !isHelp(args[1]) {
			// signgate help serve: the command's own help.
			return run(ctx, append(args[1:], "--help"), stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return errHelpShown
	}
	return usagef("", "unknown command %q", args[0])
}
