// Command devstack runs the storage emulators that `signgate serve --dev`
// signs for, on the dev ports, with the dev buckets and container, until it
// is interrupted:
//
//	go run ./tests/devstack
//
// versitygw (S3) on :7070, fake-gcs-server (GCS) on :4443 and Azurite
// (Azure Blob) on :10000: the pinned builds that .ci/run installs into
// tests/.bin and tests/node_modules (--install does the same). Everything
// is kept in memory or in a temporary directory, and is gone when it stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/signgate/signgate/internal/devenv"
	"github.com/signgate/signgate/tests/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "devstack: %v (see --help)\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "devstack: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// installSteps are .ci/run's steps that install the pinned emulators.
var installSteps = []struct {
	dir  string // relative to the repository
	argv []string
}{
	{"tests/tools", []string{"go", "build", "-o", "../.bin/", "github.com/versity/versitygw/cmd/versitygw", "github.com/fsouza/fake-gcs-server"}},
	{"tests", []string{"npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"}},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by main
	s3Port := fs.Int("s3-port", devenv.S3Port, "port of versitygw (S3) on 127.0.0.1")
	gcsPort := fs.Int("gcs-port", devenv.GCSPort, "port of fake-gcs-server (GCS) on 127.0.0.1")
	azurePort := fs.Int("azure-port", devenv.AzurePort, "port of Azurite's blob service on 127.0.0.1")
	chdir := fs.String("C", "", "change to `dir`, a signgate checkout, first (as go -C and git -C do)")
	install := fs.Bool("install", false, "first install the pinned emulators as .ci/run does (go build in tests/tools, npm ci in tests)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: go run ./tests/devstack [flags]\n\nRuns the storage emulators of `signgate serve --dev`, with the dev buckets, until interrupted.\n\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return err
	} else if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	ports := []struct {
		flag string
		port int
	}{{"--s3-port", *s3Port}, {"--gcs-port", *gcsPort}, {"--azure-port", *azurePort}}
	for _, p := range ports {
		if p.port < 1 || p.port > 65535 {
			return usageError{fmt.Errorf("%s: want a port from 1 to 65535, got %d", p.flag, p.port)}
		}
	}
	// A taken port is refused before any emulator starts: most often an
	// earlier dev stack still runs.
	for _, p := range ports {
		l, err := net.Listen("tcp", devenv.HostPort(p.port))
		if err != nil {
			return fmt.Errorf("%s: %s is taken (does a dev stack run already?): %w", p.flag, devenv.HostPort(p.port), err)
		}
		l.Close()
	}
	if *chdir != "" {
		if err := os.Chdir(*chdir); err != nil {
			return err
		}
	}
	root, err := storage.RepoRoot()
	if err != nil {
		return err
	}
	if *install {
		if err := installEmulators(ctx, root, stdout, stderr); err != nil {
			return err
		}
	}

	if err := storage.Installed(); err != nil {
		return fmt.Errorf("%w\n\n%s", err, installHelp())
	}

	dir, err := os.MkdirTemp("", "signgate-devstack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	st, err := start(ctx, dir, *s3Port, *gcsPort, *azurePort)
	if err != nil {
		return err
	}
	defer st.stop()
	if err := st.createBuckets(ctx); err != nil {
		return err
	}
	printStarted(stdout, st, dir)

	exited := make(chan string, 3)
	for _, e := range []struct {
		name string
		p    *storage.Process
	}{{"versitygw", st.s3.Process}, {"fake-gcs-server", st.gcs.Process}, {"azurite-blob", st.azure.Process}} {
		go func() {
			err := e.p.Wait()
			exited <- fmt.Sprintf("%s exited (%v); its output:\n%s", e.name, err, e.p.Output())
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "devstack: stopping")
		return nil
	case why := <-exited:
		return errors.New(why)
	}
}

// stack is the three running emulators.
type stack struct {
	s3    *storage.S3
	gcs   *storage.GCS
	azure *storage.Azure
}

// start starts the three emulators side by side; on any error it stops
// those that started.
func start(ctx context.Context, dir string, s3Port, gcsPort, azurePort int) (*stack, error) {
	var (
		st                   stack
		s3Err, gcsErr, azErr error
		wg                   sync.WaitGroup
	)
	wg.Go(func() {
		st.s3, s3Err = storage.StartS3At(ctx, dir, s3Port, devenv.S3AccessKey, devenv.S3SecretKey)
	})
	wg.Go(func() { st.gcs, gcsErr = storage.StartFakeGCS(ctx, gcsPort) })
	wg.Go(func() { st.azure, azErr = storage.StartAzureAt(ctx, dir, azurePort) })
	wg.Wait()
	if err := errors.Join(s3Err, gcsErr, azErr); err != nil {
		st.stop()
		return nil, err
	}
	if st.azure.AccountKey != devenv.AzureKey || st.azure.Endpoint != "http://"+devenv.HostPort(azurePort)+"/"+devenv.AzureAccount {
		st.stop()
		return nil, fmt.Errorf("azurite: account at %s is not the dev account %s", st.azure.Endpoint, devenv.AzureAccount)
	}
	return &st, nil
}

func (st *stack) stop() {
	var wg sync.WaitGroup
	if st.s3 != nil {
		wg.Go(st.s3.Stop)
	}
	if st.gcs != nil {
		wg.Go(st.gcs.Stop)
	}
	if st.azure != nil {
		wg.Go(st.azure.Stop)
	}
	wg.Wait()
}

// createBuckets creates the dev connectors' buckets and container with
// each emulator's own API.
func (st *stack) createBuckets(ctx context.Context) error {
	for _, b := range devenv.S3Buckets() {
		if err := st.s3.CreateBucket(ctx, b); err != nil {
			return err
		}
	}
	if err := st.gcs.CreateBucket(ctx, devenv.NLPBucket); err != nil {
		return err
	}
	return st.azure.CreateContainer(ctx, devenv.WebContainer)
}

func printStarted(w io.Writer, st *stack, dir string) {
	ep := devenv.Endpoints{S3: st.s3.Endpoint, GCS: st.gcs.Endpoint, Azure: st.azure.Endpoint}
	fmt.Fprintf(w, `signgate dev stack (Ctrl-C stops it; its data is gone then):

  S3     versitygw        %-40s buckets %s
                          access key %s, secret %s, region %s
  GCS    fake-gcs-server  %-40s bucket %s (signatures are not checked)
  Azure  Azurite          %-40s container %s, account %s
         logs in %s

Run signgate against it:

  go run ./cmd/signgate serve --dev%s

`, ep.S3, strings.Join(devenv.S3Buckets(), ", "),
		devenv.S3AccessKey, devenv.S3SecretKey, devenv.S3Region,
		ep.GCS, devenv.NLPBucket,
		ep.Azure, devenv.WebContainer, devenv.AzureAccount,
		dir, serveFlags(ep))
	fmt.Fprintln(w, "devstack: ready")
}

// serveFlags are the `serve --dev` flags for endpoints that are not the
// defaults.
func serveFlags(ep devenv.Endpoints) string {
	def := devenv.DefaultEndpoints()
	var b strings.Builder
	for _, f := range []struct{ name, got, def string }{
		{"--dev-s3-endpoint", ep.S3, def.S3}, {"--dev-gcs-endpoint", ep.GCS, def.GCS}, {"--dev-azure-endpoint", ep.Azure, def.Azure},
	} {
		if f.got != f.def {
			fmt.Fprintf(&b, " %s %s", f.name, f.got)
		}
	}
	return b.String()
}

func installHelp() string {
	var b strings.Builder
	b.WriteString("Install the pinned emulators as .ci/run does, from the repository root:\n\n")
	for _, s := range installSteps {
		fmt.Fprintf(&b, "  (cd %s && %s)\n", s.dir, strings.Join(s.argv, " "))
	}
	b.WriteString("\nor run: go run ./tests/devstack --install")
	return b.String()
}

func installEmulators(ctx context.Context, root string, stdout, stderr io.Writer) error {
	for _, s := range installSteps {
		fmt.Fprintf(stdout, "devstack: (cd %s && %s)\n", s.dir, strings.Join(s.argv, " "))
		cmd := exec.CommandContext(ctx, s.argv[0], s.argv[1:]...)
		cmd.Dir = filepath.Join(root, s.dir)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("install: %s: %w", strings.Join(s.argv, " "), err)
		}
	}
	return nil
}
